"""Drift checks: one SSH round trip per host, in parallel, no Ansible play.

Every role records what it manages in `/var/lib/dcos-provision/manifest.d/<role>` (the
`common` role's tasks/manifest.yml): `file <path>` (content hashed), `link <path>` (target
read) and `service <unit>` (must be active and enabled). The script below prints each entry
with its role and what it sees.

- `up` (check_drift): after a converge the observation is stored in state.json; a later `up`
  with an unchanged spec observes again and runs the play only on the hosts whose files or
  links differ, or whose services are not active and enabled. What it does not see (packages,
  files no role lists) is what `up --converge` is for.
- `repair` (probe_drift): which roles' files are missing or services down on each host, so
  exactly those roles are re-converged there.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .domain import Machine
from .errors import HostTrustError
from .remote.probes import ProbeError
from .remote.ssh import SshProbes, UntrustedHostError
from .roles import MACHINE_ROLES, ROLE_AGENT, ROLE_MASTER, ROLE_ORDER

MANIFEST_DIR = "/var/lib/dcos-provision/manifest.d"
#: POSIX sh, run with sudo: one line per manifest entry, `<role> <kind> <item> <observation>`
#: (services give two lines: `service` with the active state, `enabled` with yes or no).
OBSERVE_SCRIPT = """set -u
d=${1:-/var/lib/dcos-provision/manifest.d}
[ -d "$d" ] || { echo "- manifest - missing"; exit 0; }
for m in "$d"/*; do
  [ -f "$m" ] || continue
  role=${m##*/}
  sort -u "$m" | while read -r kind item; do
    case "$kind" in
      file) if [ -f "$item" ]; then h=$(sha256sum < "$item"); echo "$role file $item ${h%% *}";
            else echo "$role file $item missing"; fi ;;
      link) echo "$role link $item $(readlink "$item" || echo missing)" ;;
      service) echo "$role service $item $(systemctl is-active "$item" 2>/dev/null || true)"
               if systemctl is-enabled --quiet "$item" 2>/dev/null; then e=yes; else e=no; fi
               echo "$role enabled $item $e" ;;
    esac
  done
done
"""
#: host -> role -> what the probe found (repair's findings).
Findings = dict[str, dict[str, list[str]]]
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


@dataclass(frozen=True)
class Entry:
    """One line of the script: what a role manages and what the host shows for it."""

    role: str
    kind: str  # file | link | service | enabled | manifest
    item: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind} {self.item}"


def parse_entries(text: str) -> list[Entry]:
    entries = []
    for line in text.splitlines():
        role, _, rest = line.partition(" ")
        kind, _, rest = rest.partition(" ")
        item, _, value = rest.rpartition(" ")
        if role and kind and item:
            entries.append(Entry(role, kind, item, value))
    return entries


def parse_observation(text: str) -> tuple[Observation, dict[str, str]]:
    """The script's output -> ({"file /p": hash, "link /p": target}, {unit: state}); a unit
    that is not enabled shows as "<state>, disabled"."""
    recorded: Observation = {}
    services: dict[str, str] = {}
    entries = parse_entries(text)
    for entry in entries:
        if entry.kind == "service":
            services[entry.item] = entry.value or "unknown"
        elif entry.kind in ("file", "link", "manifest"):
            recorded[entry.key] = entry.value
    for entry in entries:  # after every service line, whatever the order of the lines
        if entry.kind == "enabled" and entry.value != "yes" and entry.item in services:
            services[entry.item] += ", disabled"
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
    machines: Iterable[Machine], known_hosts: str | None = None, manifest_dir: str = MANIFEST_DIR
) -> dict[str, str | Exception]:
    """Run the script on every machine at once: host -> its output, or the error."""
    machines = list(machines)
    probes = SshProbes(machines, known_hosts_file=known_hosts)
    command = f"sudo -n sh -s {shlex.quote(manifest_dir)}"

    def one(machine: Machine) -> str | Exception:
        try:
            rc, out, err = probes.run(machine, command, stdin=OBSERVE_SCRIPT, timeout_s=30)
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
    `up` never touches a machine that is down; health names it). A host that answers but is
    not trusted (unknown or changed host key, refused login) stops the check: HostTrustError."""
    outcomes = observe(machines, known_hosts)
    untrusted = {h: o for h, o in outcomes.items() if isinstance(o, UntrustedHostError)}
    if untrusted:
        raise HostTrustError(
            "Host key verification failed (or the login was refused) for "
            + ", ".join(sorted(untrusted))
            + ": "
            + "; ".join(f"{host}: {error}" for host, error in sorted(untrusted.items())),
            hint="check each host's key through a trusted channel (docs/troubleshooting.md); "
            "only if it is the host's own, remove the old lines with `ssh-keygen -R ADDRESS -f "
            f"{known_hosts or '~/.ssh/known_hosts'}` and record it with "
            "`dcos-provision doctor SPEC --accept-new-host-keys`",
        )
    results = []
    for host, outcome in outcomes.items():
        if isinstance(outcome, Exception):
            results.append(HostDrift(host, error=str(outcome)))
        else:
            results.append(compare(host, outcome, recorded.get(host)))
    return results


def role_findings(machine: Machine, text: str) -> dict[str, list[str]]:
    """repair's view of one host: role -> missing files and stopped or disabled services.
    The install link counts for the host's Mesos roles; `common` is no repair target."""
    mesos_roles = [r for r in (ROLE_MASTER, ROLE_AGENT) if MACHINE_ROLES[r] in machine.roles]
    found: dict[str, list[str]] = {}
    for entry in parse_entries(text):
        problem = None
        if entry.kind in ("file", "link") and entry.value == "missing":
            problem = f"drift: missing {entry.item}"
        elif entry.kind == "service" and entry.value != "active":
            problem = f"drift: stopped {entry.item}"
        elif entry.kind == "enabled" and entry.value != "yes":
            problem = f"drift: disabled {entry.item}"
        if problem is None:
            continue
        roles = mesos_roles if entry.role == "mesos_install" else [entry.role]
        for role in roles:
            if role in ROLE_ORDER and MACHINE_ROLES[role] in machine.roles:
                found.setdefault(role, []).append(problem)
    return found


def probe_drift(
    machines: list[Machine], known_hosts: str | None = None, manifest_dir: str = MANIFEST_DIR
) -> tuple[Findings, list[str]]:
    """For `repair`: host -> role -> problems on every machine, and the hosts it could not
    look at ("name: why")."""
    by_name = {m.name: m for m in machines}
    targets: Findings = {}
    errors = []
    for host, outcome in observe(machines, known_hosts, manifest_dir).items():
        if isinstance(outcome, Exception):
            errors.append(f"{host}: {outcome}")
        elif found := role_findings(by_name[host], outcome):
            targets[host] = found
    return targets, errors
