"""A tiny in-process SSH server (paramiko) on 127.0.0.1 that answers canned commands.

Used by the doctor tests to exercise the real client path (host keys, auth, exec) without
containers. Commands are matched by a keyword; unknown ones answer rc 127.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from provisioner.domain import Machine


@dataclass
class Reply:
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class FakeHost:
    """What the fake server accepts and answers."""

    user: str = "ops"
    authorized_key: paramiko.PKey | None = None
    password: str | None = None
    #: keyword found in the command -> reply (or a callable producing one)
    replies: dict[str, Reply | Callable[[], Reply]] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


class _Interface(paramiko.ServerInterface):
    def __init__(self, host: FakeHost) -> None:
        self.host = host

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        allowed = self.host.authorized_key
        if username == self.host.user and allowed is not None and key == allowed:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        if username == self.host.user and self.host.password and password == self.host.password:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return (
            paramiko.OPEN_SUCCEEDED
            if kind == "session"
            else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        )

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        text = command.decode()
        self.host.commands.append(text)
        reply: Reply = Reply(127, "", f"sh: command not found: {text}\n")
        for keyword, answer in self.host.replies.items():
            if keyword in text:
                reply = answer() if callable(answer) else answer
                break

        def respond() -> None:
            # EOF instead of close: a close could overtake the exec request's success reply.
            channel.sendall(reply.stdout.encode())
            channel.sendall_stderr(reply.stderr.encode())
            channel.send_exit_status(reply.rc)
            channel.shutdown_write()

        threading.Thread(target=respond, daemon=True).start()
        return True


class FakeSSHServer:
    """Listens on 127.0.0.1:<free port> until close(); one thread per connection."""

    def __init__(self, host: FakeHost, host_key: paramiko.PKey) -> None:
        self.host = host
        self.host_key = host_key
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port: int = self.sock.getsockname()[1]
        self.transports: list[paramiko.Transport] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            self.transports.append(transport)
            try:
                transport.start_server(server=_Interface(self.host))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        for transport in self.transports:
            transport.close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def machine_on_fake_server(
    tmp_path: Path, name: str, *, strict_host_keys: bool
) -> Iterator[tuple[FakeHost, FakeSSHServer, Machine]]:
    """A FakeSSHServer that accepts a fresh key (written to tmp_path/id), and a master +
    ZooKeeper machine that logs in to it as `ops`; the server closes on exit."""
    key = paramiko.ECDSAKey.generate()
    key.write_private_key_file(str(tmp_path / "id"))
    host = FakeHost(authorized_key=key)
    server = FakeSSHServer(host, paramiko.ECDSAKey.generate())
    machine = Machine(
        name=name,
        roles=("master", "zookeeper"),
        address="127.0.0.1",
        ssh_user="ops",
        ssh_port=server.port,
        ssh_private_key=str(tmp_path / "id"),
        strict_host_keys=strict_host_keys,
    )
    try:
        yield host, server, machine
    finally:
        server.close()
