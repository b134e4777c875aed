"""Mesos layers: one elected leader agreed by ZooKeeper, failover, quorum, agents on the leader."""

from __future__ import annotations

import pytest

from .health_fakes import FakeCluster, failed, one, run, statuses


@pytest.fixture
def cluster():
    fake = FakeCluster(masters=3, agents=2)
    yield fake
    fake.close()


def test_two_mesos_masters_elected(cluster):
    cluster.mesos.masters["demo-master-2"].elected = True

    report = run(cluster)

    elected = one(report, "mesos_masters", "elected")
    assert not elected.ok
    assert elected.detail == "2 masters report master/elected=1: demo-master-1, demo-master-2"
    assert not one(report, "mesos_masters", "leader").ok
    assert report.leader is None
    assert report.layer_checks("mesos_agents")[0].detail == "skipped: mesos_masters failed"


def test_no_mesos_master_elected(cluster):
    cluster.mesos.elect(None)

    report = run(cluster)

    assert one(report, "mesos_masters", "elected").detail == (
        "no master reports master/elected=1 (no leader elected)"
    )
    assert one(report, "mesos_masters", "redirect", "demo-master-3").detail == (
        "/master/redirect 503: no leader elected"
    )
    assert statuses(report)[3] == ("mesos_agents", "skipped")


def test_leader_stopped_then_new_leader_elected(cluster):
    mesos = cluster.mesos
    mesos.stop_master("demo-master-1")
    # until its ZooKeeper session expires, nobody leads and survivors redirect to the dead one
    report = run(cluster)
    assert one(report, "mesos_masters", "health", "demo-master-1").detail == (
        "down: port 5050 connection refused"
    )
    assert not one(report, "mesos_masters", "elected").ok
    assert "not running: demo-master-1" in one(report, "mesos_masters", "znodes").detail
    assert statuses(report)[3] == ("mesos_agents", "skipped")

    mesos.expire("demo-master-1")
    mesos.elect("demo-master-2")  # agents keep their ids (old master's prefix) and re-register
    report = run(cluster)

    assert report.leader == "demo-master-2"
    assert failed(report, "mesos_masters") == {("health", "demo-master-1")}
    assert one(report, "mesos_masters", "quorum").detail == "2 of 3 masters running, quorum 2"
    assert one(report, "mesos_masters", "elected", "demo-master-2").ok
    assert one(report, "mesos_masters", "leader", "demo-master-2").ok
    assert one(report, "mesos_masters", "redirect", "demo-master-3").detail == (
        "redirects to //demo-master-2:5050"
    )
    assert report.layer_ok("mesos_agents"), report.layer_checks("mesos_agents")
    assert one(report, "mesos_agents", "registered", "demo-agent-1").detail == (
        "active on demo-master-2 as master-uuid-1-S0"
    )


def test_stale_lowest_znode_disagrees_with_the_elected_master(cluster):
    cluster.mesos.elect("demo-master-2")  # master 1 still holds json.info_0000000001

    report = run(cluster)

    leader = one(report, "mesos_masters", "leader", "demo-master-2")
    assert not leader.ok
    assert (
        "ZooKeeper's lowest /mesos/json.info_0000000001 is master@10.0.3.11:5050 "
        "(demo-master-1), not the elected demo-master-2"
    ) in leader.detail
    assert statuses(report)[3] == ("mesos_agents", "skipped")


def test_quorum_of_masters_lost(cluster):
    mesos = cluster.mesos
    for name in ("demo-master-2", "demo-master-3"):
        mesos.stop_master(name)
        mesos.expire(name)
    mesos.masters["demo-master-1"].recovered = 0.0  # cannot read the replicated log

    report = run(cluster)

    quorum = one(report, "mesos_masters", "quorum")
    assert not quorum.ok
    assert quorum.detail.startswith("quorum lost: 1 of 3 masters running, quorum 2")
    assert "down: demo-master-2, demo-master-3" in quorum.detail
    assert failed(report, "mesos_masters") == {
        ("health", "demo-master-2"),
        ("health", "demo-master-3"),
        ("quorum", None),
        ("registry", "demo-master-1"),
    }
    assert (
        "needs 2 of 3 masters, 1 running"
        in one(report, "mesos_masters", "registry", "demo-master-1").detail
    )
    assert report.layer_checks("mesos_agents")[0].detail == "skipped: mesos_masters failed"


