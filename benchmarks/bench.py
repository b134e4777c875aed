"""Time the operations operators wait for, on the local LXC lab; print a table, write JSON.

Usage (as root, after `scripts/lab-setup.sh`; real Mesos when it found a build, from
DCOS_PROVISION_MESOS_TARBALL or ../shared/mesos/, else the test stand-in):
    .venv/bin/python benchmarks/bench.py [--quick] [--json benchmarks/results.json]

Scenarios: time to healthy for 1+1 and 3+5 (masters+agents), a no-op `up`, +1 agent at N=1
and at N=5, -1 agent; then the ratios the speed goals are about. `--quick` skips the 3+5
cluster. Every cluster it creates is named `bench-*` and destroyed at the end, also on failure.
`up` includes the workload check (one real task) where the cluster runs real Mesos.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI = [str(REPO / ".venv/bin/dcos-provision")]
TARBALL = REPO / ".lab/mesos.tar.gz"
KIND = REPO / ".lab/mesos.kind"
#: (label, numerator, denominator or None, goal): the speed goals the table is read against.
GOALS = [
    ("up 1+1 (s)", "up 1+1 to healthy", None, 45.0),
    ("up 3+5 / up 1+1", "up 3+5 to healthy", "up 1+1 to healthy", 1.6),
    ("no-op up 3+5 (s)", "no-op up (3+5)", None, 15.0),
    ("status 3+5 (s)", "status (3+5)", None, 1.0),
    ("+1 agent at N=5 / at N=1", "+1 agent at N=5", "+1 agent at N=1", 1.5),
]


def spec_text(name: str, masters: int, agents: int) -> str:
    return f"""name: {name}
provider: {{kind: vagrant, vagrant_provider: lxc}}
masters: {{count: {masters}}}
agents: {{count: {agents}, resources: {{cpus: 1, mem: 512, disk: 1024}}}}
mesos:
  version: "1.12.0"
  install: {{method: tarball, path: {TARBALL}}}
  agent_flags: {{launcher: posix, isolation: "posix/cpu,posix/mem", systemd_enable_support: false}}
"""


def mesos_kind() -> str:
    if not TARBALL.exists() or not KIND.exists():
        sys.exit(f"{TARBALL} missing: run scripts/lab-setup.sh first")
    kind = KIND.read_text().strip()
    return "real Apache Mesos 1.12.0" if kind == "real" else "the Mesos TEST STAND-IN"


LOG = REPO / "benchmarks/bench.log"


Row = tuple[str, float, str]


def run(label: str, *args: str) -> Row:
    """Time one CLI command (`--json`): (label, seconds, where the time went by phase).
    Its progress goes to benchmarks/bench.log, not the table."""
    started = time.monotonic()
    with LOG.open("a") as log:
        log.write(f"\n$ dcos-provision {' '.join(args)} --json\n")
        log.flush()
        done = subprocess.run(
            [*CLI, *args, "--json"], check=True, stdout=subprocess.PIPE, stderr=log, text=True
        )
    seconds = time.monotonic() - started
    phases: dict[str, float] = {}
    for phase in json.loads(done.stdout).get("phases") or []:
        phases[phase["name"]] = phases.get(phase["name"], 0.0) + float(phase["seconds"])
    return label, seconds, ", ".join(f"{name} {secs:.1f}" for name, secs in phases.items())


NOOP, STATUS = -1, -2


def scenario_cluster(
    workdir: Path, name: str, masters: int, agents: int, steps: list[tuple[str, int]]
) -> list[Row]:
    spec = workdir / f"{name}.yaml"
    spec.write_text(spec_text(name, masters, agents))
    rows = []
    try:
        rows.append(run(f"up {masters}+{agents} to healthy", "up", str(spec)))
        for label, count in steps:
            if count == NOOP:
                rows.append(run(label, "up", str(spec)))
            elif count == STATUS:
                rows.append(run(label, "status", str(spec)))
            else:
                rows.append(run(label, "scale", str(spec), "--agents", str(count), "--yes"))
    finally:
        with LOG.open("a") as log:
            subprocess.run([*CLI, "down", "--yes", str(spec)], check=False, stdout=log, stderr=log)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 3+5 cluster")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks/results.json")
    args = parser.parse_args()
    mesos = mesos_kind()
    print(f"Mesos: {mesos} ({TARBALL})", flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        rows += scenario_cluster(
            workdir,
            "bench-small",
            1,
            1,
            [
                ("no-op up (1+1)", NOOP),
                ("status (1+1)", STATUS),
                ("+1 agent at N=1", 2),
                ("-1 agent (2 -> 1)", 1),
            ],
        )
        if not args.quick:
            rows += scenario_cluster(
                workdir,
                "bench-big",
                3,
                5,
                [
                    ("no-op up (3+5)", NOOP),
                    ("status (3+5)", STATUS),
                    ("+1 agent at N=5", 6),
                ],
            )
    width = max(len(label) for label, _, _ in rows)
    print(f"{'scenario'.ljust(width)}  seconds  phases (s)")
    print(f"{'-' * width}  -------  ----------")
    for label, seconds, phases in rows:
        print(f"{label.ljust(width)}  {seconds:7.1f}  {phases}")
    print(f"\n{'goal'.ljust(26)}  {'value':>7}  {'target':>7}  met")
    times = {label: seconds for label, seconds, _ in rows}
    for label, numerator, denominator, target in GOALS:
        if numerator not in times or (denominator and denominator not in times):
            continue
        value = times[numerator] / times[denominator] if denominator else times[numerator]
        met = "yes" if value <= target else "no"
        print(f"{label.ljust(26)}  {value:7.2f}  {target:7.2f}  {met}")
    args.json.write_text(
        json.dumps(
            {
                "mesos": mesos,
                "results": [
                    {"scenario": s, "seconds": round(t, 1), "phases": p} for s, t, p in rows
                ],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
