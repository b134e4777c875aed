"""A tiny in-process SSH server (paramiko) that only allows `direct-tcpip` forwarding."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import paramiko

_KEYS: dict[str, paramiko.RSAKey] = {}


def cached_key(name: str) -> paramiko.RSAKey:
    """RSA keys generated once per test run (generation is the slow part)."""
    if name not in _KEYS:
        _KEYS[name] = paramiko.RSAKey.generate(1024)
    return _KEYS[name]


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: FakeSshServer) -> None:
        self.server = server
        self.pending: dict[int, socket.socket] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == "vagrant" and key == self.server.client_key:
            # Counted before the client hears of it: the client's login cannot return first.
            self.server.logins += 1
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid: int, origin, destination) -> int:
        self.server.destinations.append(tuple(destination))
        try:
            self.pending[chanid] = socket.create_connection(tuple(destination), timeout=1)
        except OSError:
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        return paramiko.OPEN_SUCCEEDED


def _pump(source, target) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except (OSError, EOFError):
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError, EOFError):  # the transport may be gone already
                end.close()


class FakeSshServer:
    """Listens on 127.0.0.1; accepts the generated client key for user `vagrant`."""

    def __init__(self, tmp_path: Path) -> None:
        self.host_key = cached_key("host")
        self.client_key = cached_key("client")
        self.client_key_file = tmp_path / "id_rsa"
        self.client_key.write_private_key_file(str(self.client_key_file))
        self.destinations: list[tuple[str, int]] = []
        self.logins = 0  # successful authentications
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._transports: list[paramiko.Transport] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        self._transports.append(transport)
        transport.add_server_key(self.host_key)
        interface = _Interface(self)
        try:
            transport.start_server(server=interface)
        except (paramiko.SSHException, EOFError, OSError):
            return
        while transport.is_active() and not self._stop.is_set():
            channel = transport.accept(timeout=0.1)
            if channel is None:
                continue
            target = interface.pending.pop(channel.get_id())
            threading.Thread(target=_pump, args=(channel, target), daemon=True).start()
            threading.Thread(target=_pump, args=(target, channel), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()
        for transport in self._transports:
            transport.close()
