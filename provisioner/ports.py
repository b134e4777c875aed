"""The ports the cluster's services listen on, once for all of Python.

The roles' defaults (`zookeeper_client_port`, `mesos_master_port`, ...) say the same;
tests/unit/test_role_contract.py ties the two. Imports nothing, so even the spec modules may use it.
"""

from __future__ import annotations

ZOOKEEPER_CLIENT_PORT = 2181
ZOOKEEPER_PEER_PORT = 2888
ZOOKEEPER_ELECTION_PORT = 3888
MESOS_MASTER_PORT = 5050
MESOS_AGENT_PORT = 5051
#: Monitoring (role `monitoring`): Prometheus on the masters, node exporter on every host.
PROMETHEUS_PORT = 9090
NODE_EXPORTER_PORT = 9100

#: Every service port, in this order; the firewall opens them only to the cluster's machines.
CLUSTER_PORTS: tuple[int, ...] = (
    ZOOKEEPER_CLIENT_PORT,
    ZOOKEEPER_PEER_PORT,
    ZOOKEEPER_ELECTION_PORT,
    MESOS_MASTER_PORT,
    MESOS_AGENT_PORT,
)

#: The monitoring ports; the firewall opens them only to the masters and the operators.
MONITORING_PORTS: tuple[int, ...] = (PROMETHEUS_PORT, NODE_EXPORTER_PORT)
