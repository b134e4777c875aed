"""Master-count changes: the planned steps and their order, the refusals, the per-step
inventories, and `up` carrying a resize out step by step (fake provider and playbooks)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from provisioner import cluster as cluster_module
from provisioner import operations, resize_run
from provisioner.ansible import HostStats, PlaybookResult
from provisioner.cluster import open_cluster
from provisioner.domain import Machine
from provisioner.errors import AnsibleError, QuorumError
from provisioner.health import LAYERS, CheckResult, HealthReport
from provisioner.plan import compute_plan, config_fingerprint
from provisioner.providers.base import Provider
from provisioner.resize import plan_resize, stages, step_inventory
from provisioner.spec.file import parse_spec
from provisioner.state import ClusterState
from provisioner.topology import plan_machines

RESIZE = ("resize", "resize_masters.yml")
WAIT = ("wait_healthy", None)
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


def spec_text(masters: int, agents: int = 1, extra: str = "") -> str:
    return (
        f"name: p\nprovider: {{kind: vagrant}}\nmasters: {{count: {masters}}}\n"
        f"agents: {{count: {agents}}}\n{extra}"
    )


def spec(masters: int, agents: int = 1, extra: str = ""):
    return parse_spec(spec_text(masters, agents, extra))


def machine(planned, index: int) -> Machine:
    return Machine(
        name=planned.name,
        roles=planned.roles,
        address=f"10.0.3.{10 + index}",
        ssh_user="vagrant",
        strict_host_keys=False,
        zookeeper_id=planned.zookeeper_id,
    )


def converged(the_spec) -> ClusterState:
    """A cluster created and converged from `the_spec`, as `up` records it."""
    state = ClusterState(cluster="p", provider="vagrant")
    for index, planned in enumerate(plan_machines(the_spec)):
        state.machines[planned.name] = machine(planned, index)
    core = [m for m in state.machines.values() if "master" in m.roles]
    for name in state.machines:
        state.converged[name] = config_fingerprint(the_spec, core)
    state.applied["mesos_version"] = the_spec.mesos.version
    return state


def kinds(plan) -> list[tuple[str, str | None]]:
    return [(a.kind, a.playbook) for a in plan.actions]


def masters(*indices: int) -> tuple[str, ...]:
    return tuple(f"p-master-{i}" for i in indices)


def test_growing_one_to_three_creates_then_resizes_one_step_at_a_time():
    plan = compute_plan(spec(3), converged(spec(1)))
    assert kinds(plan) == [("create", None), *[RESIZE] * 4, ("wait_healthy", None)]
    create, prepare, zookeeper, mesos, finish, _wait = plan.actions
    assert create.hosts == masters(2, 3)
    assert prepare.hosts == (*masters(1, 2, 3), "p-agent-1")
    assert "ZooKeeper one member at a time" in zookeeper.reason
    assert "p-master-1 restarted with the 3-server list together with p-master-2" in (
        zookeeper.reason
    )
    assert "delete its replicated log" in mesos.reason and "--quorum=2" in mesos.reason
    assert mesos.hosts == masters(1, 2, 3)
    assert finish.reason.startswith("step 4/4: masters 1 -> 3")
    assert plan.changes_machines


def test_three_to_five_new_zookeeper_members_join_first_new_masters_start_last():
    plan = compute_plan(spec(5), converged(spec(3)))
    zookeeper, mesos = plan.actions[2], plan.actions[3]
    assert zookeeper.reason.index("p-master-4, p-master-5 started one by one") < (
        zookeeper.reason.index("then p-master-1, p-master-2, p-master-3 restarted")
    )
    assert "--quorum=3 (followers first, leader last), then start p-master-4" in mesos.reason
    assert "replicated log" not in mesos.reason


def test_quorum_changes_by_one_per_stage():
    assert stages(1, 5) == [(1, 3), (3, 5)]
    assert stages(7, 1) == [(7, 5), (5, 3), (3, 1)]
    plan = compute_plan(spec(5), converged(spec(1)))
    assert kinds(plan) == [("create", None), *[RESIZE] * 6, ("wait_healthy", None)]
    reasons = [a.reason for a in plan.of_kind("resize")]
    assert [r.split(": ", 1)[1][:19] for r in reasons[1:5]] == [
        "masters 1 -> 3, Zoo",
        "masters 1 -> 3, Mes",
        "masters 3 -> 5, Zoo",
        "masters 3 -> 5, Mes",
    ]
    assert plan.actions[0].hosts == masters(2, 3, 4, 5)


def test_shrinking_retires_the_highest_masters_first_and_destroys_them_last():
    plan = compute_plan(spec(1), converged(spec(3)))
    assert kinds(plan) == [*[RESIZE] * 5, ("destroy", None), ("wait_healthy", None)]
    retire_3, retire_2, zookeeper, mesos, finish, destroy, wait = plan.actions
    assert (retire_3.hosts, retire_2.hosts) == (masters(3), masters(2))
    assert "stop and disable mesos-master and ZooKeeper on p-master-3" in retire_3.reason
    assert "gated on p-master-1, p-master-2 keeping a leader" in retire_3.reason
    assert "no gate: p-master-1 alone is no quorum of 3" in retire_2.reason
    assert zookeeper.hosts == mesos.hosts == masters(1)
    assert "--quorum=1" in mesos.reason
    assert finish.hosts == wait.hosts == ("p-master-1", "p-agent-1")
    assert destroy.hosts == masters(3, 2)


def cluster_hosts(inventory: dict) -> list[str]:
    """The hosts role common writes into /etc/hosts and the firewall allow-lists."""
    return sorted(h["name"] for h in inventory["all"]["vars"]["common_cluster_hosts"])


def test_departed_masters_and_removed_agents_leave_the_firewall_in_the_finish_step():
    """Issue 20: in a shrink, the leaving masters stay in every allow-list while they run (a
    firewall.yml for an agent removed in the same run would cut them off the ensemble before
    they retire); the finish step (role common on every remaining host) drops them all."""
    shrink = compute_plan(spec(1, agents=1), converged(spec(3, agents=2)))
    assert kinds(shrink) == [
        ("remove_agents", "remove_agents.yml"),
        ("destroy", None),
        *[RESIZE] * 5,
        ("destroy", None),
        WAIT,
    ]
    state = converged(spec(3, agents=2))
    final = ["p-master-1", "p-agent-1"]
    assert shrink.resize is not None
    *running, finish = shrink.resize.steps
    for step in running[:2]:  # the retire steps: every master still in the allow-lists
        inventory = step_inventory(spec(1), step, state.machines, final)
        assert set(masters(1, 2, 3)) <= set(cluster_hosts(inventory))
    assert finish.phase == "finish" and finish.hosts == tuple(final)
    assert cluster_hosts(step_inventory(spec(1), finish, state.machines, final)) == sorted(final)
    finish_play = next(
        p
        for p in yaml.safe_load(PLAYBOOKS.joinpath("resize_masters.yml").read_text())
        if p.get("hosts") == "resize_finish"
    )
    assert finish_play["roles"] == ["common"]  # which rewrites the firewall rules
    growth = compute_plan(spec(3, agents=1), converged(spec(1, agents=2)))
    assert [a.hosts for a in growth.of_kind("firewall")] == [("p-master-1", "p-agent-1")]


def test_the_last_resize_step_monitors_every_host_of_the_new_cluster():
    """New masters get node exporter and Prometheus, and every master's Prometheus the new
    target list, in the resize itself: the next converge changes nothing (e2e checks it)."""
    plays = yaml.safe_load(PLAYBOOKS.joinpath("resize_masters.yml").read_text())
    last = plays[-1]
    assert last["hosts"] == "resize_finish"
    assert [r["role"] for r in last["roles"]] == ["monitoring"]


def test_agents_removed_in_the_same_run_are_drained_before_the_resize():
    plan = compute_plan(spec(3, agents=1), converged(spec(1, agents=2)))
    assert kinds(plan)[:5] == [
        ("create", None),
        ("remove_agents", "remove_agents.yml"),
        ("destroy", None),
        ("firewall", "firewall.yml"),  # the removed agent leaves every allow-list
        RESIZE,
    ]


def test_refusals_name_the_reason():
    dedicated = "zookeeper: {placement: dedicated, count: 3}\n"
    with pytest.raises(QuorumError, match="dedicated ZooKeeper ensemble"):
        compute_plan(spec(3, extra=dedicated), converged(spec(1, extra=dedicated)))
    with pytest.raises(QuorumError, match=r"mesos.version 1.11.0 -> 1.12.0 and masters 1 -> 3"):
        compute_plan(spec(3, extra="mesos: {version: 1.12.0}\n"), converged(spec(1)))
    state = converged(spec(1))
    del state.converged["p-master-1"]
    with pytest.raises(QuorumError, match="p-master-1 never finished converging"):
        compute_plan(spec(3), state)
    with pytest.raises(QuorumError, match="not one ZooKeeper member per master"):
        compute_plan(spec(3), converged(spec(1, extra=dedicated)))


def test_static_hosts_are_never_resized():
    hosts = "    - {name: m%d, address: 192.0.2.%d, roles: [master, zookeeper]}\n"
    text = "name: p\nssh: {user: ops}\nprovider:\n  kind: static\n  hosts:\n"
    one = parse_spec(text + hosts % (1, 1))
    three = parse_spec(text + "".join(hosts % (i, i) for i in (1, 2, 3)))
    state = converged(one)
    state.provider = "static"
    with pytest.raises(QuorumError, match=r"static hosts .*1 -> 3 core machines"):
        compute_plan(three, state)


def test_a_resize_in_progress_continues_and_cannot_change_target():
    state = converged(spec(1))
    for index, planned in enumerate(plan_machines(spec(3))):
        state.machines.setdefault(planned.name, machine(planned, index + 20))
    state.applied.update({"resize_from": "1", "resize_to": "3", "resize_done": "2"})
    plan = compute_plan(spec(3), state)
    assert kinds(plan) == [*[RESIZE] * 2, ("wait_healthy", None)]
    assert plan.actions[0].reason.startswith("step 3/4: masters 1 -> 3, Mesos")
    with pytest.raises(QuorumError, match=r"1 -> 3 is in progress \(2 of 4 steps done\)"):
        compute_plan(spec(5), state)


def test_an_interrupted_shrink_still_destroys_the_leaving_masters():
    state = converged(spec(3))
    state.applied.update({"resize_from": "3", "resize_to": "1", "resize_done": "5"})
    plan = compute_plan(spec(1), state)
    assert kinds(plan) == [("destroy", None), ("wait_healthy", None)]


def groups(inventory: dict) -> dict[str, list[str]]:
    children = inventory["all"]["children"]
    found = {name: list(group.get("hosts", {})) for name, group in children.items()}
    found.update(
        {name: list(g.get("hosts", {})) for name, g in children["mesos"]["children"].items()}
    )
    return found


def inventories(old: int, new: int) -> list[tuple[str, dict]]:
    the_spec, state = spec(new), converged(spec(old))
    resize = plan_resize(the_spec, state)
    for index, planned in enumerate(plan_machines(the_spec)):
        state.machines.setdefault(planned.name, machine(planned, index + 20))
    final = [m.name for m in plan_machines(the_spec, state.machines)]
    return [(s.phase, step_inventory(the_spec, s, state.machines, final)) for s in resize.steps]


def test_step_inventories_of_one_to_three():
    (_, prepare), (_, zookeeper), (_, mesos), (_, finish) = inventories(1, 3)
    assert groups(prepare)["resize_prepare"] == [*masters(1, 2, 3), "p-agent-1"]
    zk = groups(zookeeper)
    assert zk["resize_zookeeper_staying"] == ["p-master-1"]
    assert zk["resize_zookeeper_joining"] == ["p-master-2", "p-master-3"]
    assert zk["zookeeper"] == list(masters(1, 2, 3))
    assert len(zookeeper["all"]["children"]["zookeeper"]["vars"]["zookeeper_servers"]) == 3
    found = groups(mesos)
    assert found["resize_masters_fresh"] == ["p-master-1"]
    assert found["resize_masters_together"] == list(masters(1, 2, 3))
    master_vars = mesos["all"]["children"]["mesos"]["children"]["mesos_masters"]["vars"]
    assert master_vars["mesos_master_quorum"] == 2
    assert groups(finish)["resize_finish"] == [*masters(1, 2, 3), "p-agent-1"]


def test_step_inventories_of_three_to_one_strip_the_leaving_masters():
    (_, retire_3), (_, retire_2), (_, zookeeper), (_, mesos), (_, finish) = inventories(3, 1)
    found = groups(retire_3)
    assert found["resize_retire"] == ["p-master-3"]
    assert found["resize_retire_later"] == ["p-master-2"]
    assert found["zookeeper"] == found["mesos_masters"] == ["p-master-1"]
    assert retire_3["all"]["children"]["resize_retire"]["vars"]["resize_ensemble_size"] == 3
    assert "zookeeper_myid" not in retire_3["all"]["hosts"]["p-master-3"]
    assert "dcos_node_address" in retire_3["all"]["hosts"]["p-master-2"]
    mesos_vars = retire_3["all"]["children"]["mesos"]["vars"]
    assert mesos_vars["mesos_zk_url"] == "zk://10.0.3.10:2181/mesos"
    assert groups(retire_2)["resize_retire"] == ["p-master-2"]
    assert groups(retire_2)["resize_retire_later"] == []
    assert groups(zookeeper)["resize_zookeeper_staying"] == ["p-master-1"]
    assert groups(mesos)["resize_masters_staying"] == ["p-master-1"]
    assert "p-master-2" not in finish["all"]["hosts"]
    three_five = dict(inventories(3, 5))["masters"]
    assert groups(three_five)["resize_masters_staying"] == list(masters(1, 2, 3))
    assert groups(three_five)["resize_masters_joining"] == list(masters(4, 5))


# ------------------------------------------------------------------ `up` carrying it out


class FakeProvider(Provider):
    """Machines appear and disappear in memory; records what it was asked."""

    created: ClassVar[list[str]] = []
    destroyed: ClassVar[list[str]] = []

    def create(self, machines):
        FakeProvider.created += [m.name for m in machines]
        return [machine(p, 40 + i) for i, p in enumerate(machines)]

    def destroy(self, names):
        FakeProvider.destroyed += names

    def list(self):
        return []


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """An `up` with a fake provider, fake playbook runs and a fake health check."""
    FakeProvider.created, FakeProvider.destroyed = [], []
    monkeypatch.setattr(cluster_module, "provider_for", lambda spec, d, p: FakeProvider(spec, d, p))
    runs: list[dict] = []
    fail_at: dict[str, int] = {}

    def run_playbook(playbook, *, inventory, state_dir, limit=None, **_kw):
        if len(runs) == fail_at.get("run"):
            raise AnsibleError(f"{playbook} failed on 1 host(s)")
        runs.append({"playbook": playbook, "limit": limit, "inventory": yaml.safe_load(
            Path(inventory).read_text())})  # fmt: skip
        stats = {host: HostStats(ok=1) for host in limit or []}
        return PlaybookResult(playbook, "successful", 0, stats, tmp_path / "log")

    monkeypatch.setattr("provisioner.ansible.run_playbook", run_playbook)
    health_calls: list[int] = []
    unhealthy: dict[str, str] = {}

    def check_cluster(the_spec, machines, credential=None, view=None):
        health_calls.append(the_spec.masters.count)
        checks = [CheckResult(layer, "x", None, True, "ok") for layer in LAYERS]
        if unhealthy:
            host, detail = next(iter(unhealthy.items()))
            checks.append(CheckResult("zookeeper", "ruok", host, False, detail))
        return HealthReport(cluster="p", checks=checks)

    monkeypatch.setattr(resize_run, "check_cluster", check_cluster)
    monkeypatch.setattr(resize_run, "GATE_INTERVAL_S", 0.0)
    path = tmp_path / "p.yaml"

    class Lab:
        pass

    lab = Lab()
    lab.runs, lab.fail_at, lab.health, lab.unhealthy = runs, fail_at, health_calls, unhealthy

    def cluster():
        return open_cluster(path, state_dir=tmp_path / "state")

    def up(masters_count: int):
        path.write_text(spec_text(masters_count))
        return cluster(), operations.up(cluster(), verify=False)

    lab.cluster, lab.up = cluster, up
    return lab


def test_up_resizes_step_by_step_and_a_second_up_is_a_drift_check(lab):
    lab.up(1)
    lab.runs.clear()
    cluster, result = lab.up(3)
    assert FakeProvider.created[-2:] == ["p-master-2", "p-master-3"]
    assert [r["playbook"] for r in lab.runs] == ["resize_masters.yml"] * 4
    assert lab.runs[1]["limit"] == list(masters(1, 2, 3))
    assert lab.health[0] == 1  # the pre-check looks at the cluster as it was
    assert [p.playbook for p in result.playbooks] == ["resize_masters.yml"] * 4
    state = cluster.store.load()
    assert not {k for k in state.applied if k.startswith("resize")}
    core = [state.machines[n] for n in masters(1, 2, 3)]
    assert set(state.converged.values()) == {config_fingerprint(cluster.spec, core)}
    assert set(state.converged) == {*masters(1, 2, 3), "p-agent-1"}
    follow_up = compute_plan(cluster.spec, state)
    assert kinds(follow_up) == [("drift_check", "site.yml"), ("wait_healthy", None)]


def test_an_interrupted_resize_continues_where_it_stopped(lab):
    lab.up(1)
    lab.runs.clear()
    lab.fail_at["run"] = 2  # the Mesos step fails
    with pytest.raises(AnsibleError):
        lab.up(3)
    state = lab.cluster().store.load()
    assert state.applied["resize_done"] == "2" and "p-master-3" in state.machines
    lab.fail_at.clear()
    lab.health.clear()
    lab.runs.clear()
    _, result = lab.up(3)
    assert [a.kind for a in result.plan.actions] == ["resize", "resize", "wait_healthy"]
    assert len(lab.runs) == 2
    assert lab.runs[0]["inventory"]["all"]["children"]["resize_masters_fresh"]
    assert 1 not in lab.health  # no pre-check of the old shape mid-way
    assert "resize_to" not in lab.cluster().store.load().applied


def test_an_unhealthy_cluster_is_not_resized(lab):
    cluster, _ = lab.up(1)
    lab.runs.clear()
    lab.unhealthy["p-master-1"] = "down: port 2181 connection refused"
    with pytest.raises(QuorumError) as refused:
        lab.up(3)
    assert "p-master-1 (10.0.3.50) down: port 2181" in refused.value.message
    assert "refusing to resize the masters 1 -> 3" in refused.value.message
    assert lab.runs == [] and "p-master-2" not in FakeProvider.created
    assert "resize_to" not in cluster.store.load().applied


def test_shrinking_destroys_the_leaving_masters_after_the_last_step(lab):
    lab.up(3)
    cluster, result = lab.up(1)
    assert result.destroyed == ["p-master-3", "p-master-2"]
    assert [run["limit"] for run in lab.runs[-5:-3]] == [["p-master-3"], ["p-master-2"]]
    state = cluster.store.load()
    assert set(state.machines) == {"p-master-1", "p-agent-1"}
    assert "resize_to" not in state.applied
    assert kinds(compute_plan(cluster.spec, state))[0] == ("drift_check", "site.yml")
