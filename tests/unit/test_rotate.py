"""rotate-credentials: principal generations, the passes' secrets, the plan, and what the
roles render while two generations are accepted (the e2e test is in test_ha_faults.py)."""

from __future__ import annotations

import datetime
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from provisioner import rotate, security
from provisioner.ansible import PlaybookResult
from provisioner.domain import Machine, Role
from provisioner.errors import CredentialsError
from provisioner.plays import PlayRecord
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


def _recorded_cluster(tmp_path: Path, security_yaml: str = "") -> Path:
    spec = tmp_path / "c.yaml"
    spec.write_text(f"name: d\nprovider: {{kind: vagrant}}\n{security_yaml}")
    state_dir = tmp_path / ".dcos-provision" / "d"
    state_dir.mkdir(parents=True)
    machine = {"roles": ["master", "zookeeper"], "address": "10.0.3.9", "ssh_user": "vagrant"}
    agent = {"roles": ["agent"], "address": "10.0.3.19", "ssh_user": "vagrant"}
    (state_dir / "state.json").write_text(
        json.dumps(
            {
                "version": 1,
                "cluster": "d",
                "provider": "vagrant",
                "converged": {},
                "history": [],
                "machines": {
                    "d-master-1": {"name": "d-master-1", **machine},
                    "d-agent-1": {"name": "d-agent-1", **agent},
                },
            }
        )
    )
    security.write_credentials(state_dir, generate())
    return spec


def test_the_cli_shows_the_plan_then_refuses_without_confirmation(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from provisioner.cli import app

    spec = _recorded_cluster(tmp_path)
    before = security.secrets_path(tmp_path / ".dcos-provision" / "d").read_text()
    result = CliRunner().invoke(app, ["rotate-credentials", str(spec)])
    assert result.exit_code == 2, result.stderr
    assert "refusing to rotate credentials without confirmation" in result.stderr
    assert "agent: dcos-agent -> a new principal (new secret)" in result.stderr
    assert "accept pass: d-master-1, d-agent-1" in result.stderr
    assert "not rotated: the ZooKeeper digest identity" in result.stderr
    # Nothing changed: same secrets, no certificate issued.
    assert security.secrets_path(tmp_path / ".dcos-provision" / "d").read_text() == before
    assert not (tmp_path / ".dcos-provision" / "d" / "pki").exists()


def test_the_cli_refuses_a_cluster_without_anything_to_rotate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from provisioner.cli import app

    spec = _recorded_cluster(
        tmp_path,
        "security: {authentication: false, zookeeper_acl: false, tls: {enabled: false}}\n",
    )
    result = CliRunner().invoke(app, ["rotate-credentials", str(spec), "--yes", "--json"])
    assert result.exit_code == 2
    assert "nothing to rotate" in json.loads(result.stdout)["error"]
    assert "Traceback" not in result.stderr


class _Run:
    """Stands in for the playbook runs and the health checks: records the secrets file each
    pass ran with, and fails the health check after the pass named `fail_after`."""

    def __init__(self, state_dir: Path, fail_after: int | None = None) -> None:
        self.state_dir, self.fail_after = state_dir, fail_after
        self.passes: list[dict[str, Any]] = []
        self.masters: list[bool] = []
        self.checks = 0

    def playbook(
        self, cluster: Any, action: Any, machines: Any, result: Any, extravars: Any
    ) -> None:
        self.passes.append(json.loads(security.secrets_path(self.state_dir).read_text()))
        self.masters.append(extravars["rotate_masters"])
        outcome = PlaybookResult(action.playbook, "successful", 0, {}, self.state_dir / "log")
        result.playbooks.append(PlayRecord(action.playbook, [], {}, "x", outcome))

    def wait_healthy(self, spec: Any, machines: Any, **_kwargs: Any) -> Any:
        from provisioner.domain import Layer
        from provisioner.errors import HealthTimeoutError
        from provisioner.health import CheckResult, HealthReport

        self.checks += 1
        if self.fail_after is not None and self.checks == self.fail_after + 2:
            raise HealthTimeoutError("mesos_agents: d-agent-1 is not active")
        return HealthReport("d", [CheckResult(Layer.REACHABILITY, "ssh", "d-agent-1", True, "")])


def _rotate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: _Run) -> Any:
    from provisioner import health, up_steps
    from provisioner.cluster import open_cluster

    monkeypatch.setattr(up_steps, "run_playbook", run.playbook)
    monkeypatch.setattr(up_steps, "record_observed", lambda *_args: None)
    monkeypatch.setattr(health, "wait_healthy", run.wait_healthy)
    cluster = open_cluster(tmp_path / "c.yaml")
    return rotate.rotate(cluster, workload=False, now=NOW)


def test_rotate_runs_accept_switch_retire_with_a_health_check_around_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _recorded_cluster(tmp_path)
    state_dir = tmp_path / ".dcos-provision" / "d"
    old = json.loads(security.secrets_path(state_dir).read_text())
    run = _Run(state_dir)
    result = _rotate(tmp_path, monkeypatch, run)
    stamp = "-20261204T201500Z"
    accept, switch, retire = run.passes
    assert accept["operator"] == old["operator"]
    assert accept["accepted"]["operator"]["principal"] == "dcos-operator" + stamp
    assert switch["agent"]["principal"] == "dcos-agent" + stamp
    assert switch["accepted"]["agent"] == old["agent"]
    assert "accepted" not in retire and retire["health"]["principal"] == "dcos-health" + stamp
    final = json.loads(security.secrets_path(state_dir).read_text())
    assert final == retire and final["zookeeper"] == old["zookeeper"]
    assert [c["after"] for c in result.checks] == [
        "nothing yet (before the first pass)",
        "the accept pass",
        "the switch pass",
        "the retire pass",
    ]
    assert run.checks == 4 and len(result.playbooks) == 3
    assert run.masters == [True, False, True]  # the switch changes no master's files
    # Every node and executor certificate was renewed from the cluster CA.
    assert (state_dir / "pki" / "d-agent-1-executor.crt").exists()


def test_an_unhealthy_check_stops_the_rotation_naming_it_and_a_rerun_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioner.errors import HealthTimeoutError

    _recorded_cluster(tmp_path)
    state_dir = tmp_path / ".dcos-provision" / "d"
    old = json.loads(security.secrets_path(state_dir).read_text())
    with pytest.raises(HealthTimeoutError) as caught:
        _rotate(tmp_path, monkeypatch, _Run(state_dir, fail_after=1))  # after switch
    assert "stopped after the switch pass" in caught.value.message
    assert "d-agent-1 is not active" in caught.value.message
    halfway = json.loads(security.secrets_path(state_dir).read_text())
    assert halfway["accepted"]["agent"] == old["agent"]  # both still accepted
    certificate = (state_dir / "pki" / "d-agent-1.crt").read_text()
    run = _Run(state_dir)
    _rotate(tmp_path, monkeypatch, run)
    # Resumed: switch again, then retire, with the same new generation and certificates.
    assert [p["agent"]["principal"] for p in run.passes] == [halfway["agent"]["principal"]] * 2
    assert "accepted" in run.passes[0] and "accepted" not in run.passes[1]
    assert (state_dir / "pki" / "d-agent-1.crt").read_text() == certificate
