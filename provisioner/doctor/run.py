"""`doctor`: preflight every host over SSH (paramiko) before Ansible touches it.

All hosts are checked in parallel; each yields one :class:`DoctorCheck` per name in
``checks.CHECKS``. When ``ssh_login`` fails, that host's other checks are reported as
skipped. Host keys of strict machines are verified against ``~/.ssh/known_hosts`` plus the
given ``known_hosts`` file (the state directory's); an unknown key is refused unless
``accept_new_host_keys``, which records it into that file. A changed key is always refused.
Passwords and key material never appear in details.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..domain import Machine
from ..remote.connect import KeyFileError, connect
from ..sshlib import paramiko
from .checks import CHECKS, CommandResult, Runner, run_checks

DEFAULT_TIMEOUT_S = 5.0
#: How often the waiting thread wakes up, so Ctrl-C is handled within a second.
_POLL_S = 0.2
#: How long one remote command may take before its check fails.
COMMAND_TIMEOUT_S = 30.0
MAX_PARALLEL = 16


@dataclass(frozen=True)
class DoctorCheck:
    """One verdict: ``host`` passed or failed ``check``; ``detail`` says what was seen."""

    host: str
    check: str
    ok: bool
    detail: str
    #: True when the check did not run because ssh_login failed (ok is then False).
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DoctorReport:
    """Every check of every host, in machine order then check order."""

    checks: tuple[DoctorCheck, ...]
    #: Known-hosts names (address or ``[address]:port``) recorded by accept_new_host_keys.
    recorded_host_keys: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[DoctorCheck]:
        """Checks that ran and failed (skipped ones are left out: their cause is listed)."""
        return [c for c in self.checks if not c.ok and not c.skipped]

    @property
    def failed_hosts(self) -> list[str]:
        return list(dict.fromkeys(c.host for c in self.failures))

    def for_host(self, host: str) -> list[DoctorCheck]:
        return [c for c in self.checks if c.host == host]

    def check(self, host: str, name: str) -> DoctorCheck:
        return next(c for c in self.checks if c.host == host and c.check == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failed_hosts": self.failed_hosts,
            "recorded_host_keys": list(self.recorded_host_keys),
            "checks": [c.to_dict() for c in self.checks],
        }


class LoginFailed(Exception):
    """ssh_login failed; the message is the check's detail."""


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(hostname)
        self.hostname = hostname
        self.key = key


def fingerprint(key: paramiko.PKey) -> str:
    """`SHA256:...` as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Refuse unknown keys, or (accept_new) record them into the known_hosts file."""

    def __init__(self, accept_new: bool, record_to: Path, lock: threading.Lock) -> None:
        self.accept_new = accept_new
        self.record_to = record_to
        self.lock = lock
        self.recorded: str | None = None

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        if not self.accept_new:
            raise UnknownHostKey(hostname, key)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with self.lock:
            self.record_to.parent.mkdir(parents=True, exist_ok=True)
            with open(self.record_to, "a", encoding="utf-8") as handle:
                handle.write(line)
            self.record_to.chmod(0o600)
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.recorded = hostname


@dataclass(frozen=True)
class _Settings:
    accept_new_host_keys: bool
    known_hosts: Path | None
    record_to: Path
    timeout_s: float
    password: str | None
    lock: threading.Lock
    clock: Callable[[], float]
    #: Clients being used, closed on Ctrl-C so no thread waits out an SSH timeout.
    open_clients: set[paramiko.SSHClient] = field(default_factory=set)
    stopping: threading.Event = field(default_factory=threading.Event)


def _host_key_file_type(key: paramiko.PKey) -> str:
    """`ssh-ed25519` -> `ed25519`, `ecdsa-sha2-nistp256` -> `ecdsa` (sshd's file names)."""
    name = key.get_name()
    return "ecdsa" if name.startswith("ecdsa") else name.removeprefix("ssh-")


