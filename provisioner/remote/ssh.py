"""Probes through SSH, for clusters whose service ports are not reachable from here.

One paramiko connection per machine, kept for the life of the probes object; every probe
opens a `direct-tcpip` channel from that machine to its own address (services bind to the
node address, e.g. Mesos `--ip`, so "localhost" on the node may not answer).

paramiko is imported at the first login, not with this module: it takes 0.1 s, which
`status` spends reading the firewalls in the background while the other checks run.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import TYPE_CHECKING, Any

from ..domain import Machine
from ..ports import ZOOKEEPER_CLIENT_PORT
from .probes import (
    DEFAULT_TIMEOUT_S,
    ProbeError,
    StreamProbes,
    describe_error,
)

if TYPE_CHECKING:
    from ..sshlib import paramiko


class UntrustedHostError(ProbeError):
    """The host answered but is not trusted: its key is unknown or changed, or the login was
    refused. Unlike a host that is down, this must stop a command, never be skipped."""


def _is_trust_failure(exc: BaseException) -> bool:
    from ..sshlib import paramiko

    if isinstance(exc, paramiko.BadHostKeyException | paramiko.AuthenticationException):
        return True
    # RejectPolicy: "Server '[host]:22' not found in known_hosts"
    return isinstance(exc, paramiko.SSHException) and "known_hosts" in str(exc)


def describe_ssh_error(exc: BaseException, machine: Machine, timeout_s: float) -> str:
    from ..sshlib import paramiko

    login = f"{machine.ssh_user}@{machine.address}:{machine.ssh_port}"
    if isinstance(exc, paramiko.BadHostKeyException):
        offered = exc.key
        digest = base64.b64encode(hashlib.sha256(offered.asbytes()).digest()).decode().rstrip("=")
        return (
            f"ssh {login}: host key changed: it offers {offered.get_name()} SHA256:{digest}, "
            "not the key recorded for it (a man in the middle, or the host was re-keyed)"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return f"ssh {login}: authentication failed"
    if isinstance(exc, paramiko.ChannelException):
        return f"connection refused ({exc.text or 'channel open failed'})"
    if isinstance(exc, paramiko.SSHException):
        return f"ssh {login}: {exc}"
    return f"ssh {login}: {describe_error(exc, timeout_s)}"


class SshProbes(StreamProbes):
    """Same probes as DirectProbes, tunnelled through each machine's SSH server."""

    def __init__(
        self,
        machines: list[Machine],
        timeout_s: float = DEFAULT_TIMEOUT_S,
        zookeeper_port: int = ZOOKEEPER_CLIENT_PORT,
        known_hosts_file: str | None = None,
    ) -> None:
        super().__init__(timeout_s, zookeeper_port)
        self._machines = {m.address: m for m in machines}
        self._known_hosts_file = known_hosts_file
        self._clients: dict[str, paramiko.SSHClient] = {}
        self._logins: dict[str, threading.Lock] = {}

    def _machine(self, address: str) -> Machine:
        try:
            return self._machines[address]
        except KeyError:
            raise ProbeError(f"no machine with address {address} to connect through") from None

    def _client(self, machine: Machine) -> paramiko.SSHClient:
        from .connect import KeyFileError, connect

        # One login per machine, also when several checks ask for it at once.
        with self._logins.setdefault(machine.address, threading.Lock()):
            client = self._clients.get(machine.address)
            transport = client.get_transport() if client else None
            if client and transport and transport.is_active():
                return client
            self._drop(machine.address)
            try:
                client = connect(
                    machine, timeout_s=self.timeout_s, known_hosts=self._known_hosts_file
                )
            except KeyFileError as exc:
                raise ProbeError(f"ssh private key {machine.ssh_private_key}: {exc}") from None
            except Exception as exc:
                error = UntrustedHostError if _is_trust_failure(exc) else ProbeError
                raise error(describe_ssh_error(exc, machine, self.timeout_s)) from None
            self._clients[machine.address] = client
            return client

    def _drop(self, address: str) -> None:
        client = self._clients.pop(address, None)
        if client is not None:
            client.close()

    def _open(self, address: str, port: int, timeout_s: float) -> Any:
        from ..sshlib import paramiko

        machine = self._machine(address)
        for attempt in (1, 2):  # a cached session may have died with a rebooted machine
            transport = self._client(machine).get_transport()
            try:
                channel = transport.open_channel(  # type: ignore[union-attr]
                    "direct-tcpip",
                    (machine.cluster_address, port),
                    ("127.0.0.1", 0),
                    timeout=timeout_s,
                )
            except paramiko.ChannelException as exc:
                raise ProbeError(describe_ssh_error(exc, machine, timeout_s)) from None
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self._drop(address)
                if attempt == 2:
                    raise ProbeError(describe_ssh_error(exc, machine, timeout_s)) from None
                continue
            channel.settimeout(timeout_s)
            return channel
        raise AssertionError("unreachable")  # pragma: no cover

    def run(
        self, machine: Machine, command: str, stdin: str = "", timeout_s: float = 60.0
    ) -> tuple[int, str, str]:
        """Run a command on the machine over its cached session (stdin written first):
        (exit code, stdout, stderr); ProbeError when the session fails."""
        try:
            client = self._client(machine)
            channel_in, channel_out, channel_err = client.exec_command(command, timeout=timeout_s)
            if stdin:
                channel_in.write(stdin)
            channel_in.channel.shutdown_write()
            out = channel_out.read().decode("utf-8", "replace")
            err = channel_err.read().decode("utf-8", "replace")
            return channel_out.channel.recv_exit_status(), out, err
        except ProbeError:
            raise
        except Exception as exc:
            self._drop(machine.address)
            raise ProbeError(describe_ssh_error(exc, machine, self.timeout_s)) from None

    def tcp(self, address: str, port: int) -> None:
        machine = self._machine(address)
        if port == machine.ssh_port:
            self._client(machine)  # a logged-in session is the answer
            return
        super().tcp(address, port)

    def close(self) -> None:
        for address in list(self._clients):
            self._drop(address)
