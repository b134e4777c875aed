"""What monitoring costs `up`: time to healthy of a 1+1 cluster with `monitoring.enabled`
true and false, on the local LXC lab (as root, after `scripts/lab-setup.sh`).

Usage: .venv/bin/python benchmarks/monitoring_cost.py [--repeat N] [--json F]
Clusters are named `bench-mon-*` and destroyed after each run, also on failure. With
`--repeat N` the off and on runs alternate N times and the ratio is that of the medians (the
machines phase alone varies by a few seconds from run to run). Read the ratio against the goal
(at most 10 % more), not the seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import CLI, LOG, REPO, mesos_kind, run, spec_text

GOAL = 1.10


def up_time(workdir: Path, name: str, monitoring: bool) -> tuple[str, float, str]:
    spec = workdir / f"{name}.yaml"
    spec.write_text(spec_text(name, 1, 1) + f"monitoring: {{enabled: {str(monitoring).lower()}}}\n")
    try:
        return run(f"up 1+1, monitoring {'on' if monitoring else 'off'}", "up", str(spec))
    finally:
        with LOG.open("a") as log:
            subprocess.run([*CLI, "down", "--yes", str(spec)], check=False, stdout=log, stderr=log)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="off/on pairs to run (median)")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks/monitoring.json")
    args = parser.parse_args()
    print(f"Mesos: {mesos_kind()}", flush=True)
    runs: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-mon-") as tmp:
        for _ in range(max(1, args.repeat)):
            runs.append(up_time(Path(tmp), "bench-mon-off", monitoring=False))
            runs.append(up_time(Path(tmp), "bench-mon-on", monitoring=True))
    for label, seconds, phases in runs:
        print(f"{label:<28} {seconds:7.1f} s   {phases}")
    off = statistics.median(r[1] for r in runs if r[0].endswith("off"))
    on = statistics.median(r[1] for r in runs if r[0].endswith(" on"))
    ratio = on / off
    verdict = "ok" if ratio <= GOAL else "OVER"
    print(f"{'median off / on':<28} {off:7.1f} / {on:.1f} s")
    print(f"{'on / off':<28} {ratio:7.2f}     goal <= {GOAL:.2f}: {verdict}")
    rows = [{"label": r[0], "seconds": round(r[1], 1), "phases": r[2]} for r in runs]
    result = {"rows": rows, "median_off": round(off, 1), "median_on": round(on, 1)}
    args.json.write_text(json.dumps(result | {"ratio": round(ratio, 3)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
