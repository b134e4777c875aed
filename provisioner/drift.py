"""The fast drift check behind a no-op `up`: one SSH round trip per host, in parallel.

Every role records what it manages in `/var/lib/dcos-provision/manifest.d/<role>` (the
`common` role's tasks/manifest.yml): `file <path>` (content hashed), `link <path>` (target
read) and `service <unit>` (must be active). After a converge the observation is stored in
state.json; a later `up` with an unchanged spec observes again and runs the play only on the
hosts whose files or links differ, or whose services are not active. What it does not see
(packages, files no role lists) is what `up --converge` is for.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .health.probes import ProbeError
from .health.ssh import SshProbes
from .providers.base import Machine

MANIFEST_DIR = "/var/lib/dcos-provision/manifest.d"
#: POSIX sh, run with sudo: one line per manifest entry, `<kind> <item> <observation>`.
OBSERVE_SCRIPT = f"""set -u
d={MANIFEST_DIR}
[ -d "$d" ] || {{ echo "manifest - missing"; exit 0; }}
cat "$d"/* 2>/dev/null | sort -u | while read -r kind item; do
  case "$kind" in
    file) if [ -f "$item" ]; then h=$(sha256sum < "$item"); echo "file $item ${{h%% *}}";
          else echo "file $item missing"; fi ;;
    link) echo "link $item $(readlink "$item" || echo missing)" ;;
    service) echo "service $item $(systemctl is-active "$item" 2>/dev/null || true)" ;;
  esac
done
"""
#: Observations kept in state (what must stay equal); service states are checked live.
Observation = dict[str, str]


@dataclass
class HostDrift:
    """What the check saw on one host: differences from the record, or why it could not look."""

    host: str
    changes: list[str] = field(default_factory=list)
    error: str | None = None
    observed: Observation = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return bool(self.changes)


def parse_observation(text: str) -> tuple[Observation, dict[str, str]]:
    """The script's output -> ({"file /p": hash, "link /p": target}, {unit: state})."""
    recorded: Observation = {}
    services: dict[str, str] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        item, _, value = rest.rpartition(" ")
        if not item:
            continue
        if kind == "service":
            services[item] = value or "unknown"
        elif kind in ("file", "link", "manifest"):
            recorded[f"{kind} {item}"] = value
    return recorded, services


def compare(host: str, text: str, recorded: Observation | None) -> HostDrift:
    """Differences between what a host shows now and what the last converge recorded."""
    observed, services = parse_observation(text)
    drift = HostDrift(host, observed=observed)
    if recorded is None:
        drift.changes.append("no record of its last converge")
    else:
        for key in sorted(set(recorded) | set(observed)):
            before, now = recorded.get(key), observed.get(key)
            if before == now:
                continue
            what = key.split(" ", 1)[1]
            if now is None:
                drift.changes.append(f"{what} no longer managed")
            elif before is None:
                drift.changes.append(f"{what} newly managed")
            elif now == "missing":
                drift.changes.append(f"{what} is missing")
            else:
                drift.changes.append(f"{what} changed")
    for unit, state in sorted(services.items()):
        if state != "active":
            drift.changes.append(f"service {unit} is {state}")
    return drift


def observe(
    machines: Iterable[Machine], known_hosts: str | None = None
) -> dict[str, str | Exception]:
    """Run the script on every machine at once: host -> its output, or the error."""
    machines = list(machines)
    probes = SshProbes(machines, known_hosts_file=known_hosts)

    def one(machine: Machine) -> str | Exception:
        try:
            rc, out, err = probes.run(machine, "sudo -n sh -s", stdin=OBSERVE_SCRIPT)
        except ProbeError as exc:
            return exc
        if rc != 0:
            return ProbeError(f"drift probe exited {rc}: {err.strip()[:200]}")
        return out

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(machines)))) as pool:
            return dict(zip([m.name for m in machines], pool.map(one, machines), strict=True))
    finally:
        probes.close()


def check_drift(
    machines: list[Machine], recorded: dict[str, Observation], known_hosts: str | None = None
) -> list[HostDrift]:
    """One HostDrift per machine (unreachable hosts carry `error` and are not drifted:
    `up` never touches a machine that is down; health names it)."""
    results = []
    for host, outcome in observe(machines, known_hosts).items():
        if isinstance(outcome, Exception):
            results.append(HostDrift(host, error=str(outcome)))
        else:
            results.append(compare(host, outcome, recorded.get(host)))
    return results
