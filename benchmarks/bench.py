"""Time the operations operators wait for, on the local LXC lab; print a table, write JSON.

Usage (as root, after `sudo scripts/lab-setup.sh`):
    .venv/bin/python benchmarks/bench.py [--quick] [--json benchmarks/results.json]

Scenarios: time to healthy for 1+1 and 3+5 (masters+agents), a no-op `up`, +1 agent at N=1
and at N=5, -1 agent. `--quick` skips the 3+5 cluster. Every cluster it creates is named
`bench-*` and destroyed at the end, also on failure.
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
TARBALL = REPO / "tests/mesos_standin/dist/mesos-standin-1.11.0.tar.gz"


def spec_text(name: str, masters: int, agents: int) -> str:
    return f"""name: {name}
provider: {{kind: vagrant, vagrant_provider: lxc}}
masters: {{count: {masters}}}
agents: {{count: {agents}, resources: {{cpus: 1, mem: 512, disk: 1024}}}}
mesos:
  install: {{method: tarball, path: {TARBALL}, runtime_packages: [python3, python3-kazoo]}}
  agent_flags: {{launcher: posix, isolation: "posix/cpu,posix/mem", systemd_enable_support: false}}
"""


LOG = REPO / "benchmarks/bench.log"


def run(*args: str) -> float:
    """Time one CLI command; its progress goes to benchmarks/bench.log, not the table."""
    started = time.monotonic()
    with LOG.open("a") as log:
        log.write(f"\n$ dcos-provision {' '.join(args)}\n")
        log.flush()
        subprocess.run([*CLI, *args], check=True, stdout=subprocess.DEVNULL, stderr=log)
    return time.monotonic() - started


def scenario_cluster(
    workdir: Path, name: str, masters: int, agents: int, steps: list[tuple[str, int]]
) -> list[tuple[str, float]]:
    spec = workdir / f"{name}.yaml"
    spec.write_text(spec_text(name, masters, agents))
    rows = []
    try:
        rows.append((f"up {masters}+{agents} to healthy", run("up", str(spec))))
        for label, count in steps:
            if count < 0:
                rows.append((label, run("up", str(spec))))
            else:
                rows.append((label, run("scale", str(spec), "--agents", str(count), "--yes")))
    finally:
        with LOG.open("a") as log:
            subprocess.run([*CLI, "down", "--yes", str(spec)], check=False, stdout=log, stderr=log)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 3+5 cluster")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks/results.json")
    args = parser.parse_args()
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        rows += scenario_cluster(
            workdir,
            "bench-small",
            1,
            1,
            [
                ("no-op up (1+1)", -1),
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
                    ("no-op up (3+5)", -1),
                    ("+1 agent at N=5", 6),
                ],
            )
    width = max(len(label) for label, _ in rows)
    print(f"{'scenario'.ljust(width)}  seconds")
    print(f"{'-' * width}  -------")
    for label, seconds in rows:
        print(f"{label.ljust(width)}  {seconds:7.1f}")
    args.json.write_text(
        json.dumps([{"scenario": s, "seconds": round(t, 1)} for s, t in rows], indent=2) + "\n"
    )
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
