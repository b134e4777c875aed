"""Health compares the Mesos version every master and agent runs with `mesos.version`."""

from __future__ import annotations

import pytest

from provisioner.health.versions import upstream

from .health_fakes import FakeCluster, failed, one, run


@pytest.fixture
def cluster():
    fake = FakeCluster(masters=3, agents=2)
    yield fake
    fake.close()


def test_every_node_on_the_spec_version_passes(cluster):
    report = run(cluster)
    assert report.healthy, report.failures()
    assert one(report, "mesos_masters", "version", "demo-master-2").detail == (
        "master runs Mesos 1.12.0 as the spec asks"
    )
    assert one(report, "mesos_agents", "version", "demo-agent-1").ok


def test_an_agent_left_on_the_old_version_fails_naming_it(cluster):
    cluster.mesos.agents["demo-agent-2"].version = {"version": "1.11.0"}
    report = run(cluster)
    assert not report.healthy
    assert failed(report, "mesos_agents") == {("version", "demo-agent-2")}
    assert failed(report, "mesos_masters") == set()
    detail = one(report, "mesos_agents", "version", "demo-agent-2").detail
    assert "runs Mesos 1.11.0, the spec asks for 1.12.0" in detail


def test_a_master_left_on_the_old_version_fails_naming_it(cluster):
    cluster.mesos.masters["demo-master-3"].version = {"version": "1.11.0"}
    report = run(cluster)
    assert not report.healthy
    assert failed(report, "mesos_masters") == {("version", "demo-master-3")}
    # A version mismatch does not hide the layers above: the agents are still checked.
    assert failed(report, "mesos_agents") == set()


def test_a_node_without_a_version_answer_fails(cluster):
    cluster.mesos.agents["demo-agent-1"].version = {"build_date": "x"}
    report = run(cluster)
    detail = one(report, "mesos_agents", "version", "demo-agent-1").detail
    assert not report.healthy and "version unknown" in detail


@pytest.mark.parametrize(
    ("spec", "running"),
    [("1.12.0", "1.12.0"), ("1.11.0-2.0.1", "1.11.0"), ("1.12.0-relabel", "1.12.0")],
)
def test_package_revisions_and_labels_compare_by_upstream_version(spec, running):
    assert upstream(spec) == running
