"""The Ansible roles as Python names them: which roles `repair` re-converges and in what
order, the service each runs, and the machine role each configures.

The roles' own files say the same (playbooks/roles/<role>/, their `*_service` variables);
tests/unit/test_role_contract.py ties the two.
"""

from __future__ import annotations

from .domain import Role

ROLE_ZOOKEEPER, ROLE_MASTER, ROLE_AGENT = "zookeeper", "mesos_master", "mesos_agent"
#: The roles `repair` re-converges, in the order it runs them.
ROLE_ORDER = (ROLE_ZOOKEEPER, ROLE_MASTER, ROLE_AGENT)
#: The service each of those roles runs (the roles' defaults; chaos stops and starts them).
SERVICES = {ROLE_ZOOKEEPER: "zookeeper", ROLE_MASTER: "mesos-master", ROLE_AGENT: "mesos-agent"}
#: The machine role each of those Ansible roles configures.
MACHINE_ROLES = {ROLE_ZOOKEEPER: Role.ZOOKEEPER, ROLE_MASTER: Role.MASTER, ROLE_AGENT: Role.AGENT}
