"""The Mesos test stand-in speaks mutual TLS from the LIBPROCESS_SSL_* variables, as
libprocess does, so the TLS spec default works on it (examples/local.yaml without real Mesos)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner import pki

STANDIN = Path(__file__).resolve().parents[1] / "mesos_standin" / "bin" / "mesos-master"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def master(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    pki.ensure_certificates(tmp_path, "demo", [pki.NodeIdentity("demo-master-1", "127.0.0.1")], 30)
    directory = pki.pki_dir(tmp_path)
    port = _free_port()
    env = {
        **os.environ,
        "LIBPROCESS_SSL_ENABLED": "true",
        "LIBPROCESS_SSL_CERT_FILE": str(directory / "demo-master-1.crt"),
        "LIBPROCESS_SSL_KEY_FILE": str(directory / "demo-master-1.key"),
        "LIBPROCESS_SSL_CA_FILE": str(directory / "ca.crt"),
        "LIBPROCESS_SSL_REQUIRE_CLIENT_CERT": "true",
        "LIBPROCESS_SSL_VERIFY_SERVER_CERT": "true",
        "LIBPROCESS_SSL_ENABLE_TLS_V1_3": "true",
    }
    process = subprocess.Popen(
        [sys.executable, str(STANDIN), "--ip=127.0.0.1", f"--port={port}",
         f"--work_dir={tmp_path / 'work'}", "--registry=in_memory"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield tmp_path, port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _get(port: int, context: ssl.SSLContext | None) -> str:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        stream = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
        stream.sendall(b"GET /master/health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = stream.recv(64)
        return first.split(b"\r\n")[0].decode() if first else "closed"
    except (ssl.SSLError, ConnectionError) as exc:
        return f"refused: {exc}"
    finally:
        raw.close()


def test_the_standin_answers_only_mutual_tls_with_the_cluster_ca(
    master: tuple[Path, int],
) -> None:
    state_dir, port = master
    assert _get(port, pki.client_context(state_dir, "demo", 30)) == "HTTP/1.1 200 OK"
    assert not _get(port, None).startswith("HTTP/")
    no_certificate = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_certificate.load_verify_locations(pki.pki_dir(state_dir) / "ca.crt")
    assert _get(port, no_certificate).startswith(("refused", "closed"))
    foreign = pki.client_context(state_dir / "foreign", "demo", 30)
    assert _get(port, foreign).startswith("refused")  # its CA did not sign the server
