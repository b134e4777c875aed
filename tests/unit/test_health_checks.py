"""Layered health checks against fake ZooKeeper servers (real sockets) and a scripted Mesos."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from provisioner.health import check_cluster

from .health_fakes import ALL_OK, FakeCluster, failed, one, run, statuses


@pytest.fixture
def cluster():
    fake = FakeCluster(masters=3, agents=2)
    yield fake
    fake.close()


def test_healthy_three_masters_two_agents(cluster):
    report = run(cluster)

    assert report.healthy, report.failures()
    assert report.leader == "demo-master-1"
    assert statuses(report) == ALL_OK
    counts = Counter((c.layer, c.name) for c in report.checks)
    assert counts == {
        ("reachability", "ssh"): 5,
        ("zookeeper", "ruok"): 3,
        ("zookeeper", "mode"): 3,
        ("zookeeper", "leader"): 1,
        ("zookeeper", "quorum"): 1,
        ("zookeeper", "synced_followers"): 1,
        ("zookeeper", "membership"): 1,
        ("mesos_masters", "health"): 3,
        ("mesos_masters", "metrics"): 3,
        ("mesos_masters", "quorum_flag"): 3,
        ("mesos_masters", "version"): 3,
        ("mesos_masters", "quorum"): 1,
        ("mesos_masters", "elected"): 1,
        ("mesos_masters", "registry"): 1,
        ("mesos_masters", "leader"): 1,
        ("mesos_masters", "znodes"): 1,
        ("mesos_masters", "redirect"): 3,
        ("mesos_agents", "active_agents"): 1,
        ("mesos_agents", "registered"): 2,
        ("mesos_agents", "state"): 2,
        ("mesos_agents", "slave_registered"): 2,
        ("mesos_agents", "resources"): 2,
        ("mesos_agents", "version"): 2,
    }
    assert one(report, "zookeeper", "leader", "demo-master-1").detail == (
        "demo-master-1 leads the ensemble"
    )
    assert one(report, "zookeeper", "synced_followers", "demo-master-1").detail == (
        "zk_synced_followers=2"
    )
    assert one(report, "mesos_masters", "leader", "demo-master-1").detail.startswith(
        "master@10.0.3.11:5050: master/elected, /master/state and ZooKeeper "
        "/mesos/json.info_0000000001 agree"
    )
    assert one(report, "mesos_agents", "resources", "demo-agent-2").detail == (
        "cpus=2 mem=2048 disk=10240 as in the spec"
    )
    # metrics are asked once per node and pass, with a server-side timeout
    metrics = [r for r in cluster.mesos.requests if r[2].startswith("/metrics/snapshot")]
    assert sorted(a for a, _, _ in metrics) == sorted(m.address for m in cluster.machines)
    assert all(path == "/metrics/snapshot?timeout=5secs" for _, _, path in metrics)


def test_single_master_single_zookeeper_is_standalone():
    small = FakeCluster(masters=1, agents=1)
    try:
        report = run(small)
        assert report.healthy, report.failures()
        assert one(report, "zookeeper", "mode", "demo-master-1").detail == "mode=standalone"
        assert one(report, "mesos_masters", "quorum").detail == ("1 of 1 masters running, quorum 1")
        small.set_zk("demo-master-1", "follower")
        report = run(small)
        assert one(report, "zookeeper", "mode", "demo-master-1").detail == (
            "mode=follower, expected standalone (ensemble of 1)"
        )
    finally:
        small.close()


def test_unreachable_host_skips_every_later_layer(cluster):
    cluster.unreachable("demo-agent-2")

    report = run(cluster)

    assert failed(report, "reachability") == {("ssh", "demo-agent-2")}
    assert one(report, "reachability", "ssh", "demo-agent-2").detail == (
        "10.0.3.22:22 connection refused"
    )
    assert statuses(report) == [
        ("reachability", "failed"),
        ("zookeeper", "skipped"),
        ("mesos_masters", "skipped"),
        ("mesos_agents", "skipped"),
    ]
    assert [c.detail for c in report.checks if c.skipped] == ["skipped: reachability failed"] * 3


def test_missing_machine_is_reported(cluster):
    report = check_cluster(cluster.spec, cluster.machines[:-1], probes=cluster.probes)

    assert one(report, "reachability", "ssh", "demo-agent-2").detail == (
        "not among the cluster's machines (not created yet?)"
    )


def test_probe_crashes_become_failed_checks(cluster):
    def broken(*_args):
        raise RuntimeError("boom")

    cluster.probes.http_get = broken
    cluster.probes.zk_children = broken

    report = run(cluster)

    [crash] = report.layer_checks("mesos_masters")
    assert (crash.name, crash.ok, crash.detail) == (
        "internal",
        False,
        "check crashed: RuntimeError: boom",
    )
    assert report.layer_checks("mesos_agents")[0].detail == "skipped: mesos_masters failed"


def test_report_to_dict_is_the_documented_json_shape(cluster):
    cluster.mesos.agents["demo-agent-2"].active = False
    report = run(cluster)

    data = json.loads(json.dumps(report.to_dict()))

    assert set(data) == {"cluster", "healthy", "leader", "mesos", "checks"}
    assert (data["cluster"], data["healthy"], data["leader"]) == ("demo", False, "demo-master-1")
    assert data["mesos"] == {"kind": "real", "version": "1.12.0"}
    assert all(set(c) == {"layer", "name", "host", "ok", "detail"} for c in data["checks"])
    assert {
        "layer": "mesos_agents",
        "name": "registered",
        "host": "demo-agent-2",
        "ok": False,
        "detail": "registered with demo-master-1 but inactive (active=False)",
    } in data["checks"]
    assert {
        "layer": "mesos_masters",
        "name": "quorum",
        "host": None,
        "ok": True,
        "detail": "3 of 3 masters running, quorum 2",
    } in data["checks"]
    assert [c["ok"] for c in data["checks"]] == [c.ok for c in report.checks]
    assert [(f.layer, f.name, f.host) for f in report.failures()] == [
        ("mesos_agents", "active_agents", None),
        ("mesos_agents", "registered", "demo-agent-2"),
    ]
