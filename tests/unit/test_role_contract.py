"""Facts written both in Python and in the roles' variables must agree (read from the YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner import ports, roles
from provisioner.spec.base import AGENT_OWNED_FLAGS, MASTER_OWNED_FLAGS

ROLES = Path(__file__).resolve().parents[2] / "playbooks" / "roles"

#: (role, variable of its defaults/main.yml) -> the Python constant that must equal it.
PORT_VARIABLES = {
    ("zookeeper", "zookeeper_client_port"): ports.ZOOKEEPER_CLIENT_PORT,
    ("zookeeper", "zookeeper_peer_port"): ports.ZOOKEEPER_PEER_PORT,
    ("zookeeper", "zookeeper_election_port"): ports.ZOOKEEPER_ELECTION_PORT,
    ("mesos_master", "mesos_master_port"): ports.MESOS_MASTER_PORT,
    ("mesos_agent", "mesos_agent_port"): ports.MESOS_AGENT_PORT,
}
MONITORING_PORT_VARIABLES = {
    ("monitoring", "monitoring_prometheus_port"): ports.PROMETHEUS_PORT,
    ("monitoring", "monitoring_node_exporter_port"): ports.NODE_EXPORTER_PORT,
}


def role_variables(role: str) -> dict[str, Any]:
    """The role's defaults, then its vars (as Ansible layers them), without templating."""
    merged: dict[str, Any] = {}
    for part in ("defaults", "vars"):
        path = ROLES / role / part / "main.yml"
        if path.exists():
            merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


@pytest.mark.parametrize(("role", "variable"), sorted(PORT_VARIABLES | MONITORING_PORT_VARIABLES))
def test_python_ports_are_the_role_defaults(role: str, variable: str) -> None:
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    wanted = (PORT_VARIABLES | MONITORING_PORT_VARIABLES)[(role, variable)]
    assert defaults[variable] == wanted, f"{role}: {variable}"


def test_cluster_ports_are_the_per_role_ports() -> None:
    assert sorted(ports.CLUSTER_PORTS) == sorted(PORT_VARIABLES.values())
    assert sorted(ports.MONITORING_PORTS) == sorted(MONITORING_PORT_VARIABLES.values())


@pytest.mark.parametrize(
    ("role", "refused"),
    [("mesos_master", MASTER_OWNED_FLAGS), ("mesos_agent", AGENT_OWNED_FLAGS)],
)
def test_flags_the_spec_refuses_are_those_the_role_renders(
    role: str, refused: frozenset[str]
) -> None:
    """The spec refuses in `mesos.*_flags` exactly the flags the role renders itself."""
    found = {k: v for k, v in role_variables(role).items() if k.endswith("_owned_flags")}
    assert len(found) == 1, f"{role}: expected one *_owned_flags variable, found {sorted(found)}"
    [(name, owned)] = found.items()
    if not isinstance(owned, list):
        pytest.skip(f"{role}: {name} is a template ({owned!r}), not a list to compare")
    assert set(owned) == set(refused), f"{role}: {name} vs spec.base"


#: Where each role names its service: (file under the role, variable).
SERVICE_VARIABLES = {
    roles.ROLE_ZOOKEEPER: ("vars/Debian.yml", "__zookeeper_service"),
    roles.ROLE_MASTER: ("defaults/main.yml", "mesos_master_service"),
    roles.ROLE_AGENT: ("defaults/main.yml", "mesos_agent_service"),
}


def test_the_role_vocabulary_names_roles_that_exist() -> None:
    assert set(roles.ROLE_ORDER) == set(roles.SERVICES) == set(roles.MACHINE_ROLES)
    for role in roles.ROLE_ORDER:
        assert (ROLES / role / "tasks" / "main.yml").is_file(), role
        assert f"hosts: repair_{role}:" in (ROLES.parent / "repair.yml").read_text(), role


@pytest.mark.parametrize("role", sorted(SERVICE_VARIABLES))
def test_the_services_are_those_the_roles_run(role: str) -> None:
    path, variable = SERVICE_VARIABLES[role]
    found = yaml.safe_load((ROLES / role / path).read_text(encoding="utf-8"))
    assert found[variable] == roles.SERVICES[role]


def test_the_files_up_refreshes_in_the_drift_record_are_the_roles():
    """After firewall.yml and monitoring_targets.yml, `up` re-records these manifest entries:
    they must name the files the roles write."""
    from provisioner import up_steps

    common, monitoring = role_variables("common"), role_variables("monitoring")
    assert common["common_firewall_rules_file"] == up_steps.FIREWALL_RULES_FILE
    assert (
        f"file {monitoring['monitoring_prometheus_config_file']}",
        f"file {monitoring['monitoring_prometheus_rules_file']}",
    ) == up_steps.PROMETHEUS_FILES
