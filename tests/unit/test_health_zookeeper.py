"""ZooKeeper layer: members named when down, one leader, modes, sync and membership."""

from __future__ import annotations

import pytest

from .health_fakes import MASTERS, FakeCluster, failed, one, run, statuses


@pytest.fixture
def cluster():
    fake = FakeCluster(masters=3, agents=2)
    yield fake
    fake.close()


def test_zookeeper_member_down_is_named_while_quorum_holds(cluster):
    cluster.zookeepers["demo-master-2"].stop()
    cluster.set_zk("demo-master-1", "leader", synced=1)

    report = run(cluster)

    assert not report.healthy
    assert statuses(report) == [
        ("reachability", "ok"),
        ("zookeeper", "failed"),
        ("mesos_masters", "ok"),
        ("mesos_agents", "ok"),
    ]
    assert failed(report, "zookeeper") == {
        ("ruok", "demo-master-2"),
        ("mode", "demo-master-2"),
        ("synced_followers", "demo-master-1"),
        ("membership", None),
    }
    assert one(report, "zookeeper", "ruok", "demo-master-2").detail == (
        "down: port 2181 connection refused"
    )
    assert one(report, "zookeeper", "quorum").detail == "2 of 3 members serving, quorum 2"
    assert one(report, "zookeeper", "synced_followers", "demo-master-1").detail == (
        "zk_synced_followers=1, expected 2"
    )
    membership = one(report, "zookeeper", "membership").detail
    assert "not serving: demo-master-2" in membership
    assert "1 followers connected to the leader, expected 2" in membership


def test_two_zookeeper_leaders_fail_and_skip_the_mesos_layers(cluster):
    cluster.set_zk("demo-master-2", "leader")

    report = run(cluster)

    leader = one(report, "zookeeper", "leader")
    assert not leader.ok
    assert leader.detail == "2 leaders: demo-master-1, demo-master-2 (split ensemble)"
    assert statuses(report)[2:] == [("mesos_masters", "skipped"), ("mesos_agents", "skipped")]
    for layer in ("mesos_masters", "mesos_agents"):
        [skipped] = report.layer_checks(layer)
        assert (skipped.ok, skipped.detail) == (False, "skipped: zookeeper failed")
    assert not any(path for _, _, path in cluster.mesos.requests)  # Mesos was never asked


def test_no_zookeeper_leader_is_quorum_lost(cluster):
    for name in MASTERS:
        cluster.set_zk(name, "not_serving")

    report = run(cluster)

    assert one(report, "zookeeper", "leader").detail.startswith("no leader (demo-master-1: ")
    assert one(report, "zookeeper", "quorum").detail == (
        "quorum lost: 0 of 3 members serving, quorum 2"
    )
    assert one(report, "zookeeper", "mode", "demo-master-3").detail == (
        "not serving requests (no quorum: it cannot reach enough members), "
        "expected leader or follower"
    )
    assert all(c.ok for c in report.checks if c.name == "ruok")  # the processes do run
    assert report.layer_checks("mesos_masters")[0].detail == "skipped: zookeeper failed"


def test_standalone_member_in_a_three_member_ensemble(cluster):
    cluster.set_zk("demo-master-2", "standalone")
    cluster.set_zk("demo-master-1", "leader", synced=1)

    report = run(cluster)

    assert one(report, "zookeeper", "mode", "demo-master-2").detail == (
        "mode=standalone, expected follower"
    )
    assert failed(report, "zookeeper") == {
        ("mode", "demo-master-2"),
        ("synced_followers", "demo-master-1"),
        ("membership", None),
    }
    assert one(report, "zookeeper", "quorum").ok
    assert report.layer_ok("mesos_masters") and report.layer_ok("mesos_agents")


def test_four_letter_words_not_whitelisted_are_explained(cluster):
    cluster.zookeepers["demo-master-3"].answers["ruok"] = (
        "ruok is not executed because it is not in the whitelist.\n"
    )

    report = run(cluster)

    assert one(report, "zookeeper", "ruok", "demo-master-3").detail == (
        "'ruok' is not in 4lw.commands.whitelist on this member"
    )
