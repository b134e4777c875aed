"""Per-task timings of the Ansible runs of one `up`: where the converge time goes.

Usage (as root, after `scripts/lab-setup.sh`):
    .venv/bin/python benchmarks/profile_tasks.py SPEC [--converge] [--top 15]

Runs `up` on SPEC (creating the cluster if needed; `--converge` forces the full play on a
converged cluster) without the workload check, collects each task's `duration` from the
ansible-runner events, and prints the slowest tasks: the sum over hosts and the slowest host.
It does not destroy the cluster (run `dcos-provision down SPEC --yes` afterwards).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from provisioner import operations
from provisioner.cluster import open_cluster


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--converge", action="store_true", help="full play on every host")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    durations: dict[str, list[float]] = defaultdict(list)

    def collect(event: dict) -> None:
        data = (event.get("raw") or {}).get("event_data") or {}
        if event.get("event") in ("host_ok", "host_changed", "host_failed", "host_skipped"):
            task = f"{data.get('role', '-')}: {data.get('task', '?')}"
            durations[task].append(float(data.get("duration") or 0.0))

    cluster = open_cluster(args.spec)
    cluster.on_ansible_event = collect
    result = operations.up(cluster, converge=args.converge, workload=False)
    rows = sorted(durations.items(), key=lambda item: -sum(item[1]))[: args.top]
    width = max((len(task) for task, _ in rows), default=4)
    print(f"{'task'.ljust(width)}  hosts  sum (s)  max (s)")
    for task, times in rows:
        print(f"{task.ljust(width)}  {len(times):5d}  {sum(times):7.1f}  {max(times):7.1f}")
    total = sum(sum(t) for t in durations.values())
    print(f"\nall tasks, summed over hosts: {total:.1f} s; `up` took {result.seconds:.1f} s")
    for phase in result.phases:
        print(f"phase {phase.name}: {phase.seconds:.1f} s ({phase.detail})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
