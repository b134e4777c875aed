"""`up` forgets recorded machines the provider no longer has, so its plan recreates them."""

from __future__ import annotations

from provisioner.domain import Machine
from provisioner.plan import ActionKind, compute_plan
from provisioner.providers.base import Provider
from provisioner.spec.file import load_spec
from provisioner.state import ClusterState
from provisioner.vanished import account_for_silent, forget_vanished

SPEC = "name: demo\nprovider: {kind: vagrant}\nagents: {count: 1}\n"


class RecordingProvider(Provider):
    """Answers `vanished` from a fixed set and records what it was asked."""

    def __init__(self, spec, tmp_path, gone, deletes=True, stopped=()):
        super().__init__(spec, tmp_path)
        self.gone, self.asked = set(gone), []
        self.stopped_names, self.asked_stopped = set(stopped), []
        self.deletes_machines = self.detects_vanished = deletes

    def create(self, machines):
        raise AssertionError("not called")

    def destroy(self, names):
        raise AssertionError("not called")

    def list(self):
        raise AssertionError("not called")

    def vanished(self, names):
        self.asked.append(list(names))
        return [n for n in names if n in self.gone]

    def stopped(self, names):
        self.asked_stopped.append(list(names))
        return [n for n in names if n in self.stopped_names]


def converged_state():
    state = ClusterState(cluster="demo", provider="vagrant")
    state.machines = {
        "demo-master-1": Machine(
            "demo-master-1", ("master", "zookeeper"), "192.0.2.11", "vagrant", zookeeper_id=1
        ),
        "demo-agent-1": Machine("demo-agent-1", ("agent",), "192.0.2.21", "vagrant"),
    }
    state.converged = {n: "fp" for n in state.machines}
    state.observed = {n: {"x": "y"} for n in state.machines}
    state.applied = {"mesos_version": "1.11.0"}
    return state


def test_a_vanished_master_is_forgotten_and_planned_again(tmp_path):
    spec_file = tmp_path / "c.yaml"
    spec_file.write_text(SPEC)
    spec = load_spec(spec_file)
    state = converged_state()
    provider = RecordingProvider(spec, tmp_path, gone={"demo-master-1"})
    silent = {"demo-master-1"}
    gone = forget_vanished(state, provider, answers=lambda m: m.name not in silent)
    assert gone == ["demo-master-1"]
    assert provider.asked == [["demo-master-1"]]  # only hosts whose SSH port is silent
    assert "demo-master-1" not in state.machines | state.converged | state.observed
    assert state.history[-1]["operation"] == "vanished"
    plan = compute_plan(spec, state)
    assert plan.of_kind(ActionKind.CREATE)[0].hosts == ("demo-master-1",)
    converge = plan.of_kind(ActionKind.CONVERGE)[0]
    assert converge.playbook == "site.yml"  # the recreated master and its ZooKeeper


def test_stopped_hosts_and_reachable_hosts_are_kept(tmp_path):
    spec_file = tmp_path / "c.yaml"
    spec_file.write_text(SPEC)
    spec = load_spec(spec_file)
    state = converged_state()
    provider = RecordingProvider(spec, tmp_path, gone=set())
    assert forget_vanished(state, provider, answers=lambda m: False) == []
    assert set(state.machines) == {"demo-master-1", "demo-agent-1"}
    provider = RecordingProvider(spec, tmp_path, gone={"demo-master-1"})
    assert forget_vanished(state, provider, answers=lambda m: True) == []
    assert provider.asked == []  # a healthy cluster costs no provider call


def test_adopted_hosts_are_never_forgotten(tmp_path):
    spec_file = tmp_path / "c.yaml"
    spec_file.write_text(SPEC)
    state = converged_state()
    provider = RecordingProvider(load_spec(spec_file), tmp_path, {"demo-master-1"}, False)
    assert forget_vanished(state, provider, answers=lambda m: False) == []
    assert "demo-master-1" in state.machines


def test_the_cluster_identity_is_kept_in_state_json():
    state = ClusterState(cluster="demo", provider="vagrant")
    ident = state.ensure_cluster_id()
    assert len(ident) == 16 and state.ensure_cluster_id() == ident
    again = ClusterState.from_dict(state.to_dict())
    assert again.cluster_id == ident
    assert "cluster_id" not in ClusterState(cluster="d", provider="vagrant").to_dict()


