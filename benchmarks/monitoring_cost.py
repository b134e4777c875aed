"""What monitoring costs `up`: time to healthy of a 1+1 cluster with `monitoring.enabled`
true and false, one run each, on the local LXC lab (as root, after `scripts/lab-setup.sh`).

Usage: .venv/bin/python benchmarks/monitoring_cost.py [--json benchmarks/monitoring.json]
Clusters are named `bench-mon-*` and destroyed at the end, also on failure. One run each on
a shared machine: read the ratio against the goal (at most 10 % more), not the seconds.
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks/monitoring.json")
    args = parser.parse_args()
    print(f"Mesos: {mesos_kind()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-mon-") as tmp:
        off = up_time(Path(tmp), "bench-mon-off", monitoring=False)
        on = up_time(Path(tmp), "bench-mon-on", monitoring=True)
    ratio = on[1] / off[1]
    for label, seconds, phases in (off, on):
        print(f"{label:<28} {seconds:7.1f} s   {phases}")
    verdict = "ok" if ratio <= GOAL else "OVER"
    print(f"{'on / off':<28} {ratio:7.2f}     goal <= {GOAL:.2f}: {verdict}")
    rows = [{"label": r[0], "seconds": round(r[1], 1), "phases": r[2]} for r in (off, on)]
    args.json.write_text(json.dumps({"rows": rows, "ratio": round(ratio, 3)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