def test_wrong_quorum_flag_and_stray_redirect_are_named(cluster):
    cluster.mesos.masters["demo-master-3"].quorum_flag = "1"
    cluster.mesos.masters["demo-master-2"].redirect_to = "demo-master-3"

    report = run(cluster)

    assert failed(report, "mesos_masters") == {
        ("quorum_flag", "demo-master-3"),
        ("redirect", "demo-master-2"),
    }
    assert one(report, "mesos_masters", "quorum_flag", "demo-master-3").detail == (
        "--quorum=1, expected 2 for 3 masters"
    )
    assert one(report, "mesos_masters", "redirect", "demo-master-2").detail == (
        "redirects to //demo-master-3:5050, but demo-master-1 leads (demo-master-1:5050)"
    )
    assert report.layer_ok("mesos_agents")  # non-gating: the agents are still checked


def test_inactive_agent_is_named(cluster):
    cluster.mesos.agents["demo-agent-2"].active = False

    report = run(cluster)

    assert failed(report, "mesos_agents") == {
        ("active_agents", None),
        ("registered", "demo-agent-2"),
    }
    assert one(report, "mesos_agents", "registered", "demo-agent-2").detail == (
        "registered with demo-master-1 but inactive (active=False)"
    )
    active = one(report, "mesos_agents", "active_agents").detail
    assert active.startswith("1 of 2 agent(s) active on demo-master-1")
    assert "missing or inactive: demo-agent-2" in active


def test_unregistered_and_recovered_agents(cluster):
    cluster.mesos.agents["demo-agent-1"].listed = False
    cluster.mesos.agents["demo-agent-1"].slave_registered = 0.0
    cluster.mesos.agents["demo-agent-2"].recovered_only = True

    report = run(cluster)

    assert one(report, "mesos_agents", "registered", "demo-agent-1").detail == (
        "not registered with demo-master-1"
    )
    assert one(report, "mesos_agents", "state", "demo-agent-1").detail == (
        "agent id is empty: not registered yet (master_hostname demo-master-1)"
    )
    assert not one(report, "mesos_agents", "slave_registered", "demo-agent-1").ok
    assert one(report, "mesos_agents", "registered", "demo-agent-2").detail == (
        "not re-registered with demo-master-1 yet (listed in recovered_slaves)"
    )
    assert (
        "missing or inactive: demo-agent-1, demo-agent-2"
        in one(report, "mesos_agents", "active_agents").detail
    )


def test_agent_resources_mismatch(cluster):
    cluster.mesos.agents["demo-agent-1"].resources.update(mem=1024.0, cpus=1.0)

    report = run(cluster)

    assert failed(report, "mesos_agents") == {("resources", "demo-agent-1")}
    assert one(report, "mesos_agents", "resources", "demo-agent-1").detail == (
        "cpus=1, expected 2; mem=1024, expected 2048"
    )


def test_zookeeper_read_error_is_a_failed_check(cluster):
    cluster.mesos.zk_error = "no ZooKeeper session within 3s"

    report = run(cluster)

    assert one(report, "mesos_masters", "znodes").detail == (
        "cannot read /mesos in ZooKeeper: no ZooKeeper session within 3s"
    )
    assert (
        "no ZooKeeper session within 3s"
        in one(report, "mesos_masters", "leader", "demo-master-1").detail
    )


def test_agents_are_matched_by_their_pid_address_whatever_hostname_they_advertise(cluster):
    # Real Mesos advertised "localhost" in a recorded run; slaves[].pid carries the address.
    for agent in cluster.mesos.agents.values():
        agent.hostname = "localhost"

    report = run(cluster)

    assert report.layer_ok("mesos_agents"), statuses(report)
    assert one(report, "mesos_agents", "active_agents").detail == (
        "2 active agent(s) on demo-master-1 as in the spec: demo-agent-1, demo-agent-2"
    )


def test_an_agent_at_another_address_is_not_taken_for_ours(cluster):
    cluster.mesos.agents["demo-agent-2"].hostname = "localhost"
    cluster.mesos.agents["demo-agent-2"].machine = cluster.machine("demo-agent-2").__class__(
        **{**cluster.machine("demo-agent-2").__dict__, "address": "10.9.9.9"}
    )

    report = run(cluster)

    assert ("registered", "demo-agent-2") in failed(report, "mesos_agents")
    assert "not in the spec: localhost" in one(report, "mesos_agents", "active_agents").detail


def test_the_report_says_which_mesos_the_leader_runs(cluster):
    assert run(cluster).mesos_description == "Apache Mesos 1.12.0"

    cluster.mesos.version = {"version": "1.12.0", "standin": "dcos-provision Mesos test stand-in"}

    report = run(cluster)
    assert report.mesos == {"kind": "stand-in", "version": "1.12.0"}
    assert "TEST STAND-IN" in (report.mesos_description or "")
