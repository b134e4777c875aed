"""DirectProbes over real local sockets: four-letter words, HTTP without redirects, errors."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from provisioner.remote.probes import DirectProbes, ProbeError, get_json

from .health_fakes import FourLetterServer, zk_answers


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class MesosLikeHandler(BaseHTTPRequestHandler):
    """A non-leading master: 307 for /master/state, 200 JSON for /master/flags."""

    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        if self.path == "/master/state":
            self.send_response(307)
            self.send_header("Location", "//demo-master-1:5050/master/state")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/master/flags":
            body = b'{"flags":{"quorum":"2"}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/garbage":
            body = b"<html>not json</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.connection.close()  # hang up without an answer

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    MesosLikeHandler.paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), MesosLikeHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_four_letter_word_through_a_mapped_endpoint():
    server = FourLetterServer(zk_answers("follower"))
    try:
        probes = DirectProbes(endpoints={("10.0.3.12", 2181): ("127.0.0.1", server.port)})
        assert probes.four_letter("10.0.3.12", "ruok") == "imok"
        assert "Mode: follower" in probes.four_letter("10.0.3.12", "srvr")
        assert server.commands == ["ruok", "srvr"]
    finally:
        server.stop()


def test_zookeeper_port_is_injectable():
    server = FourLetterServer({"ruok": "imok"})
    try:
        assert DirectProbes(zookeeper_port=server.port).four_letter("127.0.0.1", "ruok") == "imok"
    finally:
        server.stop()


def test_refused_connection_is_an_observation_not_an_exception():
    probes = DirectProbes(zookeeper_port=closed_port())
    with pytest.raises(ProbeError, match=r"^connection refused$"):
        probes.four_letter("127.0.0.1", "ruok")
    with pytest.raises(ProbeError, match=r"^connection refused$"):
        probes.tcp("127.0.0.1", closed_port())


def test_silent_server_times_out_with_the_budget_in_the_message():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # connects complete from the backlog, nobody ever answers
    try:
        probes = DirectProbes(timeout_s=0.2, zookeeper_port=silent.getsockname()[1])
        with pytest.raises(ProbeError, match=r"^timed out after 0\.2s$"):
            probes.four_letter("127.0.0.1", "srvr")
    finally:
        silent.close()


def test_http_get_does_not_follow_redirects(http_port):
    probes = DirectProbes(endpoints={("10.0.3.12", 5050): ("127.0.0.1", http_port)})

    status, headers, body = probes.http_get("10.0.3.12", 5050, "/master/state")

    assert (status, body) == (307, b"")
    assert headers["location"] == "//demo-master-1:5050/master/state"
    assert MesosLikeHandler.paths == ["/master/state"]


def test_get_json_and_bad_answers(http_port):
    probes = DirectProbes(endpoints={("10.0.3.12", 5050): ("127.0.0.1", http_port)})

    assert get_json(probes, "10.0.3.12", 5050, "/master/flags") == (200, {"flags": {"quorum": "2"}})
    assert get_json(probes, "10.0.3.12", 5050, "/master/state") == (307, None)
    with pytest.raises(ProbeError, match=r"^/garbage is not JSON"):
        get_json(probes, "10.0.3.12", 5050, "/garbage")
    with pytest.raises(ProbeError, match=r"^closed the connection without an answer$"):
        probes.http_get("10.0.3.12", 5050, "/hang-up")
    with pytest.raises(ProbeError, match=r"^connection refused$"):
        probes.http_get("127.0.0.1", closed_port(), "/master/health")


class _RecordingSocket(socket.socket):
    """A TCP socket that notes its options as they are set, with what it had sent by then."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent, self.options = b"", []

    def sendall(self, data, *args) -> None:
        self.sent += bytes(data)
        super().sendall(data, *args)

    def setsockopt(self, level, option, value, *args) -> None:
        self.options.append((level, option, value, self.sent))
        super().setsockopt(level, option, value, *args)


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux only")
def test_http_get_acknowledges_the_answer_at_once(http_port):
    """TCP_QUICKACK once the request is sent (it does not last): Mesos holds short answers
    back until our ACK, which Linux would otherwise delay by 40 ms."""
    sockets: list[_RecordingSocket] = []

    class Probes(DirectProbes):
        def _open(self, address, port, timeout_s):
            plain = super()._open(address, port, timeout_s)
            sockets.append(_RecordingSocket(fileno=plain.detach()))
            sockets[-1].settimeout(timeout_s)
            return sockets[-1]

    probes = Probes(endpoints={("10.0.3.12", 5050): ("127.0.0.1", http_port)})
    assert probes.http_get("10.0.3.12", 5050, "/master/flags")[0] == 200
    [sock] = sockets
    quick = [sent for _level, option, value, sent in sock.options if option == socket.TCP_QUICKACK]
    assert quick and quick[-1].startswith(b"GET /master/flags HTTP/1.1\r\n")
    assert quick[-1].endswith(b"\r\n\r\n")
