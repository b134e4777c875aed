"""Running vagrant (and lxc-*) commands and reading their output, kept apart from the provider.

Pure parsers for ``vagrant status --machine-readable`` and ``vagrant ssh-config`` plus the one
subprocess runner; the provider takes the runner as a parameter so unit tests inject a fake.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

LineCallback = Callable[[str], None]


@dataclass(frozen=True)
class CommandResult:
    """What a finished command printed and how it exited."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 12) -> str:
        """The last non-empty lines of stderr (stdout when stderr is empty), for error messages."""
        text = self.stderr if self.stderr.strip() else self.stdout
        kept = [line.rstrip() for line in text.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])


class Runner(Protocol):
    """Signature of the command runner; ``run_command`` is the real one, tests pass a fake."""

    def __call__(
        self,
        args: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        on_line: LineCallback | None = None,
    ) -> CommandResult: ...


def run_command(
    args: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    on_line: LineCallback | None = None,
) -> CommandResult:
    """Run a command to completion; stream stdout lines to ``on_line`` as they arrive.

    stderr is drained on a thread so a chatty command can never block on a full pipe.
    A missing executable becomes returncode 127 with the OSError text, like a shell would.
    """
    try:
        proc = subprocess.Popen(
            args,
            env=dict(env) if env is not None else None,
            cwd=str(cwd) if cwd else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        return CommandResult(tuple(args), 127, "", f"{shlex.join(args)}: {exc}")
    err_chunks: list[str] = []
    stderr, stdout = proc.stderr, proc.stdout
    assert stderr is not None and stdout is not None
    drain = threading.Thread(target=lambda: err_chunks.append(stderr.read()), daemon=True)
    drain.start()
    out_lines: list[str] = []
    for line in stdout:
        out_lines.append(line)
        if on_line is not None and line.strip():
            on_line(line.rstrip("\n"))
    returncode = proc.wait()
    drain.join()
    return CommandResult(tuple(args), returncode, "".join(out_lines), "".join(err_chunks))


# --------------------------------------------------------------------------- parsers


def _unescape_machine_readable(value: str) -> str:
    return value.replace("%!(VAGRANT_COMMA)", ",").replace("\\n", "\n").replace("\\r", "\r")


def parse_machine_states(output: str) -> dict[str, str]:
    """`vagrant status --machine-readable` -> {machine name: state} (e.g. running, not_created).

    Each line is ``timestamp,target,type,data...``; only ``state`` lines with a target count.
    """
    states: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split(",", 3)
        if len(parts) == 4 and parts[1] and parts[2] == "state":
            states[parts[1]] = _unescape_machine_readable(parts[3]).strip()
    return states


@dataclass(frozen=True)
class SshConfig:
    """The connection facts of one ``Host`` block of ``vagrant ssh-config``."""

    host: str
    hostname: str
    user: str
    port: int
    identity_file: str | None


def parse_ssh_config(output: str) -> dict[str, SshConfig]:
    """`vagrant ssh-config` (one ``Host`` block per machine) -> {host alias: SshConfig}.

    Keys are case-insensitive (OpenSSH rules); the first IdentityFile wins, quotes are removed.
    """
    blocks: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in output.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        key, value = key.lower(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if key == "host":
            current = blocks.setdefault(value, {})
        elif current is not None:
            current.setdefault(key, value)
    configs = {}
    for host, facts in blocks.items():
        if "hostname" not in facts:
            continue
        configs[host] = SshConfig(
            host=host,
            hostname=facts["hostname"],
            user=facts.get("user", "vagrant"),
            port=int(facts.get("port", "22")),
            identity_file=facts.get("identityfile"),
        )
    return configs


#: How vagrant introduces each machine's error after a parallel action (2.3.4, wrapped).
_PARALLEL_ERROR = re.compile(
    r"An error occurred while executing the action on the '([^']+)'\s+machine\. "
    r"Please handle this error then try again:\s*\n(.*?)(?=\n\s*\n|\nAn error occurred|\Z)",
    re.DOTALL,
)


def parse_machine_errors(output: str) -> dict[str, str]:
    """The machines a parallel `vagrant up` names as failed -> the first paragraph of its error.

    Machines not named there (a serial run prints the bare error) are not in the result.
    """
    errors: dict[str, str] = {}
    for match in _PARALLEL_ERROR.finditer(output):
        reason = " ".join(line.strip() for line in match.group(2).splitlines() if line.strip())
        errors.setdefault(match.group(1), reason)
    return errors


def assign_addresses(
    first: str | None, names: Iterable[str], recorded: Mapping[str, str | None]
) -> dict[str, str | None]:
    """Private-network addresses: a machine keeps the one it has; new ones get the lowest free.

    ``first`` is the spec's ``provider.private_network`` (None: no private network, all None).
    """
    names = list(names)
    if first is None:
        return dict.fromkeys(names)
    taken = {ip for ip in recorded.values() if ip}
    result: dict[str, str | None] = {}
    candidate = ipaddress.IPv4Address(first)
    for name in names:
        if recorded.get(name):
            result[name] = recorded[name]
            continue
        while str(candidate) in taken:
            candidate += 1
        result[name] = str(candidate)
        taken.add(str(candidate))
    return result
