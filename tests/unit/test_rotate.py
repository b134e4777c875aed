"""rotate-credentials: principal generations, the passes' secrets, the plan, and what the
roles render while two generations are accepted (the e2e test is in test_ha_faults.py)."""

from __future__ import annotations

import datetime
import json
import stat
from pathlib import Path

import pytest

from provisioner import rotate, security
from provisioner.domain import Machine, Role
from provisioner.errors import CredentialsError
from provisioner.rotate import RotationPass
from provisioner.security import ClusterCredentials, generate, next_generation

from .role_render import cluster, role_vars, value

NOW = datetime.datetime(2026, 12, 4, 20, 15, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(days=30)


def _machine(name: str, *roles: Role, address: str = "10.0.3.10") -> Machine:
    return Machine(name=name, address=address, roles=tuple(roles), ssh_user="vagrant")


def test_a_new_generation_has_new_principals_that_sort_after_the_old() -> None:
    creds = generate()
    first = next_generation(creds.generation, NOW)
    assert first.principals() == (
        "dcos-operator-20261204T201500Z",
        "dcos-health-20261204T201500Z",
        "dcos-agent-20261204T201500Z",
    )
    second = next_generation(first, LATER)
    # The stamp replaces the previous one instead of piling up, and sorts after it.
    assert second.operator.principal == "dcos-operator-20270103T201500Z"
    for older, newer in ((creds.generation, first), (first, second)):
        for name in security.ROTATED:
            assert getattr(newer, name).principal > getattr(older, name).principal
            assert getattr(newer, name).secret != getattr(older, name).secret
    with pytest.raises(CredentialsError, match="would not sort after"):
        next_generation(second, NOW)  # a clock gone backwards


def test_the_passes_write_accept_switch_retire_and_resume_from_the_file() -> None:
    creds = generate()
    old, new = creds.generation, next_generation(creds.generation, NOW)
    assert rotate.pending_passes(creds) == tuple(RotationPass)
    accept = rotate.credentials_at(creds, RotationPass.ACCEPT, new, old)
    assert (accept.generation, accept.accepted) == (old, new)
    assert accept.zookeeper == creds.zookeeper  # never rotated
    switch = rotate.credentials_at(creds, RotationPass.SWITCH, new, old)
    assert (switch.generation, switch.accepted) == (new, old)
    retire = rotate.credentials_at(creds, RotationPass.RETIRE, new, old)
    assert (retire.generation, retire.accepted) == (new, None)
    # Interrupted during the accept pass: all three again, with the same new generation.
    assert rotate.pending_passes(accept) == tuple(RotationPass)
    assert rotate.generations(accept) == (old, new)
    # Interrupted after the switch: the switch pass again, then retire.
    assert rotate.pending_passes(switch) == (RotationPass.SWITCH, RotationPass.RETIRE)
    assert rotate.generations(switch) == (old, new)
    assert rotate.pending_passes(retire) == tuple(RotationPass)  # a finished one: start anew


def test_the_secrets_file_round_trips_the_accepted_generation(tmp_path: Path) -> None:
    creds = generate()
    during = rotate.credentials_at(
        creds, RotationPass.SWITCH, next_generation(creds.generation, NOW), creds.generation
    )
    security.write_credentials(tmp_path, during)
    path = security.secrets_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert ClusterCredentials.from_dict(data, "x") == during
    data["accepted"]["agent"]["principal"] = data["agent"]["principal"]
    data["accepted"]["health"] = {"principal": "x"}
    with pytest.raises(CredentialsError) as caught:
        ClusterCredentials.from_dict(data, "secrets.json")
    assert "accepted.health.secret" in caught.value.message
    assert creds.health.secret not in caught.value.message


def test_the_plan_names_principals_nodes_passes_and_what_is_not_rotated() -> None:
    creds = generate()
    machines = [
        _machine("c-master-1", Role.MASTER, Role.ZOOKEEPER),
        _machine("c-agent-1", Role.AGENT, address="10.0.3.20"),
    ]
    plan = rotate.make_plan("c", machines, creds, tls=True, zookeeper_acl=True)
    assert plan.masters == ("c-master-1",) and plan.agents == ("c-agent-1",)
    assert plan.principals["agent"] == ("dcos-agent", None)
    assert plan.certificates == ("c-master-1", "c-agent-1")
    assert plan.passes == tuple(RotationPass) and not plan.resuming
    assert any("ZooKeeper digest" in item for item in plan.not_rotated)
    assert any("CA" in item for item in plan.not_rotated)
    switch = rotate.credentials_at(
        creds, RotationPass.SWITCH, next_generation(creds.generation, NOW), creds.generation
    )
    resumed = rotate.make_plan("c", machines, switch, tls=True, zookeeper_acl=False)
    assert resumed.resuming and resumed.passes == (RotationPass.SWITCH, RotationPass.RETIRE)
    assert resumed.principals["agent"] == ("dcos-agent", "dcos-agent-20261204T201500Z")
    assert resumed.certificates == ()  # renewed when the rotation started
    assert not any("ZooKeeper" in item for item in resumed.not_rotated)
    assert json.loads(json.dumps(resumed.to_dict()))["passes"][0]["pass"] == "switch"


def _role_secrets(tmp_path: Path, creds: ClusterCredentials) -> dict[str, str]:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(creds.to_dict()))
    return {"mesos_secrets_file": str(path)}


