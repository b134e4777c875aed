"""Plan (spec vs state) and the state store (atomic writes, lock)."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from provisioner.domain import Machine
from provisioner.errors import QuorumError, StateError, StateLockedError, UsageError
from provisioner.plan import compute_plan, config_fingerprint
from provisioner.spec.file import parse_spec
from provisioner.state import ClusterState, StateStore
from provisioner.topology import plan_machines

BASE = "name: p\nprovider: {kind: vagrant}\nmasters: {count: 3}\n"


def spec_with(agents: int, extra: str = ""):
    return parse_spec(BASE + f"agents: {{count: {agents}}}\n" + extra)


def converged_state(spec) -> ClusterState:
    state = ClusterState(cluster="p", provider="vagrant")
    for index, planned in enumerate(plan_machines(spec)):
        state.machines[planned.name] = Machine(
            name=planned.name,
            roles=planned.roles,
            address=f"10.0.3.{index + 2}",
            ssh_user="vagrant",
            zookeeper_id=planned.zookeeper_id,
        )
    core = [m for m in state.machines.values() if "master" in m.roles]
    for name in state.machines:
        state.converged[name] = config_fingerprint(spec, core)
    return state


def kinds(plan):
    return [(a.kind, a.playbook, list(a.hosts)) for a in plan.actions]


def test_new_cluster_creates_everything_and_runs_site():
    spec = spec_with(1)
    plan = compute_plan(spec, ClusterState(cluster="p", provider="vagrant"))
    names = ["p-master-1", "p-master-2", "p-master-3", "p-agent-1"]
    assert kinds(plan) == [
        ("create", None, names),
        ("converge", "site.yml", names),
        ("wait_healthy", None, names),
    ]
    assert plan.changes_machines


def test_second_up_is_a_drift_check_only():
    spec = spec_with(1)
    plan = compute_plan(spec, converged_state(spec))
    assert [(a.kind, a.playbook) for a in plan.actions] == [
        ("drift_check", "site.yml"),
        ("wait_healthy", None),
    ]
    assert "site.yml runs on the hosts that drifted" in plan.actions[0].reason
    assert not plan.changes_machines


def test_converge_on_request_runs_site_yml_everywhere():
    spec = spec_with(1)
    plan = compute_plan(spec, converged_state(spec), converge=True)
    assert kinds(plan)[0] == ("converge", "site.yml", [a.name for a in plan_machines(spec)])
    assert plan.actions[0].reason == "full converge on request (--converge); no change expected"


def test_a_changed_configuration_is_converged_everywhere_not_drift_checked():
    state = converged_state(spec_with(1))
    plan = compute_plan(spec_with(1, "mesos: {agent_flags: {launcher: posix}}\n"), state)
    assert plan.actions[0].kind == "converge"
    assert plan.actions[0].reason == "configuration changed"


def test_adding_agents_touches_only_the_new_hosts():
    """scale.yml on the new agents; the other hosts get their rules file alone, all at once
    (firewall.yml) before the new agents start, instead of one host after another."""
    state = converged_state(spec_with(1))
    plan = compute_plan(spec_with(3), state)
    others = ["p-master-1", "p-master-2", "p-master-3", "p-agent-1"]
    assert kinds(plan)[:3] == [
        ("create", None, ["p-agent-2", "p-agent-3"]),
        ("firewall", "firewall.yml", others),
        ("converge", "scale.yml", ["p-agent-2", "p-agent-3"]),
    ]
    assert "before they start" in plan.actions[1].reason
    off = "security: {firewall: {enabled: false}}\n"
    unguarded = compute_plan(spec_with(3, off), converged_state(spec_with(1, off)))
    assert [a.kind for a in unguarded.actions][:2] == ["create", "converge"]


def test_removing_agents_drains_newest_before_destroying():
    state = converged_state(spec_with(3))
    plan = compute_plan(spec_with(1), state)
    assert kinds(plan)[:2] == [
        ("remove_agents", "remove_agents.yml", ["p-agent-2", "p-agent-3"]),
        ("destroy", None, ["p-agent-2", "p-agent-3"]),
    ]


def test_removing_agents_rewrites_the_remaining_hosts_firewall_rules():
    """Issue 20: a removed agent's address must leave every allow-list (firewall.yml on the
    hosts that stay, after the destroy); no such step when the spec has no firewall."""
    state = converged_state(spec_with(3))
    plan = compute_plan(spec_with(1), state)
    remaining = ["p-master-1", "p-master-2", "p-master-3", "p-agent-1"]
    assert kinds(plan)[2] == ("firewall", "firewall.yml", remaining)
    off = "security: {firewall: {enabled: false}}\n"
    assert not compute_plan(spec_with(1, off), converged_state(spec_with(3, off))).of_kind(
        "firewall"
    )
    assert not compute_plan(spec_with(3), state).of_kind("firewall")


def test_prometheus_follows_the_agents_after_they_join_or_leave():
    """Prometheus on the masters scrapes every host and its agents-below-spec rule expects the
    spec's count: after scale.yml, or after a removal (then the drift check), the masters get
    monitoring_targets.yml, before the health wait; not on a no-op up, not without monitoring."""
    masters = ["p-master-1", "p-master-2", "p-master-3"]
    grown = compute_plan(spec_with(3), converged_state(spec_with(1)))
    assert kinds(grown)[2:] == [
        ("converge", "scale.yml", ["p-agent-2", "p-agent-3"]),
        ("monitoring", "monitoring_targets.yml", masters),
        ("wait_healthy", None, [*masters, "p-agent-1", "p-agent-2", "p-agent-3"]),
    ]
    assert "expects 3" in grown.of_kind("monitoring")[0].reason
    shrunk = compute_plan(spec_with(1), converged_state(spec_with(3)))
    assert [a.kind for a in shrunk.actions] == [
        "remove_agents", "destroy", "firewall", "drift_check", "monitoring", "wait_healthy"
    ]  # fmt: skip
    assert shrunk.of_kind("monitoring")[0].hosts == tuple(masters)
    assert not compute_plan(spec_with(1), converged_state(spec_with(1))).of_kind("monitoring")
    off = "monitoring: {enabled: false}\n"
    assert not compute_plan(spec_with(3, off), converged_state(spec_with(1, off))).of_kind(
        "monitoring"
    )


def test_a_changed_monitoring_setting_reconverges():
    """The monitoring section shapes every host's files: a new retention is applied by `up`
    (a drift check alone would find the files as last written and change nothing)."""
    state = converged_state(spec_with(1))
    plan = compute_plan(spec_with(1, "monitoring: {retention_days: 30}\n"), state)
    assert kinds(plan)[0][:2] == ("converge", "site.yml")
    assert plan.actions[0].reason == "configuration changed"


def test_config_change_reconverges_everything():
    state = converged_state(spec_with(1))
    plan = compute_plan(spec_with(2, "mesos: {version: 1.11.1}\n"), state)
    converge = plan.of_kind("converge")[0]
    assert converge.playbook == "site.yml" and len(converge.hosts) == 5


def test_fingerprint_ignores_agents_but_not_mesos_settings():
    one, two = spec_with(1), spec_with(2)
    core = [m for m in converged_state(one).machines.values() if "master" in m.roles]
    assert config_fingerprint(one, core) == config_fingerprint(two, core)
    flags = spec_with(1, "mesos: {agent_flags: {launcher: posix}}\n")
    assert config_fingerprint(one, core) != config_fingerprint(flags, core)


def test_master_resize_of_an_existing_cluster_is_a_stepwise_resize():
    state = converged_state(spec_with(1))
    plan = compute_plan(parse_spec(BASE.replace("count: 3", "count: 5")), state)
    assert [a.kind for a in plan.actions] == ["create", *["resize"] * 4, "wait_healthy"]
    assert plan.actions[0].hosts == ("p-master-4", "p-master-5")
    assert {a.playbook for a in plan.of_kind("resize")} == {"resize_masters.yml"}
    assert "site.yml" not in {a.playbook for a in plan.actions}  # never all masters at once
    dedicated = "zookeeper: {placement: dedicated, count: 3}\n"
    state = converged_state(parse_spec(BASE + dedicated))
    with pytest.raises(QuorumError, match=r"dedicated ZooKeeper ensemble .*6 -> 8 core machines"):
        compute_plan(parse_spec(BASE.replace("count: 3", "count: 5") + dedicated), state)


def test_state_round_trip_and_atomic_file(tmp_path):
    store = StateStore(tmp_path / "p", "p", "vagrant")
    state = converged_state(spec_with(1))
    state.record("create", hosts=["p-agent-1"])
    store.save(state)
    loaded = store.load()
    assert loaded.machines == state.machines and loaded.converged == state.converged
    assert json.loads(store.state_file.read_text())["version"] == 1
    assert [p.name for p in store.directory.iterdir()] == ["state.json"]
    assert oct(store.state_file.stat().st_mode & 0o777) == "0o600"


def test_state_of_another_cluster_or_provider_is_refused(tmp_path):
    StateStore(tmp_path, "p", "vagrant").save(ClusterState(cluster="p", provider="vagrant"))
    with pytest.raises(StateError, match="belongs to cluster 'p'"):
        StateStore(tmp_path, "q", "vagrant").load()
    with pytest.raises(StateError, match="was created with provider 'vagrant'"):
        StateStore(tmp_path, "p", "static").load()
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(StateError, match="cannot read the cluster state"):
        StateStore(tmp_path, "p", "vagrant").load()


def _hold_lock(directory, ready, release):
    store = StateStore(directory, "p", "vagrant")
    with store.lock("up"):
        ready.set()
        release.wait(10)


def test_lock_stops_a_second_command(tmp_path):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with (
            pytest.raises(StateLockedError, match=r"busy: `up` \(pid \d+"),
            StateStore(tmp_path, "p", "vagrant").lock("down"),
        ):
            pass
    finally:
        release.set()
        holder.join(10)
    with StateStore(tmp_path, "p", "vagrant").lock("down"):
        pass


def test_version_change_is_a_rolling_upgrade_not_a_restart_of_everything():
    state = converged_state(spec_with(1))
    state.applied["mesos_version"] = "1.11.0"
    same = compute_plan(spec_with(1), state)
    assert same.of_kind("drift_check")[0].playbook == "site.yml"
    plan = compute_plan(spec_with(1, "mesos: {version: 1.12.0}\n"), state)
    upgrade = plan.of_kind("converge")[0]
    assert upgrade.playbook == "upgrade.yml"
    assert "1.11.0 -> 1.12.0" in upgrade.reason and len(upgrade.hosts) == 4


def test_remove_named_agents_instead_of_the_newest_and_never_reuse_their_names():
    state = converged_state(spec_with(3))
    plan = compute_plan(spec_with(2), state, remove=("p-agent-1",))
    assert kinds(plan)[:2] == [
        ("remove_agents", "remove_agents.yml", ["p-agent-1"]),
        ("destroy", None, ["p-agent-1"]),
    ]
    replaced = compute_plan(spec_with(3), state, remove=("p-agent-2",))
    assert replaced.of_kind("create")[0].hosts == ("p-agent-4",)
    assert replaced.of_kind("remove_agents")[0].hosts == ("p-agent-2",)


def test_remove_must_name_an_existing_agent():
    state = converged_state(spec_with(1))
    with pytest.raises(UsageError, match="--remove names no agent of cluster 'p': p-master-1"):
        compute_plan(spec_with(1), state, remove=("p-master-1",))


def test_agent_names_stay_stable_after_a_removal():
    from provisioner.topology import plan_machines

    spec = spec_with(2)
    names = [m.name for m in plan_machines(spec, ["p-agent-2", "p-agent-3"])]
    assert names[-2:] == ["p-agent-2", "p-agent-3"]
    assert [m.name for m in plan_machines(spec_with(1), ["p-agent-2", "p-agent-3"])][-1] == (
        "p-agent-2"
    )
