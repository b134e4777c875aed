"""The progress display: plain lines off a terminal (real Ansible events), live on a terminal,
phase timings recorded by `Cluster.phase`, and the end-of-run summary table."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from provisioner import operations
from provisioner.ansible import control_path_dir, run_playbook
from provisioner.cli_progress import ProgressView, phase_table
from provisioner.cluster import open_cluster
from provisioner.errors import AnsibleError
from provisioner.phases import PhaseEvent, PhaseTiming, timed_phase
from provisioner.plan import Plan

from .test_ansible_runner import PROBE, local_host, write_inventory

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # ESC, CR, backspace, ... (not \t or \n)


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=160, highlight=False), out


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "state"
    yield path
    shutil.rmtree(control_path_dir(path), ignore_errors=True)


def run_probe_phase(view: ProgressView, tmp_path: Path, state: Path, fail: bool) -> None:
    """A real playbook on two local hosts inside a converge phase, as `up` runs it."""
    playbook = tmp_path / "probe.yml"
    playbook.write_text(PROBE)
    hosts = {"node-a": local_host(), "node-b": local_host()}
    inventory = write_inventory(tmp_path / "inv.yml", hosts)
    cluster_log: list[PhaseTiming] = []
    with timed_phase(cluster_log, view.phase, "converge", "probe.yml", ("node-a", "node-b")):
        run_playbook(
            str(playbook),
            inventory=inventory,
            state_dir=state,
            extravars={"probe_out": str(tmp_path), "probe_fail": fail},
            on_event=view.ansible_event,
            on_output=view.ansible_output,
        )


@pytest.mark.timeout(120)
def test_plain_output_has_phase_and_host_lines_and_no_control_codes(
    tmp_path: Path, state: Path
) -> None:
    console, out = plain_console()
    assert not console.is_terminal
    with ProgressView(console) as view:
        assert view.live is False
        view.phase(PhaseEvent("start", "machines", "creating node-a, node-b"))
        view.message("==> node-a: Importing base box")  # provider chatter stays out
        view.phase(PhaseEvent("end", "machines", "creating node-a, node-b", seconds=1.25))
        run_probe_phase(view, tmp_path, state, fail=False)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == "machines: started: creating node-a, node-b"
    assert lines[1] == "machines: done in 1.2s (creating node-a, node-b)"
    assert lines[2] == "converge: started: probe.yml on 2 host(s)"
    assert re.fullmatch(r"converge: done in \d+\.\ds \(probe\.yml\)", lines[3])
    # PROBE: 2 ok tasks (one changed) per host, the failing one skipped
    assert lines[4].split() == ["converge:", "node-a", "ok=2", "changed=1", "failed=0"]
    assert lines[5].split() == ["converge:", "node-b", "ok=2", "changed=1", "failed=0"]
    assert len(lines) == 6, text  # no task names, no vagrant chatter
    assert "Importing base box" not in text and "TASK [" not in text
    assert not CONTROL.search(text), repr(text)


@pytest.mark.timeout(120)
def test_plain_output_names_a_failed_host_at_once(tmp_path: Path, state: Path) -> None:
    console, out = plain_console()
    with ProgressView(console) as view, pytest.raises(AnsibleError):
        run_probe_phase(view, tmp_path, state, fail=True)
    text = out.getvalue()
    assert "converge: node-a failed at 'Fail on purpose': the probe was told to fail" in text
    assert re.search(r"^converge: FAILED in \d+\.\ds \(probe\.yml\)$", text, re.M)
    assert re.search(r"^converge: node-a +ok=2 changed=1 failed=1$", text, re.M)
    assert not CONTROL.search(text)


@pytest.mark.timeout(120)
def test_verbose_streams_the_full_ansible_output(tmp_path: Path, state: Path) -> None:
    console, out = plain_console()
    with ProgressView(console, verbose=True) as view:
        run_probe_phase(view, tmp_path, state, fail=False)
    text = out.getvalue()
    assert "TASK [Locate ansible-playbook]" in text and "PLAY RECAP" in text


def test_live_view_on_a_terminal_shows_hosts_and_leaves_phase_lines() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with ProgressView(console) as view:
        assert view.live is True
        view.phase(PhaseEvent("start", "machines", "creating m1", ("m1",)))
        view.message("==> m1: Importing base box")
        view.console.print(view.__rich__())  # no host rows yet: the provider's last line
        view.phase(PhaseEvent("end", "machines", "creating m1", ("m1",), seconds=2.0))
        view.phase(PhaseEvent("start", "converge", "site.yml", ("m1",)))
        view.ansible_event({"event": "host_changed", "host": "m1", "task": "Install mesos"})
        view.console.print(view.__rich__())  # what the live region draws
        view.phase(PhaseEvent("end", "converge", "site.yml", ("m1",), seconds=3.0))
    text = out.getvalue()
    assert "Install mesos" in text and "changed=1" in text
    assert "Importing base box" in text and "ok=" not in text.split("Importing base box")[0]
    assert "converge: done in 3.0s (site.yml)" in text


def test_cluster_phase_records_timings_also_for_a_failed_phase(tmp_path: Path) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text("name: c\nprovider: {kind: vagrant}\n")
    cluster = open_cluster(spec)
    events: list[PhaseEvent] = []
    cluster.on_phase = events.append
    with cluster.phase("machines", "creating c-master-1", ("c-master-1",)):
        pass
    with pytest.raises(RuntimeError), cluster.phase("health", "ZooKeeper"):
        raise RuntimeError("boom")
    assert [(p.name, p.ok) for p in cluster.phase_log] == [("machines", True), ("health", False)]
    assert [(e.kind, e.name) for e in events] == [
        ("start", "machines"),
        ("end", "machines"),
        ("start", "health"),
        ("end", "health"),
    ]
    result = operations.RunResult(cluster="c", plan=Plan("c"), phases=cluster.phase_log)
    phases = json.loads(json.dumps(result.to_dict()))["phases"]
    assert [p["name"] for p in phases] == ["machines", "health"]
    assert set(phases[0]) == {"name", "seconds", "detail", "ok"}


def test_summary_table_lists_each_phase_and_the_total() -> None:
    console, out = plain_console()
    timings = [
        PhaseTiming("machines", 30.04, "creating a"),
        PhaseTiming("converge", 62.0, "site.yml"),
        PhaseTiming("health", 12.5, "ZooKeeper, masters and agents", ok=False),
    ]
    console.print(phase_table(timings, 104.6))
    text = out.getvalue()
    for row in (
        r"machines .* 30\.0 .* ok",
        r"converge .* 62\.0 .* ok",
        r"health .* 12\.5 .* FAILED",
        r"total .* 104\.6",
    ):
        assert re.search(row, text), (row, text)