def _master_files(tmp_path: Path, creds: ClusterCredentials) -> dict[str, str]:
    variables = role_vars(
        "mesos_master", cluster(), "demo-master-1", **_role_secrets(tmp_path, creds)
    )
    return value("__mesos_master_secret_files", variables)


def _agent_files(tmp_path: Path, creds: ClusterCredentials) -> dict[str, str]:
    variables = role_vars(
        "mesos_agent", cluster(), "demo-agent-1", **_role_secrets(tmp_path, creds)
    )
    return value("__mesos_agent_secret_files", variables)


def test_nodes_accept_both_generations_during_a_rotation_and_the_swap_changes_no_file(
    tmp_path: Path,
) -> None:
    creds = generate()
    old, new = creds.generation, next_generation(creds.generation, NOW)
    accept = rotate.credentials_at(creds, RotationPass.ACCEPT, new, old)
    switch = rotate.credentials_at(creds, RotationPass.SWITCH, new, old)
    retire = rotate.credentials_at(creds, RotationPass.RETIRE, new, old)
    master = _master_files(tmp_path, accept)
    listed = json.loads(master["credentials.json"])["credentials"]
    assert {c["principal"] for c in listed} == set(old.principals()) | set(new.principals())
    acls = json.loads(master["acls.json"])
    [agents_rule] = acls["register_agents"]
    assert agents_rule["principals"]["values"] == [old.agent.principal, new.agent.principal]
    [teardown] = acls["teardown_frameworks"]
    assert teardown["principals"]["values"] == [old.operator.principal, new.operator.principal]
    agent = _agent_files(tmp_path, accept)
    assert json.loads(agent["credential.json"])["principal"] == old.agent.principal
    health = json.loads(agent["http_credentials.json"])["credentials"]
    assert [c["principal"] for c in health] == [old.health.principal, new.health.principal]
    # Swapping which generation is current restarts no master; agents re-register as new.
    assert _master_files(tmp_path, switch) == master
    switched = _agent_files(tmp_path, switch)
    assert json.loads(switched["credential.json"])["principal"] == new.agent.principal
    assert switched["http_credentials.json"] == agent["http_credentials.json"]
    # Retired: only the new generation anywhere.
    for files in (_master_files(tmp_path, retire), _agent_files(tmp_path, retire)):
        text = "".join(files.values())
        assert not [p for p in old.principals() if f'"{p}"' in text], text
        assert new.health.principal in text
