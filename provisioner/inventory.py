"""Ansible inventory as a pure function of the spec and the machines (snapshot-tested).

Groups: ``zookeeper``, ``mesos_masters``, ``mesos_agents`` (children of ``all``).
Variables the roles read (documented in each role's ``defaults/main.yml``):

all hosts
    ``dcos_node_address`` / ``dcos_node_hostname``: the address and name services bind to and
    advertise (Mesos ``--ip``/``--advertise_ip``/``--hostname``, ZooKeeper server lines);
    ``common_cluster_hosts``: ``[{name, address, roles}]`` written to ``/etc/hosts`` (the
    roles select each port's allow-list in the firewall);
    ``common_firewall_enabled``, ``common_firewall_operator_cidrs``: the nftables rules;
    ``monitoring_*``: the spec's `monitoring:` section and the expected agent count.
zookeeper
    ``zookeeper_myid`` (host), ``zookeeper_servers``: ``[{id, name, address}]``,
    ``zookeeper_acl``, ``zookeeper_quorum_auth`` (SASL between members: on with the ACL,
    whose credential the quorum secret is derived from), ``zookeeper_secrets_file``.
mesos (all Mesos hosts)
    ``mesos_install_method``, ``mesos_install_version``, ``mesos_install_url``,
    ``mesos_install_local_path``, ``mesos_install_runtime_packages``,
    ``mesos_install_apt_repository``, ``mesos_install_apt_key_url``,
    ``mesos_install_yum_baseurl``, ``mesos_zk_url``, ``mesos_secrets_file`` (the path of the
    cluster's secrets.json next to the inventory, never the secrets themselves).
mesos_masters
    ``mesos_master_quorum``, ``mesos_master_cluster``, ``mesos_master_extra_flags``,
    ``mesos_master_authentication``, ``mesos_master_readonly_authentication``,
    ``mesos_master_authorization``, ``mesos_master_task_users``, ``mesos_master_zookeeper_acl``.
mesos_agents
    ``mesos_agent_resources``, ``mesos_agent_attributes``, ``mesos_agent_extra_flags``,
    ``mesos_agent_authentication``, ``mesos_agent_readonly_authentication``,
    ``mesos_agent_authorization``, ``mesos_agent_task_users``.
"""

from __future__ import annotations

from typing import Any

import yaml

from .domain import MESOS_ZNODE, Machine, Role, with_role
from .ports import ZOOKEEPER_CLIENT_PORT
from .spec import ClusterSpec
from .topology import mesos_quorum

#: Where the roles find the secrets: next to the inventory, in the cluster's state directory.
SECRETS_FILE_VAR = "{{ inventory_dir }}/secrets.json"
#: The cluster CA and the issued certificates (pki.py), read by the roles on the controller.
PKI_DIR_VAR = "{{ inventory_dir }}/pki"
INSECURE_SSH_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"


def zk_url(machines: list[Machine]) -> str:
    """`zk://a:2181,b:2181,c:2181/mesos` over the ensemble members, in myid order."""
    members = sorted(with_role(machines, Role.ZOOKEEPER), key=lambda m: m.zookeeper_id or 0)
    hosts = ",".join(f"{m.cluster_address}:{ZOOKEEPER_CLIENT_PORT}" for m in members)
    return f"zk://{hosts}{MESOS_ZNODE}"


def _flag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _host_vars(machine: Machine) -> dict[str, Any]:
    host: dict[str, Any] = {
        "ansible_host": machine.address,
        "ansible_user": machine.ssh_user,
        "ansible_port": machine.ssh_port,
        "dcos_node_address": machine.cluster_address,
        "dcos_node_hostname": machine.name,
    }
    if machine.ssh_private_key:
        host["ansible_ssh_private_key_file"] = machine.ssh_private_key
    if not machine.strict_host_keys:
        host["ansible_ssh_common_args"] = INSECURE_SSH_ARGS
        # mitogen (the default strategy) puts its own StrictHostKeyChecking first, where ssh
        # takes it over ours: it must be told per host too.
        host["ansible_host_key_checking"] = False
    if machine.zookeeper_id is not None:
        host["zookeeper_myid"] = machine.zookeeper_id
    return host


