"""`repair` decisions and `verify --chaos` fault choices, on reports from the health checks
run against fake ZooKeeper servers and a scripted Mesos (health_fakes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from provisioner import chaos, drift, repair
from provisioner.cli import app
from provisioner.domain import Machine
from provisioner.errors import ProvisionError, QuorumError, RefusedError
from provisioner.health import SshProbes

from .fake_ssh_server import Reply, machine_on_fake_server
from .health_fakes import FakeCluster, run
from .test_plan_state import converged_state, spec_with


@pytest.fixture
def cluster():
    fake = FakeCluster(masters=3, agents=2)
    yield fake
    fake.close()


def test_a_stopped_zookeeper_member_targets_only_that_host_and_role(cluster):
    cluster.zookeepers["demo-master-2"].stop()
    report = run(cluster)
    repair.check_repairable(report, cluster.machines)  # quorum holds: no refusal
    targets = repair.targets_from_health(report, cluster.machines)
    # the leader's synced_followers count is cluster-wide: the healthy leader is not a target
    assert list(targets) == ["demo-master-2"]
    assert list(targets["demo-master-2"]) == ["zookeeper"]
    assert any("ruok" in r for r in targets["demo-master-2"]["zookeeper"])


def test_a_stopped_master_and_agent_target_their_hosts(cluster):
    cluster.mesos.stop_master("demo-master-3")
    cluster.mesos.agents["demo-agent-2"].running = False
    report = run(cluster)
    targets = repair.ordered(repair.targets_from_health(report, cluster.machines), cluster.machines)
    assert {h: list(r) for h, r in targets.items()} == {
        "demo-master-3": ["mesos_master"],
        "demo-agent-2": ["mesos_agent"],
    }


def test_lost_quorum_and_unreachable_machines_are_refused(cluster):
    cluster.unreachable("demo-agent-2")
    with pytest.raises(RefusedError) as gone:
        repair.check_repairable(run(cluster), cluster.machines)
    assert "demo-agent-2" in gone.value.message
    assert "scale SPEC --remove demo-agent-2" in (gone.value.hint or "")

    quorum = FakeCluster(masters=3, agents=1)
    try:
        quorum.mesos.stop_master("demo-master-2")
        quorum.mesos.stop_master("demo-master-3")
        with pytest.raises(QuorumError, match="Mesos master quorum lost"):
            repair.check_repairable(run(quorum), quorum.machines)
    finally:
        quorum.close()


def test_repair_checks_again_while_an_election_is_under_way(cluster):
    cluster.mesos.elect(None)  # the leader just stopped: no master elected yet
    during = run(cluster)
    cluster.mesos.elect("demo-master-2")
    cluster.zookeepers["demo-master-3"].stop()  # what repair is asked to fix
    after = run(cluster)
    reports, told = [during, after], []
    report, targets = repair.settled_health(
        lambda: reports.pop(0), cluster.machines, told.append, grace_s=5, poll_s=0
    )
    assert report is after and reports == []
    assert list(targets) == ["demo-master-3"]
    assert len(told) == 1 and "election" in told[0]


def _counting(report):
    calls: list[int] = []

    def check():
        calls.append(1)
        return report

    return check, calls


def test_lost_quorum_is_refused_once_the_grace_is_over():
    quorum = FakeCluster(masters=3, agents=1)
    try:
        for name in ("demo-master-2", "demo-master-3"):
            quorum.zookeepers[name].stop()
        check, calls = _counting(run(quorum))
        with pytest.raises(QuorumError, match="ZooKeeper quorum lost"):
            repair.settled_health(check, quorum.machines, lambda _m: None, grace_s=0.2, poll_s=0.05)
        assert len(calls) > 1  # checked again before refusing
    finally:
        quorum.close()


def test_an_unreachable_machine_is_refused_without_waiting(cluster):
    cluster.unreachable("demo-agent-2")
    check, calls = _counting(run(cluster))
    with pytest.raises(RefusedError, match="demo-agent-2"):
        repair.settled_health(check, cluster.machines, lambda _m: None, grace_s=5, poll_s=0)
    assert len(calls) == 1


def test_failures_that_name_no_host_are_refused(cluster):
    cluster.mesos.elect(None)  # every master up, none elected: an election in progress
    report = run(cluster)
    assert not report.healthy
    with pytest.raises(RefusedError, match="names no host"):
        repair.targets_from_health(report, cluster.machines)


def test_a_spec_changed_since_up_is_refused():
    spec = spec_with(1)
    state = converged_state(spec)
    repair.check_spec_unchanged(spec, state)
    changed = spec_with(1, "mesos: {agent_flags: {launcher: posix}}\n")
    with pytest.raises(RefusedError, match="changed since the last `up`") as refused:
        repair.check_spec_unchanged(changed, state)
    assert "configuration not applied" in refused.value.message
    with pytest.raises(RefusedError, match="machines to create: p-agent-2"):
        repair.check_spec_unchanged(spec_with(2), state)


def test_repair_findings_name_the_roles_whose_files_or_services_are_gone():
    master = Machine("m1", ("master", "zookeeper"), "10.0.3.2", "vagrant")
    output = (
        "mesos_master file /etc/default/mesos-master missing\n"
        "mesos_master service mesos-master active\n"
        "mesos_master enabled mesos-master yes\n"
        "zookeeper file /etc/zookeeper/conf/zoo.cfg 1111\n"
        "zookeeper service zookeeper inactive\n"
        "zookeeper enabled zookeeper no\n"
        "mesos_install link /opt/mesos missing\n"
        "common file /etc/security/limits.d/90-dcos-provision.conf missing\n"
    )
    assert drift.role_findings(master, output) == {
        "mesos_master": ["drift: missing /etc/default/mesos-master", "drift: missing /opt/mesos"],
        "zookeeper": ["drift: stopped zookeeper", "drift: disabled zookeeper"],
    }


def test_chaos_picks_followers_leaders_and_one_agent(cluster):
    report = run(cluster)
    faults = {k: chaos.choose_fault(k, cluster.machines, report) for k in chaos.FAULTS}
    assert faults["zookeeper_leader"].host == "demo-master-1"
    assert faults["zookeeper_follower"].host in ("demo-master-2", "demo-master-3")
    assert faults["mesos_leader"].host == report.leader == "demo-master-1"
    assert faults["agent"].host == "demo-agent-2"
    assert all(f.workload_expected and not f.skip for f in faults.values())
    assert faults["mesos_leader"].service == "mesos-master"


def test_chaos_skips_what_the_topology_cannot_survive():
    small = FakeCluster(masters=1, agents=1)
    try:
        report = run(small)
        faults = {k: chaos.choose_fault(k, small.machines, report) for k in chaos.FAULTS}
    finally:
        small.close()
    assert "no spare member" in (faults["zookeeper_follower"].skip or "")
    assert "the leader is not stopped" in (faults["mesos_leader"].skip or "")
    # one agent can be stopped, but no task is expected to run meanwhile
    assert faults["agent"].skip is None and faults["agent"].workload_expected is False


def test_new_leader_and_detection_read_the_report(cluster):
    cluster.mesos.stop_master("demo-master-1")
    cluster.mesos.elect("demo-master-2")
    cluster.mesos.expire("demo-master-1")
    report = run(cluster)
    assert chaos.names_host(report, "demo-master-1").startswith("mesos_masters health")
    assert chaos.new_leader(chaos.MESOS_LEADER, report, "demo-master-1") == "demo-master-2"
    assert chaos.names_host(report, "demo-agent-1") is None


def test_verify_chaos_needs_confirmation(tmp_path):
    spec = tmp_path / "c.yaml"
    spec.write_text("name: x\nprovider: {kind: vagrant}\n")
    result = CliRunner().invoke(app, ["verify", "--chaos", str(spec)])
    assert result.exit_code == 2
    assert "refusing to stop services without confirmation" in result.stderr
    assert "pass --yes (only on test and staging clusters)" in result.stderr


def test_repair_refuses_a_cluster_never_created(tmp_path):
    spec = tmp_path / "c.yaml"
    spec.write_text("name: x\nprovider: {kind: vagrant}\n")
    result = CliRunner().invoke(app, ["repair", "--json", str(spec)])
    assert result.exit_code == 1
    assert "no machines recorded" in result.stderr


@pytest.fixture
def ssh_host(tmp_path: Path):
    """A real SSH server (paramiko, in process) that records commands; and a machine on it."""
    with machine_on_fake_server(tmp_path, "node-1", strict_host_keys=False) as (host, _, machine):
        yield host, machine


def test_drift_probe_runs_over_ssh_and_names_the_missing_file(ssh_host):
    host, machine = ssh_host
    host.replies["sudo -n sh -s"] = Reply(
        0, "mesos_master file /etc/default/mesos-master missing\n"
    )
    targets, errors = drift.probe_drift([machine])
    assert errors == []
    assert targets == {"node-1": {"mesos_master": ["drift: missing /etc/default/mesos-master"]}}
    assert host.commands[0] == "sudo -n sh -s /var/lib/dcos-provision/manifest.d"
    host.replies["sudo -n sh -s"] = Reply(1, "", "sudo: a password is required\n")
    _, errors = drift.probe_drift([machine])
    assert errors == ["node-1: drift probe exited 1: sudo: a password is required"]


def test_chaos_restores_every_stopped_service_even_when_the_stop_failed(ssh_host):
    host, machine = ssh_host
    host.replies["systemctl stop"] = Reply(1, "", "Job failed\n")
    host.replies["systemctl start"] = Reply(0)
    probes = SshProbes([machine])
    stopped = chaos._Stopped(probes)
    try:
        with pytest.raises(ProvisionError, match=r"stop zookeeper failed \(exit 1\): Job failed"):
            stopped.stop(machine, "zookeeper")
        assert stopped.restore_all() == []
    finally:
        probes.close()
    assert host.commands == [
        "sudo -n systemctl stop zookeeper",
        "sudo -n systemctl start zookeeper",
    ]
    assert stopped.services == []