def _login_detail(machine: Machine, exc: BaseException, settings: _Settings) -> str:
    """A user-facing reason for a failed login (never the password or key contents)."""
    where = f"{machine.address}:{machine.ssh_port}"
    if isinstance(exc, UnknownHostKey):
        return (
            f"host key of {machine.name} ({exc.hostname}) is not known: {exc.key.get_name()} "
            f"{fingerprint(exc.key)}; compare it with `ssh-keygen -lf "
            f"/etc/ssh/ssh_host_{_host_key_file_type(exc.key)}_key.pub` on the host, then "
            "rerun with --accept-new-host-keys to record it"
        )
    if isinstance(exc, paramiko.BadHostKeyException):
        source = settings.known_hosts or Path("~/.ssh/known_hosts")
        return (
            f"host key of {machine.name} ({where}) CHANGED: known "
            f"{fingerprint(exc.expected_key)}, offered {fingerprint(exc.key)}; if the host was "
            f"reinstalled remove the old entry (ssh-keygen -R {machine.address} -f {source})"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        method = (
            "password"
            if settings.password
            else f"key {machine.ssh_private_key}"
            if machine.ssh_private_key
            else "ssh-agent/default keys"
        )
        return f"authentication as {machine.ssh_user}@{where} failed ({method})"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        reasons = sorted({getattr(e, "strerror", None) or str(e) for e in exc.errors.values()})
        return f"cannot reach {where}: {', '.join(reasons).lower()}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"cannot reach {where}: no answer within {settings.timeout_s:g} s"
    if isinstance(exc, paramiko.SSHException):
        return f"SSH handshake with {where} failed: {exc}"
    if isinstance(exc, OSError):
        return f"cannot reach {where}: {exc.strerror or exc}"
    return f"login to {where} failed: {type(exc).__name__}"


def _connect(machine: Machine, settings: _Settings) -> tuple[paramiko.SSHClient, str | None]:
    """A logged-in client and the known-hosts name recorded for it (if any)."""
    policy = _HostKeyPolicy(settings.accept_new_host_keys, settings.record_to, settings.lock)

    def track(client: paramiko.SSHClient) -> None:
        with settings.lock:
            if settings.stopping.is_set():
                raise LoginFailed("interrupted")
            settings.open_clients.add(client)

    try:
        client = connect(
            machine,
            timeout_s=settings.timeout_s,
            known_hosts=settings.known_hosts,
            password=settings.password,
            unknown_host_key=policy,
            on_client=track,
        )
    except LoginFailed:
        raise
    except KeyFileError as exc:
        raise LoginFailed(str(exc)) from None
    except Exception as exc:
        raise LoginFailed(_login_detail(machine, exc, settings)) from None
    return client, policy.recorded if machine.strict_host_keys else None


def _runner(client: paramiko.SSHClient) -> Runner:
    def run(command: str) -> CommandResult:
        _stdin, stdout, stderr = client.exec_command(
            f"LC_ALL=C sh -c {_quote(command)}", timeout=COMMAND_TIMEOUT_S
        )
        try:
            out = stdout.read().decode("utf-8", errors="replace")
            err = stderr.read().decode("utf-8", errors="replace")
            return CommandResult(stdout.channel.recv_exit_status(), out, err)
        finally:
            stdout.channel.close()

    return run


def _quote(command: str) -> str:
    return "'" + command.replace("'", "'\"'\"'") + "'"


def _check_host(machine: Machine, settings: _Settings) -> tuple[list[DoctorCheck], str | None]:
    try:
        client, recorded = _connect(machine, settings)
    except LoginFailed as failure:
        checks = [DoctorCheck(machine.name, "ssh_login", False, str(failure))]
        checks += [
            DoctorCheck(machine.name, name, False, "skipped: ssh_login failed", skipped=True)
            for name in CHECKS[1:]
        ]
        return checks, None
    try:
        login = f"logged in as {machine.ssh_user}@{machine.address}:{machine.ssh_port}"
        if recorded:
            login += f" (new host key recorded in {settings.record_to})"
        checks = [DoctorCheck(machine.name, "ssh_login", True, login)]
        verdicts = run_checks(_runner(client), machine.roles, machine.ssh_user, settings.clock)
        checks += [DoctorCheck(machine.name, name, v.ok, v.detail) for name, v in verdicts]
        return checks, recorded
    finally:
        client.close()
        with settings.lock:
            settings.open_clients.discard(client)


def run_doctor(
    spec: Any,
    machines: list[Machine],
    *,
    accept_new_host_keys: bool = False,
    known_hosts: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    password: str | None = None,
    clock: Callable[[], float] = time.time,
) -> DoctorReport:
    """Check every machine in parallel; never raises for a host problem (it is reported).

    ``known_hosts`` is read in addition to ``~/.ssh/known_hosts`` and receives accepted keys
    (``~/.ssh/known_hosts`` does when it is None). ``password`` defaults to ``ssh.password``.
    """
    if password is None and spec.ssh.password is not None:
        password = spec.ssh.password.get_secret_value()
    settings = _Settings(
        accept_new_host_keys=accept_new_host_keys,
        known_hosts=known_hosts,
        record_to=known_hosts or Path("~/.ssh/known_hosts").expanduser(),
        timeout_s=timeout_s,
        password=password,
        lock=threading.Lock(),
        clock=clock,
    )
    if not machines:
        return DoctorReport(checks=())
    results = _check_all(machines, settings)
    checks = tuple(check for host_checks, _ in results for check in host_checks)
    recorded = tuple(name for _, name in results if name)
    return DoctorReport(checks=checks, recorded_host_keys=recorded)


def _check_all(
    machines: list[Machine], settings: _Settings
) -> list[tuple[list[DoctorCheck], str | None]]:
    """Every host's checks, at most MAX_PARALLEL at a time, in machine order.

    Daemon threads and a polling wait: on Ctrl-C the open connections are closed and
    KeyboardInterrupt propagates at once, instead of after the slowest SSH timeout.
    """
    results: dict[int, tuple[list[DoctorCheck], str | None]] = {}
    errors: list[BaseException] = []
    slots = threading.BoundedSemaphore(min(MAX_PARALLEL, len(machines)))

    def work(index: int, machine: Machine) -> None:
        try:
            results[index] = _check_host(machine, settings)
        except BaseException as exc:  # re-raised in the calling thread, as pool.map does
            errors.append(exc)
        finally:
            slots.release()

    threads = []
    try:
        for index, machine in enumerate(machines):
            while not slots.acquire(timeout=_POLL_S):
                pass
            thread = threading.Thread(
                target=work, args=(index, machine), name=f"doctor-{machine.name}", daemon=True
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            while thread.is_alive():
                thread.join(_POLL_S)
    except KeyboardInterrupt:
        settings.stopping.set()
        with settings.lock:
            clients = list(settings.open_clients)
        for client in clients:
            client.close()
        raise
    if errors:
        raise errors[0]
    return [results[index] for index in range(len(machines))]
