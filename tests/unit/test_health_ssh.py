"""SshProbes through a real (in-process) SSH server: direct-tcpip channels and SSH errors."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from provisioner.domain import Machine
from provisioner.health.checks import make_probes
from provisioner.hostkeys import HostKey, record
from provisioner.remote.probes import DirectProbes, ProbeError
from provisioner.remote.ssh import SshProbes, UntrustedHostError

from .health_fakes import FourLetterServer, zk_answers
from .ssh_fakes import FakeSshServer, cached_key


class HealthHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/master/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def ssh_server(tmp_path):
    server = FakeSshServer(tmp_path)
    yield server
    server.stop()


def machine(server: FakeSshServer, **overrides) -> Machine:
    fields = dict(
        name="demo-master-1",
        roles=("master", "zookeeper"),
        address="127.0.0.1",
        ssh_user="vagrant",
        ssh_port=server.port,
        ssh_private_key=str(server.client_key_file),
        strict_host_keys=False,
        zookeeper_id=1,
    )
    fields.update(overrides)
    return Machine(**fields)


def test_probes_go_through_direct_tcpip_channels(ssh_server):
    zookeeper = FourLetterServer(zk_answers("leader"))
    http = ThreadingHTTPServer(("127.0.0.1", 0), HealthHandler)
    threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True).start()
    probes = SshProbes([machine(ssh_server)], timeout_s=2, zookeeper_port=zookeeper.port)
    try:
        probes.tcp("127.0.0.1", ssh_server.port)  # the SSH login itself
        assert probes.four_letter("127.0.0.1", "ruok") == "imok"
        assert "Mode: leader" in probes.four_letter("127.0.0.1", "srvr")
        status, _headers, body = probes.http_get(
            "127.0.0.1", http.server_address[1], "/master/health"
        )
        assert (status, body) == (200, b"")
    finally:
        probes.close()
        zookeeper.stop()
        http.shutdown()
        http.server_close()
    assert ssh_server.logins == 1  # one session per machine, reused by every probe
    assert ssh_server.destinations == [("127.0.0.1", zookeeper.port)] * 2 + [
        ("127.0.0.1", http.server_address[1])
    ]


def test_refused_port_behind_ssh_is_reported(ssh_server):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    probes = SshProbes([machine(ssh_server)], timeout_s=2, zookeeper_port=port)
    try:
        with pytest.raises(ProbeError, match=r"^connection refused"):
            probes.four_letter("127.0.0.1", "ruok")
    finally:
        probes.close()


def test_unknown_host_key_is_rejected_when_strict(ssh_server, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    probes = SshProbes(
        [machine(ssh_server, strict_host_keys=True)], timeout_s=2, known_hosts_file=str(known_hosts)
    )
    try:
        with pytest.raises(ProbeError, match=r"^ssh vagrant@127\.0\.0\.1:\d+: .*known_hosts"):
            probes.tcp("127.0.0.1", ssh_server.port)
    finally:
        probes.close()


def test_wrong_key_is_an_authentication_failure(ssh_server, tmp_path):
    other = tmp_path / "other_key"
    cached_key("other").write_private_key_file(str(other))
    probes = SshProbes([machine(ssh_server, ssh_private_key=str(other))], timeout_s=2)
    try:
        with pytest.raises(ProbeError, match=r"authentication failed$"):
            probes.tcp("127.0.0.1", ssh_server.port)
    finally:
        probes.close()


def test_unreadable_key_file_is_named(ssh_server, tmp_path):
    missing = tmp_path / "nope"
    probes = SshProbes([machine(ssh_server, ssh_private_key=str(missing))], timeout_s=2)
    with pytest.raises(ProbeError, match=f"^ssh private key {re.escape(str(missing))}: "):
        probes.tcp("127.0.0.1", ssh_server.port)


def test_via_ssh_selects_ssh_probes(ssh_server):
    machines = [machine(ssh_server)]
    assert isinstance(make_probes(machines, via_ssh=True), SshProbes)
    assert isinstance(make_probes(machines, via_ssh=False), DirectProbes)


def _recorded(server: FakeSshServer, tmp_path, key) -> str:
    """The state directory's known_hosts with `key` recorded for the server, as providers do."""
    known_hosts = tmp_path / "known_hosts"
    record(
        known_hosts,
        "demo-master-1",
        "127.0.0.1",
        server.port,
        [HostKey(key.get_name(), key.get_base64())],
    )
    return str(known_hosts)


def test_ssh_health_probes_accept_the_recorded_host_key(ssh_server, tmp_path):
    known_hosts = _recorded(ssh_server, tmp_path, ssh_server.host_key)
    probes = make_probes(
        [machine(ssh_server, strict_host_keys=True)], via_ssh=True, known_hosts_file=known_hosts
    )
    try:
        probes.tcp("127.0.0.1", ssh_server.port)  # the SSH login: it raises when refused
    finally:
        probes.close()


def test_ssh_health_probes_refuse_a_changed_host_key(ssh_server, tmp_path):
    """A man in the middle (or a re-keyed host) answers with another key: refused."""
    known_hosts = _recorded(ssh_server, tmp_path, cached_key("recorded-earlier"))
    probes = make_probes(
        [machine(ssh_server, strict_host_keys=True)], via_ssh=True, known_hosts_file=known_hosts
    )
    try:
        with pytest.raises(UntrustedHostError) as caught:
            probes.tcp("127.0.0.1", ssh_server.port)
    finally:
        probes.close()
    offered = ssh_server.host_key
    digest = base64.b64encode(hashlib.sha256(offered.asbytes()).digest()).decode().rstrip("=")
    assert str(caught.value) == (
        f"ssh vagrant@127.0.0.1:{ssh_server.port}: host key changed: it offers "
        f"{offered.get_name()} SHA256:{digest}, not the key recorded for it "
        "(a man in the middle, or the host was re-keyed)"
    )


def test_the_clusters_record_wins_over_a_stale_personal_line(ssh_server, tmp_path, monkeypatch):
    """~/.ssh/known_hosts still holds another key for a reused address: the key the provider
    recorded in the state directory decides."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    stale = cached_key("stale")
    (home / ".ssh" / "known_hosts").write_text(
        f"[127.0.0.1]:{ssh_server.port} {stale.get_name()} {stale.get_base64()}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    known_hosts = _recorded(ssh_server, tmp_path, ssh_server.host_key)
    probes = SshProbes(
        [machine(ssh_server, strict_host_keys=True)], timeout_s=2, known_hosts_file=known_hosts
    )
    try:
        probes.tcp("127.0.0.1", ssh_server.port)
    finally:
        probes.close()


def test_the_ssh_socket_sends_each_packet_at_once(ssh_server):
    """TCP_NODELAY: SSH sends small packets back to back, which Nagle would hold until the
    server's delayed ACK (a login took 70-130 ms instead of 30 on LXC)."""
    from provisioner.remote.connect import connect

    client = connect(machine(ssh_server), timeout_s=5)
    try:
        sock = client.get_transport().sock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        client.close()


def test_checks_asking_for_one_machine_at_once_share_one_login(ssh_server):
    probes = SshProbes([machine(ssh_server)], timeout_s=5)
    start = threading.Barrier(4, timeout=10)
    errors: list[BaseException] = []

    def login() -> None:
        start.wait()
        try:
            probes.tcp("127.0.0.1", ssh_server.port)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=login) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        probes.close()
    assert errors == []
    assert ssh_server.logins == 1
