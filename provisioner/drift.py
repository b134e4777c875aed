"""A cheap, read-only drift probe: each role's managed files exist and its service runs.

Health cannot see a deleted config file while the old process keeps running; this probe can,
in one SSH command per host (no Ansible play, so healthy hosts stay out of every play).
Content edits are not compared: that is `up`'s drift check (`site.yml` reports `changed`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from .providers.base import Machine
from .topology import AGENT, MASTER, ZOOKEEPER

ROLE_ZOOKEEPER, ROLE_MASTER, ROLE_AGENT = "zookeeper", "mesos_master", "mesos_agent"
ROLE_ORDER = (ROLE_ZOOKEEPER, ROLE_MASTER, ROLE_AGENT)
MACHINE_ROLES = {ROLE_ZOOKEEPER: ZOOKEEPER, ROLE_MASTER: MASTER, ROLE_AGENT: AGENT}
#: host -> role -> what the probe found.
Findings = dict[str, dict[str, list[str]]]


@dataclass(frozen=True)
class Footprint:
    """What a role leaves on a host: a service that must run and files that must exist
    (alternatives separated by '|'). Mirrors the role defaults (Debian and RedHat paths)."""

    service: str
    files: tuple[str, ...]


FOOTPRINTS: dict[str, Footprint] = {
    ROLE_ZOOKEEPER: Footprint(
        "zookeeper",
        ("/etc/zookeeper/conf/zoo.cfg|/etc/zookeeper/zoo.cfg", "/var/lib/zookeeper/myid"),
    ),
    ROLE_MASTER: Footprint(
        "mesos-master", ("/etc/default/mesos-master", "/etc/systemd/system/mesos-master.service")
    ),
    ROLE_AGENT: Footprint(
        "mesos-agent",
        (
            "/etc/default/mesos-agent",
            "/etc/systemd/system/mesos-agent.service",
            "/var/lib/mesos/agent.identity",
        ),
    ),
}


def footprint_command(roles: list[str]) -> str:
    """One shell command printing `<role> <problem>` for each missing file or idle service."""
    lines = []
    for role in roles:
        footprint = FOOTPRINTS[role]
        for alternatives in footprint.files:
            paths = alternatives.split("|")
            test = " || ".join(f"test -e {shlex.quote(p)}" for p in paths)
            lines.append(f"{{ {test}; }} || echo {role} missing {shlex.quote(paths[0])}")
        service = shlex.quote(footprint.service)
        lines.append(f"systemctl is-active --quiet {service} || echo {role} stopped {service}")
        lines.append(f"systemctl is-enabled --quiet {service} || echo {role} disabled {service}")
    return "sudo -n sh -c " + shlex.quote("; ".join(lines) + "; true")


def parse_footprint(output: str) -> dict[str, list[str]]:
    """`<role> <problem> <what>` lines -> role -> problems."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        role, _, problem = line.strip().partition(" ")
        if role in FOOTPRINTS and problem:
            found.setdefault(role, []).append(f"drift: {problem}")
    return found


def host_roles(machine: Machine) -> list[str]:
    return [r for r in ROLE_ORDER if MACHINE_ROLES[r] in machine.roles]


def probe_drift(machines: list[Machine]) -> tuple[Findings, list[str]]:
    """Run the footprint command on every machine over SSH: targets, and probe errors."""
    from concurrent.futures import ThreadPoolExecutor

    from .health import SshProbes

    probes = SshProbes(machines)

    def one(machine: Machine) -> tuple[str, dict[str, list[str]] | str]:
        roles = host_roles(machine)
        if not roles:
            return machine.name, {}
        try:
            rc, out, err = probes.run(machine.address, footprint_command(roles), timeout_s=30)
        except Exception as exc:
            return machine.name, f"{type(exc).__name__}: {exc}"
        if rc != 0:
            return machine.name, f"exit {rc}: {err.strip()[:200]}"
        return machine.name, parse_footprint(out)

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(machines)))) as pool:
            answers = list(pool.map(one, machines))
    finally:
        probes.close()
    targets: Findings = {}
    errors = []
    for name, answer in answers:
        if isinstance(answer, str):
            errors.append(f"{name}: {answer}")
        elif answer:
            targets[name] = answer
    return targets, errors
