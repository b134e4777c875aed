"""Day 2 on real containers: `repair` fixes exactly the broken host, `verify --chaos` measures.

One 3-master/1-agent cluster for the module; each test leaves it healthy; teardown always runs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .cli_helpers import (
    CLI,
    cli,
    cli_json,
    container_ip,
    failures,
    four_letter,
    healthy,
    in_container,
    lab_mesos_kind,
    recap_hosts,
    running_cluster,
    status,
    wait_status,
)

CLUSTER = "e2e-heal"
MASTERS = [f"{CLUSTER}-master-{i}" for i in (1, 2, 3)]
AGENT = f"{CLUSTER}-agent-1"
ENV_FILE = "/etc/default/mesos-master"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_cluster(tmp_path_factory.mktemp("heal"), CLUSTER, 3, 1) as path:
        yield path


def zookeeper_serves(master: str) -> bool:
    try:
        return "Mode: " in four_letter(container_ip(master), "srvr")
    except OSError:
        return False


def test_repair_fixes_only_the_broken_host(spec: Path) -> None:
    victim = MASTERS[2]
    in_container(victim, "systemctl", "stop", "zookeeper")
    in_container(victim, "rm", "-f", ENV_FILE)
    try:
        planned = cli_json("repair", str(spec), "--plan-only")
        [target] = planned["targets"]
        assert target["host"] == victim, planned["targets"]
        assert target["roles"] == ["zookeeper", "mesos_master"], target
        assert any("drift: missing" in r for r in target["reasons"]["mesos_master"]), target
        assert planned["playbooks"] == [] and not zookeeper_serves(victim)

        result = cli_json("repair", str(spec))
        assert result["healthy"] is True, failures(result["health"])
        [book] = result["playbooks"]
        assert book["playbook"] == "repair.yml" and book["limit"] == [victim], book
        assert book["hosts_in_plays"] == [victim], book
        assert recap_hosts(book["log"]) == {victim}
        assert book["changed"][victim] > 0
        print(f"\nrepair of {victim} took {result['seconds']}s")
    except BaseException:  # put the flags file back too, or the next tests see this failure
        in_container(victim, "systemctl", "start", "zookeeper", check=False)
        cli("up", str(spec), "--converge", "--no-workload", timeout=900)
        raise
    finally:  # leave the cluster as the other tests expect it, whatever happened
        in_container(victim, "systemctl", "start", "zookeeper", check=False)
    assert "MESOS_QUORUM=2" in in_container(victim, "cat", ENV_FILE)
    assert zookeeper_serves(victim)
    wait_status(spec, healthy)
    nothing = cli_json("repair", str(spec))
    assert nothing["targets"] == [] and nothing["playbooks"] == [] and nothing["healthy"]


def test_repair_refuses_a_spec_changed_since_up(spec: Path) -> None:
    changed = yaml.safe_load(spec.read_text())
    changed["agents"]["attributes"] = {"rack": "r2"}
    other = spec.with_name("changed.yaml")  # same directory, so the same state
    other.write_text(yaml.safe_dump(changed, sort_keys=False))
    result = cli("repair", str(other), "--json", timeout=300)
    assert result.returncode == 1, result.stderr
    assert "changed since the last `up`" in json.loads(result.stdout)["error"]


def test_verify_chaos_refuses_an_unhealthy_cluster(spec: Path) -> None:
    in_container(AGENT, "systemctl", "stop", "mesos-agent")
    try:
        wait_status(spec, lambda rc, r: rc == 1)
        result = cli("verify", "--chaos", "--yes", "--json", str(spec), timeout=300)
        assert result.returncode == 1
        assert "chaos runs only on a healthy cluster" in json.loads(result.stdout)["error"]
    finally:
        in_container(AGENT, "systemctl", "start", "mesos-agent")
    wait_status(spec, healthy)


def test_verify_chaos_restores_on_ctrl_c(spec: Path) -> None:
    """SIGINT while the first fault is in place: the service runs again, exit 130."""
    process = subprocess.Popen(
        [CLI, "verify", "--chaos", "--yes", str(spec)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        # SIGINT at its default in the child, even when the suite was started with SIGINT
        # ignored (a background job inherits SIG_IGN): the test sends a real Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    lines = []
    try:
        for line in process.stderr:
            lines.append(line)
            if "chaos: detected after" in line:
                process.send_signal(signal.SIGINT)
                break
        _, rest = process.communicate(timeout=180)
        lines.append(rest)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(lines)
    sys.stderr.write(output[-3000:])
    assert process.returncode == 130, output[-2000:]
    victim = next(m for m in MASTERS if f"stopping zookeeper on {m}" in output)
    assert f"restoring zookeeper on {victim}" in output
    assert "health after restoring: healthy" in output
    assert in_container(victim, "systemctl", "is-active", "zookeeper").strip() == "active"
    wait_status(spec, healthy)


def test_verify_chaos_measures_four_faults_and_leaves_it_healthy(spec: Path) -> None:
    result = cli("verify", "--chaos", "--yes", "--json", str(spec), timeout=1500)
    report = json.loads(result.stdout)
    print("\n" + json.dumps([{k: v for k, v in f.items()} for f in report["faults"]], indent=1))
    assert result.returncode == 0, report
    faults = {f["fault"]: f for f in report["faults"]}
    assert list(faults) == ["zookeeper_follower", "zookeeper_leader", "mesos_leader", "agent"]
    for fault in faults.values():
        assert fault["skipped"] is None and fault["error"] is None, fault
        assert 0 < fault["detected_s"] < 60 and 0 < fault["recovered_s"] < 300, fault
    assert faults["zookeeper_follower"]["host"] in MASTERS
    assert faults["mesos_leader"]["new_leader"] in MASTERS
    assert faults["mesos_leader"]["new_leader"] != faults["mesos_leader"]["host"]
    assert 3 < faults["mesos_leader"]["new_leader_s"] < 40, faults["mesos_leader"]
    assert faults["agent"]["host"] == AGENT and faults["agent"]["workload_expected"] is False
    real = lab_mesos_kind() == "real"
    for kind in ("zookeeper_follower", "zookeeper_leader", "mesos_leader"):
        assert faults[kind]["workload_ok_during_outage"] is (True if real else None), faults[kind]
    assert report["healthy"] is True
    rc, after = status(spec)
    assert rc == 0 and after["healthy"], failures(after)