def build_inventory(spec: ClusterSpec, machines: list[Machine]) -> dict[str, Any]:
    """The YAML-inventory structure for these machines (order-stable, no I/O)."""
    by_name = sorted(machines, key=lambda m: m.name)
    zookeepers = sorted(with_role(machines, Role.ZOOKEEPER), key=lambda m: m.zookeeper_id or 0)
    masters = with_role(by_name, Role.MASTER)
    agents = with_role(by_name, Role.AGENT)
    install = spec.mesos.install
    security = spec.security
    mesos_vars: dict[str, Any] = {
        "mesos_install_method": install.method,
        "mesos_install_version": spec.mesos.version,
        "mesos_install_url": install.url or "",
        "mesos_install_local_path": str(spec.resolve_path(install.path)) if install.path else "",
        "mesos_install_runtime_packages": list(install.runtime_packages),
        "mesos_install_apt_repository": install.apt_repository,
        "mesos_install_apt_key_url": install.apt_key_url,
        "mesos_install_yum_baseurl": install.yum_baseurl,
        "mesos_zk_url": zk_url(machines),
        "mesos_secrets_file": SECRETS_FILE_VAR if security.needs_credentials else "",
        "mesos_tls_enabled": security.tls.enabled,
        "mesos_tls_support_downgrade": security.tls.support_downgrade,
        "mesos_pki_dir": PKI_DIR_VAR if security.tls.enabled else "",
    }
    return {
        "all": {
            "vars": {
                "ansible_python_interpreter": "/usr/bin/python3",
                "dcos_cluster_name": spec.name,
                "common_cluster_hosts": [
                    {
                        "name": m.name,
                        "address": m.cluster_address,
                        "roles": [str(r) for r in m.roles],
                    }
                    for m in by_name
                ],
                "common_firewall_enabled": security.firewall.enabled,
                "common_firewall_operator_cidrs": list(security.firewall.operator_cidrs),
                **monitoring_vars(spec),
            },
            "hosts": {m.name: _host_vars(m) for m in by_name},
            "children": {
                "zookeeper": {
                    "hosts": {m.name: {} for m in zookeepers},
                    "vars": {
                        "zookeeper_servers": [
                            {"id": m.zookeeper_id, "name": m.name, "address": m.cluster_address}
                            for m in zookeepers
                        ],
                        "zookeeper_acl": security.zookeeper_acl,
                        "zookeeper_quorum_auth": security.zookeeper_acl,
                        "zookeeper_secrets_file": (
                            SECRETS_FILE_VAR if security.zookeeper_acl else ""
                        ),
                    },
                },
                "mesos": {
                    "children": {
                        "mesos_masters": {
                            "hosts": {m.name: {} for m in masters},
                            "vars": {
                                "mesos_master_quorum": mesos_quorum(len(masters)) if masters else 1,
                                "mesos_master_cluster": spec.mesos_cluster_name,
                                "mesos_master_extra_flags": {
                                    k: _flag_value(v)
                                    for k, v in sorted(spec.mesos.master_flags.items())
                                },
                                "mesos_master_authentication": security.authentication,
                                "mesos_master_readonly_authentication": security.readonly_auth,
                                "mesos_master_authorization": security.acls,
                                "mesos_master_task_users": list(security.task_users),
                                "mesos_master_zookeeper_acl": security.zookeeper_acl,
                                "mesos_master_tls": security.tls.enabled,
                            },
                        },
                        "mesos_agents": {
                            "hosts": {m.name: {} for m in agents},
                            "vars": {
                                "mesos_agent_resources": spec.agents.effective_resources.as_flag(),
                                "mesos_agent_attributes": spec.agents.attributes_flag(),
                                "mesos_agent_extra_flags": {
                                    k: _flag_value(v)
                                    for k, v in sorted(spec.mesos.agent_flags.items())
                                },
                                "mesos_agent_authentication": security.authentication,
                                "mesos_agent_readonly_authentication": security.readonly_auth,
                                "mesos_agent_authorization": security.acls,
                                "mesos_agent_task_users": list(security.task_users),
                                "mesos_agent_tls": security.tls.enabled,
                            },
                        },
                    },
                    "vars": mesos_vars,
                },
            },
        }
    }


def monitoring_vars(spec: ClusterSpec) -> dict[str, Any]:
    """The `monitoring` role's settings (every host: node exporter runs everywhere)."""
    monitoring = spec.monitoring
    return {
        "monitoring_enabled": monitoring.enabled,
        "monitoring_retention_days": monitoring.retention_days,
        "monitoring_scrape_interval_s": monitoring.scrape_interval_s,
        "monitoring_alert_for_s": monitoring.alert_for_s,
        "monitoring_leader_changes_max": monitoring.leader_changes_max,
        "monitoring_disk_full_percent": monitoring.disk_full_percent,
        "monitoring_memory_full_percent": monitoring.memory_full_percent,
        "monitoring_agents_expected": spec.agents.count,
    }


def render_inventory(spec: ClusterSpec, machines: list[Machine]) -> str:
    """The inventory as YAML text (what `dcos-provision inventory` prints and runs use)."""
    return yaml.safe_dump(
        build_inventory(spec, machines), sort_keys=False, default_flow_style=False
    )
