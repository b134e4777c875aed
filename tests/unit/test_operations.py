"""`scale` and `upgrade` as operations: their checks, and that they end in `up`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from provisioner import operations, up_steps
from provisioner.cli import app
from provisioner.cluster import open_cluster
from provisioner.errors import UsageError
from provisioner.plan import ActionKind, Plan

from .test_cli_options import cluster_with_two_agents

runner = CliRunner()

STATIC = (
    "name: lab\nssh: {user: ops}\nprovider:\n  kind: static\n  hosts:\n"
    "    - {name: m1, address: 192.0.2.11, roles: [master, zookeeper]}\n"
)


@pytest.fixture
def ups(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls of `operations.up` (none of them runs anything)."""
    calls: list[dict[str, Any]] = []

    def fake_up(cluster: Any, **options: Any) -> operations.RunResult:
        calls.append({"agents": cluster.spec.agents.count, **options})
        return operations.RunResult(cluster=cluster.spec.name, plan=Plan(cluster.spec.name))

    monkeypatch.setattr(operations, "up", fake_up)
    return calls


def test_scale_needs_a_count_or_agents_to_remove() -> None:
    with pytest.raises(UsageError, match="say how to scale"):
        operations.check_scale_request(None, ())
    with pytest.raises(UsageError, match="--agents must be 0 or more: got -2"):
        operations.check_scale_request(-2, ())


def test_a_bad_scale_request_is_refused_before_the_spec_is_read(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("name: x\nprovider: {kind: nope}\n")
    result = runner.invoke(app, ["scale", str(spec)])
    assert result.exit_code == 2
    assert "say how to scale: --agents N and/or --remove NAME" in result.stderr


def test_plan_scale_counts_from_the_recorded_agents(tmp_path: Path) -> None:
    cluster = open_cluster(cluster_with_two_agents(tmp_path))
    change = operations.plan_scale(cluster, None, ("s-agent-1",))
    assert change == operations.ScaleChange(1, ("s-agent-1",), ("s-agent-1",))
    assert operations.plan_scale(cluster, 0, ()).doomed == ("s-agent-1", "s-agent-2")
    assert operations.plan_scale(cluster, 3, ()).doomed == ()


def test_scale_records_the_count_in_the_spec_then_runs_up(
    tmp_path: Path, ups: list[dict[str, Any]]
) -> None:
    spec = cluster_with_two_agents(tmp_path)
    result = runner.invoke(app, ["scale", str(spec), "--agents", "3"])
    assert result.exit_code == 0, result.output
    assert f"{spec}: agents.count set to 3" in result.stderr
    assert "agents: {count: 3}" in spec.read_text()
    assert ups == [{"agents": 3, "wait_timeout": 600, "remove": ()}]


def test_scale_refuses_a_spec_that_does_not_say_the_new_count(
    tmp_path: Path, ups: list[dict[str, Any]]
) -> None:
    cluster = open_cluster(cluster_with_two_agents(tmp_path))
    with pytest.raises(UsageError, match=r"agents\.count 2, the scale is to 3"):
        operations.scale(cluster, operations.ScaleChange(3, (), ()))
    assert ups == []


def test_upgrade_refuses_when_there_is_nothing_to_upgrade(tmp_path: Path) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text(STATIC)
    result = runner.invoke(app, ["upgrade", str(spec)])
    assert result.exit_code == 2
    assert "nothing to upgrade: mesos.version" in result.stderr
    assert not (tmp_path / ".dcos-provision" / "lab" / "state.json").exists()


def test_upgrade_is_up_told_to_upgrade_only(tmp_path: Path, ups: list[dict[str, Any]]) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text(STATIC)
    result = operations.upgrade(open_cluster(spec), wait_timeout=5)
    assert result.cluster == "lab"
    assert ups == [{"agents": 1, "wait_timeout": 5, "auto_backup": None, "upgrade_only": True}]


def test_up_has_a_step_for_every_kind_of_action_a_plan_holds() -> None:
    assert set(up_steps.STEPS) == set(ActionKind) - {ActionKind.RESET}  # RESET: `down` only
