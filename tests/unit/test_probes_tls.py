"""Our clients over TLS: the probes present the controller's certificate and check the
server's against the cluster CA, over a socket and over a stream that is not one (SSH)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from provisioner import pki
from provisioner.domain import Layer, Machine
from provisioner.health.security import _tls_checks
from provisioner.health.view import ClusterView, Results
from provisioner.remote.probes import DirectProbes, ProbeError, StreamProbes
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines


class _Handler(BaseHTTPRequestHandler):
    resumed: ClassVar[list[bool]] = []  # per request: did the client resume a TLS session

    def do_GET(self) -> None:
        _Handler.resumed.append(self.request.session_reused)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context

    def get_request(self) -> tuple[Any, Any]:
        connection, client = super().get_request()
        return self.context.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        ), client

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A mutual-TLS HTTP server with the node certificate of 127.0.0.1."""
    pki.ensure_certificates(tmp_path, "demo", [pki.NodeIdentity("demo-master-1", "127.0.0.1")], 30)
    directory = pki.pki_dir(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(directory / "ca.crt")
    context.load_cert_chain(directory / "demo-master-1.crt", directory / "demo-master-1.key")
    server = _TlsServer(context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield tmp_path, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_direct_probes_speak_mutual_tls(node: tuple[Path, int]) -> None:
    state_dir, port = node
    probes = DirectProbes()
    probes.tls = pki.client_context(state_dir, "demo", 30)
    status, _headers, body = probes.http_get("127.0.0.1", port, "/master/health")
    assert (status, body) == (200, b'{"ok": true}')


def test_requests_to_a_node_resume_its_tls_session(node: tuple[Path, int]) -> None:
    """The first request checks the server's certificate; the next ones resume its session
    (no certificates, no signatures: half the CPU of a handshake)."""
    state_dir, port = node
    probes = DirectProbes()
    probes.tls = pki.client_context(state_dir, "demo", 30)
    _Handler.resumed.clear()
    for _ in range(3):
        assert probes.http_get("127.0.0.1", port, "/master/health")[0] == 200
    assert _Handler.resumed == [False, True, True]
    other = DirectProbes()  # its own sessions
    other.tls = probes.tls
    assert other.http_get("127.0.0.1", port, "/master/health")[0] == 200
    probes.tls = pki.client_context(state_dir, "demo", 30)  # a new context: a new session
    assert probes.http_get("127.0.0.1", port, "/master/health")[0] == 200
    assert _Handler.resumed[3:] == [False, False]


def test_plain_http_gets_no_answer_from_a_tls_node(node: tuple[Path, int]) -> None:
    _state_dir, port = node
    with pytest.raises(ProbeError):
        DirectProbes().http_get("127.0.0.1", port, "/master/health")


def test_a_server_certificate_from_another_ca_is_refused(
    node: tuple[Path, int], tmp_path: Path
) -> None:
    _state_dir, port = node
    probes = DirectProbes()
    probes.tls = pki.client_context(tmp_path / "other", "demo", 30)
    with pytest.raises(ProbeError, match="TLS handshake failed"):
        probes.http_get("127.0.0.1", port, "/master/health")


def test_a_server_certificate_naming_another_address_is_refused(
    node: tuple[Path, int],
) -> None:
    state_dir, port = node
    probes = DirectProbes(endpoints={("10.0.3.99", port): ("127.0.0.1", port)})
    probes.tls = pki.client_context(state_dir, "demo", 30)
    with pytest.raises(ProbeError, match="TLS handshake failed"):
        probes.http_get("10.0.3.99", port, "/master/health")


class _Channel:
    """Like an SSH channel: sendall/recv/close, not a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def recv(self, size: int) -> bytes:
        return self._sock.recv(size)

    def close(self) -> None:
        self._sock.close()


class _ChannelProbes(StreamProbes):
    def _open(self, address: str, port: int, timeout_s: float) -> Any:
        return _Channel(socket.create_connection((address, port), timeout=timeout_s))


def test_tls_over_a_stream_that_is_not_a_socket(node: tuple[Path, int]) -> None:
    state_dir, port = node
    probes = _ChannelProbes()
    probes.tls = pki.client_context(state_dir, "demo", 30)
    for _ in range(3):  # each request its own stream, bridge and handshake
        status, _headers, _body = probes.http_get("127.0.0.1", port, "/master/health")
        assert status == 200


def test_certificate_expiry_is_read_from_the_handshake(node: tuple[Path, int]) -> None:
    state_dir, port = node
    probes = DirectProbes()
    probes.tls = pki.client_context(state_dir, "demo", 30)
    days = (probes.certificate_expiry("127.0.0.1", port) - time.time()) / 86400
    assert 29 < days <= 30


class _ExpiryProbes:
    """Probes whose nodes present certificates expiring in `days[address]` days."""

    tls = ssl.create_default_context()

    def __init__(self, days: dict[str, float]) -> None:
        self.days = days

    def certificate_expiry(self, address: str, port: int) -> float:
        if address not in self.days:
            raise ProbeError("TLS handshake failed (WRONG_VERSION_NUMBER)")
        return time.time() + self.days[address] * 86400


def _view(**tls: Any) -> ClusterView:
    spec = ClusterSpec.model_validate(
        {
            "name": "demo",
            "provider": {"kind": "vagrant"},
            "agents": {"count": 2},
            "security": {"tls": tls},
        }
    )
    machines = [
        Machine(name=p.name, roles=p.roles, address=f"10.0.3.{10 + i}", ssh_user="vagrant")
        for i, p in enumerate(plan_machines(spec))
    ]
    return ClusterView(spec, machines)


def test_status_warns_about_a_certificate_expiring_within_the_threshold() -> None:
    view = _view(expiry_warning_days=10)
    addresses = {m.name: m.address for m in view.machines}
    master, agent_1, agent_2 = "demo-master-1", "demo-agent-1", "demo-agent-2"
    probes = _ExpiryProbes(
        {addresses[master]: 60, addresses[agent_1]: 3.5}  # agent_2 speaks no TLS
    )
    results = Results(Layer.SECURITY)
    _tls_checks(results, view, probes)  # type: ignore[arg-type]
    by_host = {c.host: c for c in results.checks}
    assert by_host[master].ok and by_host[master].detail.startswith("on: port 5050")
    assert by_host[agent_1].ok and by_host[agent_1].detail.startswith("WARNING: port 5051")
    assert "pki/demo-agent-1.* " in by_host[agent_1].detail
    assert not by_host[agent_2].ok and "TLS handshake failed" in by_host[agent_2].detail


def test_status_reads_every_nodes_certificate_at_once() -> None:
    view = _view()
    barrier = threading.Barrier(len(view.machines), timeout=10)

    class Together(_ExpiryProbes):
        def certificate_expiry(self, address: str, port: int) -> float:
            barrier.wait()  # breaks when the nodes are asked one after another
            return super().certificate_expiry(address, port)

    results = Results(Layer.SECURITY)
    _tls_checks(results, view, Together({m.address: 60 for m in view.machines}))  # type: ignore[arg-type]
    assert [c.host for c in results.checks] == [m.name for m in view.machines]
    assert all(c.ok for c in results.checks)


def test_tls_off_in_the_spec_is_reported_as_off() -> None:
    results = Results(Layer.SECURITY)
    _tls_checks(results, _view(enabled=False), _ExpiryProbes({}))  # type: ignore[arg-type]
    assert [(c.ok, c.detail) for c in results.checks] == [(True, "OFF (spec)")]


def test_tls_on_in_the_spec_without_a_cluster_ca_fails() -> None:
    probes = _ExpiryProbes({})
    probes.tls = None  # type: ignore[assignment]
    results = Results(Layer.SECURITY)
    _tls_checks(results, _view(), probes)  # type: ignore[arg-type]
    [check] = results.checks
    assert not check.ok and "no CA" in check.detail


class _RecordingHandler(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        _RecordingHandler.seen.append(self.headers.get("Authorization"))
        body = b'{"status": "success"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_prometheus_is_spoken_to_in_plain_http_without_our_credential(
    node: tuple[Path, int],
) -> None:
    """With TLS on, `metrics` asks Prometheus (plain HTTP, port 9090): no TLS handshake there,
    and the health credential never crosses that port in the clear."""
    state_dir, _port = node
    assert StreamProbes.plain_http_ports == {9090, 9100}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _RecordingHandler.seen = []
    try:
        probes = DirectProbes()
        probes.tls = pki.client_context(state_dir, "demo", 30)
        probes.http_auth = "Basic aGVhbHRoOnNlY3JldA=="
        plain_port = server.server_address[1]
        probes.plain_http_ports = frozenset({plain_port})
        status, _headers, body = probes.http_get("127.0.0.1", plain_port, "/api/v1/query")
    finally:
        server.shutdown()
        server.server_close()
    assert (status, body) == (200, b'{"status": "success"}')
    assert _RecordingHandler.seen == [None]