def test_plan_shows_the_vanished_master_without_changing_state(tmp_path, monkeypatch):
    from provisioner import operations
    from provisioner.cluster import Cluster, open_cluster

    spec_file = tmp_path / "c.yaml"
    spec_file.write_text(SPEC)
    cluster = open_cluster(spec_file, tmp_path / "state")
    cluster.store.save(converged_state())
    saved = cluster.store.state_file.read_bytes()
    provider = RecordingProvider(cluster.spec, tmp_path, gone={"demo-master-1"})
    monkeypatch.setattr(Cluster, "provider", lambda self: provider)
    # Both recorded addresses are documentation-range addresses nobody answers on.
    monkeypatch.setattr("provisioner.vanished.CONNECT_TIMEOUT_S", 0.2)
    plan = operations.plan(cluster)
    assert plan.of_kind(ActionKind.CREATE)[0].hosts == ("demo-master-1",)
    assert cluster.store.state_file.read_bytes() == saved


def test_a_stopped_agent_is_planned_for_a_start_and_kept(tmp_path):
    spec_file = tmp_path / "c.yaml"
    spec_file.write_text(SPEC)
    spec = load_spec(spec_file)
    state = converged_state()
    provider = RecordingProvider(spec, tmp_path, gone=set(), stopped={"demo-agent-1"})
    absent = account_for_silent(state, provider, answers=lambda m: m.name != "demo-agent-1")
    assert (absent.gone, absent.stopped) == ([], ["demo-agent-1"])
    assert provider.asked_stopped == [["demo-agent-1"]]
    assert "demo-agent-1" in state.machines and "demo-agent-1" in state.observed
    plan = compute_plan(spec, state, stopped=tuple(absent.stopped))
    assert plan.actions[0].kind == ActionKind.START
    assert plan.actions[0].hosts == ("demo-agent-1",) and plan.changes_machines
    assert not plan.of_kind(ActionKind.CREATE)
    # then the usual converge (or drift check) and the health wait
    assert [a.kind for a in plan.actions[1:]] == [ActionKind.CONVERGE, ActionKind.WAIT_HEALTHY]
    # A gone machine is not also asked about as stopped; a healthy cluster asks nothing.
    provider = RecordingProvider(spec, tmp_path, gone={"demo-master-1"}, stopped={"demo-agent-1"})
    absent = account_for_silent(state, provider, answers=lambda m: False)
    assert (absent.gone, absent.stopped) == (["demo-master-1"], ["demo-agent-1"])
    assert provider.asked_stopped == [["demo-agent-1"]]
    provider = RecordingProvider(spec, tmp_path, gone=set(), stopped={"demo-agent-1"})
    assert account_for_silent(state, provider, answers=lambda m: True).stopped == []
    assert provider.asked_stopped == []


def test_a_stopped_agent_that_leaves_the_spec_is_not_started(tmp_path):
    spec_file = tmp_path / "c.yaml"
    spec_file.write_text(SPEC.replace("count: 1", "count: 0"))
    state = converged_state()
    plan = compute_plan(load_spec(spec_file), state, stopped=("demo-agent-1",))
    assert not plan.of_kind(ActionKind.START)


def _run_start(tmp_path, new_address):
    """Run `up`'s start step against a provider that brings demo-agent-1 back on an address."""
    from dataclasses import replace

    from provisioner import up_steps
    from provisioner.cluster import open_cluster

    spec_file = tmp_path / "c.yaml"
    spec_file.write_text(SPEC)
    cluster = open_cluster(spec_file, tmp_path / "state")
    state = converged_state()
    messages = []
    cluster.progress = messages.append

    class Starting(RecordingProvider):
        def start(self, machines):
            self.started = [m.name for m in machines]
            return [replace(m, address=new_address) for m in machines]

    provider = Starting(cluster.spec, tmp_path, gone=set(), stopped={"demo-agent-1"})
    plan = compute_plan(cluster.spec, state, stopped=("demo-agent-1",))
    run = up_steps.UpRun(
        cluster, state, plan, provider, up_steps.RunResult("demo", plan), list(plan.planned),
        list(plan.planned), [], verify=False, workload=False, wait_timeout=1,
    )  # fmt: skip
    up_steps.STEPS[ActionKind.START](run, plan.actions[0])
    assert provider.started == ["demo-agent-1"]
    saved = cluster.store.load()
    assert saved.history[-1]["operation"] == "start"
    assert saved.machines["demo-agent-1"].address == new_address
    return saved, messages


def test_a_started_machine_on_its_old_address_keeps_what_the_drift_check_recorded(tmp_path):
    saved, messages = _run_start(tmp_path, "192.0.2.21")
    assert set(saved.observed) == {"demo-master-1", "demo-agent-1"}
    assert not [m for m in messages if "new address" in m]


def test_a_started_machine_on_a_new_address_makes_every_host_converge(tmp_path):
    saved, messages = _run_start(tmp_path, "192.0.2.99")
    assert saved.observed == {}  # the drift check now converges every host
    assert any("demo-agent-1 192.0.2.21 -> 192.0.2.99" in m for m in messages), messages
