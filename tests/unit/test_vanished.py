"""`up` forgets recorded machines the provider no longer has, so its plan recreates them."""

from __future__ import annotations

from provisioner.domain import Machine
from provisioner.plan import ActionKind, compute_plan
from provisioner.providers.base import Provider
from provisioner.spec.file import load_spec
from provisioner.state import ClusterState
from provisioner.vanished import forget_vanished

SPEC = "name: demo\nprovider: {kind: vagrant}\nagents: {count: 1}\n"


class RecordingProvider(Provider):
    """Answers `vanished` from a fixed set and records what it was asked."""

    def __init__(self, spec, tmp_path, gone, deletes=True):
        super().__init__(spec, tmp_path)
        self.gone, self.asked = set(gone), []
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
