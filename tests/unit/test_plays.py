"""One way to run a play: every caller writes the inventory, streams Ansible's events and
output to the cluster's listeners, and gets a typed PlayRecord whose JSON is what `up --json`
and `repair --json` have always listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner import repair
from provisioner.ansible import HostStats, PlaybookResult
from provisioner.cluster import open_cluster
from provisioner.inventory import render_inventory
from provisioner.plays import run_play

from .health_fakes import demo_machines


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Playbook runs that write one line of output and report one changed task per host."""
    calls: list[dict[str, Any]] = []

    def run_playbook(playbook: str, *, inventory: Path, **options: Any) -> PlaybookResult:
        calls.append({"playbook": playbook, "inventory": yaml.safe_load(inventory.read_text())})
        calls[-1].update(options)
        if options.get("on_output") is not None:
            options["on_output"](f"PLAY [{playbook}]")
        stats = {host: HostStats(ok=2, changed=1) for host in options.get("limit") or []}
        result = PlaybookResult(playbook, "successful", 0, stats, tmp_path / "run.log")
        result.play_hosts = {"repair": list(options.get("limit") or [])}
        return result

    monkeypatch.setattr("provisioner.ansible.run_playbook", run_playbook)
    return calls


def cluster(tmp_path: Path) -> Any:
    spec = tmp_path / "demo.yaml"
    spec.write_text("name: demo\nprovider: {kind: vagrant}\nmasters: {count: 3}\n")
    opened = open_cluster(spec, state_dir=tmp_path / "state")
    lines: list[str] = []
    opened.on_ansible_output = lines.append
    opened.on_ansible_event = lambda _event: None
    return opened, lines


def test_run_play_writes_the_inventory_streams_and_records(tmp_path: Path, runs: list) -> None:
    the_cluster, lines = cluster(tmp_path)
    machines = demo_machines(the_cluster.spec)
    record = run_play(the_cluster, "site.yml", ["demo-agent-1"], machines=machines)
    [call] = runs
    assert call["limit"] == ["demo-agent-1"] and call["extravars"] is None
    assert call["on_event"] is the_cluster.on_ansible_event
    assert call["inventory"] == yaml.safe_load(render_inventory(the_cluster.spec, machines))
    assert lines == ["PLAY [site.yml]"]
    assert record.to_dict() == {
        "playbook": "site.yml",
        "limit": ["demo-agent-1"],
        "changed": {"demo-agent-1": 1},
        "log": str(tmp_path / "run.log"),
    }


def test_repair_streams_its_play_and_lists_roles_and_play_hosts(tmp_path: Path, runs: list) -> None:
    the_cluster, lines = cluster(tmp_path)
    machines = demo_machines(the_cluster.spec)
    targets = {"demo-master-2": {"mesos_master": ["mesos-master is not active"]}}
    record = repair.run_repair_playbook(the_cluster, machines, targets)
    assert runs[0]["extravars"] == {"repair_roles": {"demo-master-2": ["mesos_master"]}}
    assert lines == ["PLAY [repair.yml]"]  # repair streamed no output before
    assert list(record.to_dict()) == [
        "playbook",
        "limit",
        "roles",
        "hosts_in_plays",
        "changed",
        "log",
    ]
    assert record.to_dict()["hosts_in_plays"] == ["demo-master-2"]


def test_a_host_a_membership_update_left_out_is_converged_by_the_next_drift_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The firewall step before scale.yml could not reach demo-agent-1: its rules file was not
    rewritten, so `up` forgets what it recorded there (the next drift check converges it); the
    hosts it rewrote get their rules file entry recorded again."""
    from provisioner import drift, up_steps
    from provisioner.plan import ActionKind, compute_plan
    from provisioner.state import ClusterState

    the_cluster, _ = cluster(tmp_path)
    messages: list[str] = []
    the_cluster.progress = messages.append
    machines = demo_machines(the_cluster.spec)
    rules = f"file {up_steps.FIREWALL_RULES_FILE}"
    state = ClusterState(cluster="demo", provider="vagrant")
    state.machines = {m.name: m for m in machines}
    state.observed = {m.name: {rules: "old", "file /etc/other": "kept"} for m in machines}

    def run_playbook(playbook: str, *, limit: list[str], **_: Any) -> PlaybookResult:
        stats = {h: HostStats(ok=2, changed=1) for h in limit if h != "demo-agent-1"}
        result = PlaybookResult(playbook, "successful", 0, stats, tmp_path / "run.log")
        result.left_out = ["demo-agent-1"]
        return result

    observed_now = {rules: "new"}
    monkeypatch.setattr("provisioner.ansible.run_playbook", run_playbook)
    monkeypatch.setattr(drift, "observe", lambda ms, *_a: {m.name: "seen" for m in ms})
    monkeypatch.setattr(drift, "parse_observation", lambda _text: (observed_now, []))
    plan = compute_plan(the_cluster.spec, state)
    action = up_steps.Action(ActionKind.FIREWALL, tuple(state.machines), "firewall.yml", "test")
    run = up_steps.UpRun(
        the_cluster, state, plan, None, up_steps.RunResult("demo", plan),  # type: ignore[arg-type]
        list(plan.planned), list(plan.planned), [], verify=False, workload=False, wait_timeout=1,
    )  # fmt: skip
    up_steps.STEPS[ActionKind.FIREWALL](run, action)
    assert "demo-agent-1" not in state.observed
    for name in state.observed:
        assert state.observed[name] == {rules: "new", "file /etc/other": "kept"}
    assert set(state.observed) == {m.name for m in machines} - {"demo-agent-1"}
    assert messages[-1] == (
        "firewall.yml left out demo-agent-1 (no answer); the next `up` brings it up to date"
    )
