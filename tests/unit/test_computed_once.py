"""Derived facts are computed once per command: the planned machines once per `up` (and per
`upgrade`), the spec matched to the machines once per health wait (not per poll), the health
credential read once per command (again only when its files change)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provisioner import cluster as cluster_module
from provisioner import drift, operations, resize_run, security, topology, up_steps
from provisioner.ansible import HostStats, PlaybookResult
from provisioner.cluster import open_cluster
from provisioner.domain import Machine, PlannedMachine
from provisioner.errors import UsageError
from provisioner.health import LAYERS, CheckResult, HealthReport, wait_healthy
from provisioner.plan import ActionKind
from provisioner.providers.base import Provider

from .health_fakes import FakeCluster

SPEC = (
    "name: once\nprovider: {kind: vagrant}\nmasters: {count: 3}\nagents: {count: 2}\n"
    "mesos: {version: 1.11.0}\n"
)


@pytest.fixture
def plan_machines_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every call of topology.plan_machines, wherever a module imported it by name."""
    calls: list[int] = []
    original = topology.plan_machines

    def counted(*args: Any, **kwargs: Any) -> list[PlannedMachine]:
        calls.append(1)
        return original(*args, **kwargs)

    for module in list(sys.modules.values()):
        if module is not None and getattr(module, "plan_machines", None) is original:
            monkeypatch.setattr(module, "plan_machines", counted)
    return calls


class MemoryProvider(Provider):
    """Machines that exist in memory only."""

    def create(self, machines: list[PlannedMachine]) -> list[Machine]:
        return [
            Machine(
                name=p.name,
                roles=p.roles,
                address=f"10.0.3.{20 + i}",
                ssh_user="vagrant",
                strict_host_keys=False,
                zookeeper_id=p.zookeeper_id,
            )
            for i, p in enumerate(machines)
        ]

    def destroy(self, names: list[str]) -> None:
        pass

    def list(self) -> list[Machine]:
        return []


@pytest.fixture
def stubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """An `up` whose machines, playbooks and drift observations are fakes."""
    monkeypatch.setattr(
        cluster_module, "provider_for", lambda spec, d, p: MemoryProvider(spec, d, p)
    )

    def run_playbook(playbook: str, *, limit: list[str] | None = None, **_: Any) -> PlaybookResult:
        stats = {host: HostStats(ok=1) for host in limit or []}
        return PlaybookResult(playbook, "successful", 0, stats, tmp_path / "log")

    monkeypatch.setattr("provisioner.ansible.run_playbook", run_playbook)
    monkeypatch.setattr(drift, "observe", lambda machines, *_a, **_k: {})
    path = tmp_path / "once.yaml"
    path.write_text(SPEC)
    return lambda: open_cluster(path, state_dir=tmp_path / "state")


def test_up_plans_the_machines_once(stubbed: Callable[[], Any], plan_machines_calls: list[int]):
    result = operations.up(stubbed(), verify=False)
    assert [a.kind for a in result.plan.actions] == ["create", "converge", "wait_healthy"]
    assert len(result.plan.planned) == 5
    assert len(plan_machines_calls) == 1


def test_upgrade_plans_once_and_refuses_before_writing_anything(
    stubbed: Callable[[], Any],
    plan_machines_calls: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setitem(up_steps.STEPS, ActionKind.WAIT_HEALTHY, lambda _run, _action: None)
    operations.up(stubbed(), verify=False)
    before = (tmp_path / "state" / "once" / "state.json").read_bytes()
    plan_machines_calls.clear()
    with pytest.raises(UsageError, match=r"nothing to upgrade: mesos\.version 1\.11\.0"):
        operations.upgrade(stubbed())
    assert len(plan_machines_calls) == 1
    assert (tmp_path / "state" / "once" / "state.json").read_bytes() == before

    path = tmp_path / "once.yaml"
    path.write_text(SPEC.replace("1.11.0", "1.12.0"))
    plan_machines_calls.clear()
    result = operations.upgrade(stubbed(), wait_timeout=1)
    assert [a.playbook for a in result.plan.actions if a.playbook] == ["upgrade.yml"]
    assert len(plan_machines_calls) == 1


def test_a_health_wait_matches_the_spec_to_the_machines_once(plan_machines_calls: list[int]):
    fake = FakeCluster(masters=3, agents=2)
    try:
        agent = fake.mesos.agents["demo-agent-2"]
        agent.listed = False
        polls: list[bool] = []

        def poll(report: Any) -> None:
            polls.append(report.healthy)
            if len(polls) == 3:
                agent.listed = True

        plan_machines_calls.clear()
        report = wait_healthy(
            fake.spec, fake.machines, probes=fake.probes, on_progress=poll, sleep=lambda _s: None
        )
    finally:
        fake.close()
    assert report.healthy and polls == [False, False, False, True]
    assert len(plan_machines_calls) == 1


def test_the_health_credential_is_read_once_until_its_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "auth.yaml"
    path.write_text(SPEC + "security: {authentication: true}\n")
    cluster = open_cluster(path, state_dir=tmp_path / "state")
    security.ensure_credentials(cluster.spec, cluster.state_dir)
    reads: list[int] = []
    original = security.load_credentials

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(security, "load_credentials", counted)
    first = cluster.health_credential()
    assert first is not None and first.principal
    assert cluster.health_credential() == first and cluster.health_credential() == first
    assert len(reads) == 1

    secrets = security.secrets_path(cluster.state_dir)
    data = json.loads(secrets.read_text())
    data["health"]["secret"] = "rotated-" + data["health"]["secret"]
    secrets.write_text(json.dumps(data))  # a rotation rewrites the file
    rotated = cluster.health_credential()
    assert len(reads) == 2
    assert rotated is not None and rotated.secret.startswith("rotated-")


def test_a_master_resize_plans_once_and_matches_each_gate_once(
    stubbed: Callable[[], Any],
    plan_machines_calls: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    polls: list[str] = []

    def check_cluster(spec: Any, machines: Any, credential: Any = None, view: Any = None) -> Any:
        polls.append(spec.name)
        ok = len(polls) % 3 == 0  # every gate polls three times
        checks = [CheckResult(layer, "x", None, ok, "ok") for layer in LAYERS]
        return HealthReport(cluster="once", checks=checks)

    monkeypatch.setattr(resize_run, "check_cluster", check_cluster)
    monkeypatch.setattr(resize_run, "GATE_INTERVAL_S", 0.0)
    path = tmp_path / "once.yaml"
    path.write_text(SPEC.replace("masters: {count: 3}", "masters: {count: 1}"))
    operations.up(stubbed(), verify=False)
    path.write_text(SPEC)
    polls.extend(["precheck"] * 2)  # the precheck passes on its first poll
    plan_machines_calls.clear()
    result = operations.up(stubbed(), verify=False)
    resize = result.plan.resize
    assert resize is not None and len(resize.steps) > 2
    gates = [s for s in resize.steps if s.phase in resize_run.GATES]
    assert gates and len(polls) == 3 + 3 * len(gates)
    # The plan, the leaving masters of the old shape, one view per gate: none per step or poll.
    assert len(plan_machines_calls) == 2 + len(gates)
