"""The doctor's checks as pure verdicts over command output, plus the order they run in.

``run.py`` owns SSH (login, host keys, parallelism); this module only decides, from what a
host answered, whether it is fit for the cluster, so every rule is unit-tested on fixtures.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ..domain import Role
from ..ports import (
    MESOS_AGENT_PORT,
    MESOS_MASTER_PORT,
    ZOOKEEPER_CLIENT_PORT,
    ZOOKEEPER_ELECTION_PORT,
    ZOOKEEPER_PEER_PORT,
)

#: Check names, in the order they run (and are reported) on each host.
CHECKS: tuple[str, ...] = (
    "ssh_login",
    "sudo",
    "python3",
    "os_family",
    "ports_free",
    "clock_skew",
    "disk_space",
)

#: Ports each role must be able to bind; a listener there blocks it unless it is ours.
PORTS_BY_ROLE: dict[str, tuple[int, ...]] = {
    Role.ZOOKEEPER: (ZOOKEEPER_CLIENT_PORT, ZOOKEEPER_PEER_PORT, ZOOKEEPER_ELECTION_PORT),
    Role.MASTER: (MESOS_MASTER_PORT,),
    Role.AGENT: (MESOS_AGENT_PORT,),
}
#: The service that legitimately holds each port once the cluster is installed.
PORT_OWNERS: dict[int, str] = {
    ZOOKEEPER_CLIENT_PORT: "zookeeper",
    ZOOKEEPER_PEER_PORT: "zookeeper",
    ZOOKEEPER_ELECTION_PORT: "zookeeper",
    MESOS_MASTER_PORT: "mesos-master",
    MESOS_AGENT_PORT: "mesos-agent",
}
MAX_CLOCK_SKEW_S = 2.0
GIB = 1024**3
DISK_PATH = "/var/lib"
MIN_FREE_BYTES_AGENT = 5 * GIB
MIN_FREE_BYTES_OTHER = 2 * GIB
#: ansible-core 2.19 manages targets running Python 3.8 or newer.
MIN_PYTHON = (3, 8)
#: os-release ID -> oldest supported major version; families by ID or ID_LIKE.
SUPPORTED_OS: dict[str, tuple[str, int]] = {
    "debian": ("Debian", 11),
    "ubuntu": ("Debian", 20),
    "rhel": ("RedHat", 8),
    "centos": ("RedHat", 8),
    "rocky": ("RedHat", 8),
    "almalinux": ("RedHat", 8),
    "ol": ("RedHat", 8),
}
LIKE_FAMILIES = {"debian": "Debian", "ubuntu": "Debian", "rhel": "RedHat", "centos": "RedHat"}

SUDO_COMMAND = "sudo -n true"
PYTHON_COMMAND = "python3 -c 'import sys; print(\"%d.%d.%d\" % sys.version_info[:3])'"
OS_RELEASE_COMMAND = "cat /etc/os-release"
CLOCK_COMMAND = "date +%s.%N"
DISK_COMMAND = f"df -Pk {DISK_PATH}"
CMDLINES_MARKER = "@@cmdlines@@"
#: Listening TCP sockets with their processes (root sees all of them), then each listener's
#: command line, so a port held by our own ZooKeeper/Mesos can be told from a stranger.
PORTS_COMMAND = (
    "out=$(sudo -n ss -ltnpH 2>/dev/null || ss -ltnH); printf '%s\\n' \"$out\"; "
    f"echo {CMDLINES_MARKER}; "
    "for pid in $(printf '%s\\n' \"$out\" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do "
    "printf '%s ' \"$pid\"; tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null; echo; done"
)


class CommandResult(NamedTuple):
    rc: int
    stdout: str
    stderr: str


#: Runs one shell command on the host.
Runner = Callable[[str], CommandResult]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    detail: str


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def sudo_verdict(result: CommandResult, user: str) -> Verdict:
    if result.rc == 0:
        return Verdict(True, "passwordless sudo works")
    reason = _first_line(result.stderr) or f"exit code {result.rc}"
    return Verdict(False, f"`{SUDO_COMMAND}` failed ({reason}); give {user} NOPASSWD sudo")


def python_verdict(result: CommandResult) -> Verdict:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", result.stdout.strip())
    if result.rc != 0 or not match:
        return Verdict(False, "python3 not found (Ansible needs it on every host)")
    version = (int(match[1]), int(match[2]))
    if version < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        return Verdict(False, f"python3 {match[0]} is too old (Ansible needs {wanted}+)")
    return Verdict(True, f"python3 {match[0]}")


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            parsed = shlex.split(value, posix=True)
            values[key.strip()] = parsed[0] if parsed else ""
    return values


def os_family_verdict(result: CommandResult) -> Verdict:
    if result.rc != 0:
        return Verdict(False, "cannot read /etc/os-release")
    release = parse_os_release(result.stdout)
    os_id = release.get("ID", "").lower()
    pretty = release.get("PRETTY_NAME") or os_id or "unknown OS"
    version = release.get("VERSION_ID", "")
    major = int(match[0]) if (match := re.match(r"\d+", version)) else None
    if os_id in SUPPORTED_OS:
        family, oldest = SUPPORTED_OS[os_id]
        if major is not None and major < oldest:
            return Verdict(False, f"{pretty} is too old ({os_id} {oldest}+ is supported)")
        return Verdict(True, f"{pretty} ({family} family)")
    likes = release.get("ID_LIKE", "").lower().split()
    like_family = next((LIKE_FAMILIES[like] for like in likes if like in LIKE_FAMILIES), None)
    if like_family:
        return Verdict(True, f"{pretty} ({like_family} family by ID_LIKE; not tested)")
    supported = ", ".join(sorted(SUPPORTED_OS))
    return Verdict(False, f"{pretty} is not supported (supported: {supported})")


class Listener(NamedTuple):
    port: int
    process: str | None
    pid: int | None


def parse_listeners(ss_output: str) -> list[Listener]:
    """Listening sockets from `ss -ltn[p]H` lines: State Recv-Q Send-Q Local Peer [Process]."""
    listeners = []
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[3].rpartition(":")[2].isdigit():
            continue
        process = re.search(r'users:\(\("([^"]*)",pid=(\d+)', line)
        listeners.append(
            Listener(
                port=int(fields[3].rpartition(":")[2]),
                process=process[1] if process else None,
                pid=int(process[2]) if process else None,
            )
        )
    return listeners


def classify_service(command_line: str) -> str | None:
    """Which of our services a process is, judged by its command line (or process name)."""
    text = command_line.lower()
    if "zookeeper" in text:
        return "zookeeper"
    if "mesos-master" in text:
        return "mesos-master"
    if "mesos-agent" in text or "mesos-slave" in text:
        return "mesos-agent"
    return None


def ports_for_roles(roles: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    return tuple(sorted({port for role in roles for port in PORTS_BY_ROLE.get(role, ())}))


def ports_verdict(result: CommandResult, roles: tuple[str, ...] | list[str]) -> Verdict:
    """Each port the roles need is free, or held by the service that owns it (ours)."""
    if result.rc != 0 and not result.stdout.strip():
        return Verdict(False, f"cannot list listening ports: {_first_line(result.stderr)}")
    ss_part, _, cmd_part = result.stdout.partition(CMDLINES_MARKER)
    command_lines = {}
    for line in cmd_part.splitlines():
        pid, _, args = line.strip().partition(" ")
        if pid.isdigit():
            command_lines[int(pid)] = args.strip()
    wanted = ports_for_roles(roles)
    problems: list[str] = []
    ours: dict[int, str] = {}
    for port in wanted:
        holders = [listener for listener in parse_listeners(ss_part) if listener.port == port]
        if not holders:
            continue
        holder = holders[0]
        command_line = command_lines.get(holder.pid or -1) or holder.process or ""
        service = classify_service(command_line)
        if service is not None and service == PORT_OWNERS[port]:
            ours[port] = f"{port} in use by {service} (ours)"
        elif holder.process:
            problems.append(f"{port} in use by {holder.process} (pid {holder.pid})")
        else:
            problems.append(f"{port} in use by an unknown process")
    if problems:
        return Verdict(False, "; ".join(problems + list(ours.values())))
    free = [str(port) for port in wanted if port not in ours]
    parts = ([f"{', '.join(free)} free"] if free else []) + list(ours.values())
    return Verdict(True, "; ".join(parts) or "no cluster ports needed")


def clock_skew_verdict(
    result: CommandResult, sent: float, received: float, max_skew_s: float = MAX_CLOCK_SKEW_S
) -> Verdict:
    """Remote clock against the local midpoint of the round trip (sent..received)."""
    match = re.match(r"(\d+)(\.\d+)?", result.stdout.strip())
    if result.rc != 0 or not match:
        return Verdict(False, f"cannot read the remote clock: {_first_line(result.stderr)}")
    remote = float(match[1] + (match[2] or ""))
    skew = remote - (sent + received) / 2
    direction = "ahead of" if skew >= 0 else "behind"
    detail = f"clock is {abs(skew):.2f} s {direction} this machine"
    if abs(skew) > max_skew_s:
        return Verdict(False, f"{detail} (more than {max_skew_s:g} s; enable NTP/chrony)")
    return Verdict(True, detail)


def min_free_bytes(roles: tuple[str, ...] | list[str]) -> int:
    return MIN_FREE_BYTES_AGENT if Role.AGENT in roles else MIN_FREE_BYTES_OTHER


def disk_verdict(result: CommandResult, roles: tuple[str, ...] | list[str]) -> Verdict:
    """Free space under /var/lib (packages, ZooKeeper data, Mesos work dirs)."""
    lines = [line.split() for line in result.stdout.splitlines() if line.strip()]
    if result.rc != 0 or len(lines) < 2 or len(lines[1]) < 6 or not lines[1][3].isdigit():
        return Verdict(
            False, f"cannot read free space of {DISK_PATH}: {_first_line(result.stderr)}"
        )
    free = int(lines[1][3]) * 1024
    minimum = min_free_bytes(roles)
    why = "an agent" if Role.AGENT in roles else "this role"
    detail = f"{free / GIB:.1f} GiB free on {DISK_PATH} (mounted at {lines[1][5]})"
    if free < minimum:
        return Verdict(False, f"{detail}; {why} needs at least {minimum // GIB} GiB")
    return Verdict(True, detail)


def run_checks(
    run: Runner, roles: tuple[str, ...], user: str, clock: Callable[[], float]
) -> list[tuple[str, Verdict]]:
    """Every check after ssh_login, in CHECKS order; a failing command fails only its check."""
    verdicts: list[tuple[str, Verdict]] = []

    def guarded(name: str, decide: Callable[[], Verdict]) -> None:
        try:
            verdicts.append((name, decide()))
        except Exception as exc:  # a dropped connection or timeout fails this check only
            verdicts.append((name, Verdict(False, f"could not run: {type(exc).__name__}: {exc}")))

    def skew() -> Verdict:
        sent = clock()
        result = run(CLOCK_COMMAND)
        return clock_skew_verdict(result, sent, clock())

    guarded("sudo", lambda: sudo_verdict(run(SUDO_COMMAND), user))
    guarded("python3", lambda: python_verdict(run(PYTHON_COMMAND)))
    guarded("os_family", lambda: os_family_verdict(run(OS_RELEASE_COMMAND)))
    guarded("ports_free", lambda: ports_verdict(run(PORTS_COMMAND), roles))
    guarded("clock_skew", skew)
    guarded("disk_space", lambda: disk_verdict(run(DISK_COMMAND), roles))
    return verdicts
