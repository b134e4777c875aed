"""The cluster CA and node certificates (pki.py), checked with `cryptography` and real TLS."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from provisioner import pki
from provisioner.errors import CredentialsError

NODES = [
    pki.NodeIdentity("demo-master-1", "10.0.3.11"),
    pki.NodeIdentity("demo-agent-1", "10.0.3.21"),
]


def _cert(state_dir: Path, stem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((pki.pki_dir(state_dir) / f"{stem}.crt").read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_ca_is_made_once_and_its_key_is_private(tmp_path: Path) -> None:
    first = pki.ensure_ca(tmp_path, "demo")
    second = pki.ensure_ca(tmp_path, "demo")
    assert first.certificate == second.certificate
    assert _mode(pki.pki_dir(tmp_path) / "ca.key") == 0o600
    constraints = first.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca and constraints.critical


def test_node_certificates_name_address_and_host_and_are_short_lived(tmp_path: Path) -> None:
    written = pki.ensure_certificates(tmp_path, "demo", NODES, days=30)
    assert len(written) == 8  # node and executor key + certificate for each of two nodes
    ca = pki.ensure_ca(tmp_path, "demo")
    cert = _cert(tmp_path, "demo-master-1")
    cert.verify_directly_issued_by(ca.certificate)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.3.11")]
    assert san.get_values_for_type(x509.DNSName) == ["demo-master-1"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=29) < lifetime <= datetime.timedelta(days=30)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _mode(pki.pki_dir(tmp_path) / "demo-master-1.key") == 0o600


def test_executors_get_their_own_key_not_the_nodes(tmp_path: Path) -> None:
    pki.ensure_certificates(tmp_path, "demo", NODES[:1], days=30)
    directory = pki.pki_dir(tmp_path)
    node, executor = _cert(tmp_path, "demo-master-1"), _cert(tmp_path, "demo-master-1-executor")
    assert node.public_key() != executor.public_key()
    assert (directory / "demo-master-1.key").read_text() != (
        directory / "demo-master-1-executor.key"
    ).read_text()
    unit = executor.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert unit[0].value == "executor"


def test_a_second_run_issues_nothing_and_a_moved_node_is_reissued(tmp_path: Path) -> None:
    pki.ensure_certificates(tmp_path, "demo", NODES, days=30)
    before = _cert(tmp_path, "demo-agent-1").serial_number
    assert pki.ensure_certificates(tmp_path, "demo", NODES, days=30) == []
    moved = [NODES[0], pki.NodeIdentity("demo-agent-1", "10.0.3.99")]
    written = pki.ensure_certificates(tmp_path, "demo", moved, days=30)
    assert sorted(written) == sorted(
        [
            "demo-agent-1.key",
            "demo-agent-1.crt",
            "demo-agent-1-executor.key",
            "demo-agent-1-executor.crt",
        ]
    )
    assert _cert(tmp_path, "demo-agent-1").serial_number != before


def test_renew_reissues_everything(tmp_path: Path) -> None:
    pki.ensure_certificates(tmp_path, "demo", NODES, days=30)
    serials = {n.name: _cert(tmp_path, n.name).serial_number for n in NODES}
    assert len(pki.ensure_certificates(tmp_path, "demo", NODES, days=30, renew=True)) == 8
    assert all(_cert(tmp_path, n.name).serial_number != serials[n.name] for n in NODES)


def test_a_certificate_from_another_ca_is_replaced(tmp_path: Path) -> None:
    other = tmp_path / "other"
    pki.ensure_certificates(other, "demo", NODES[:1], days=30)
    pki.ensure_ca(tmp_path, "demo")
    for suffix in ("key", "crt"):
        source = pki.pki_dir(other) / f"demo-master-1.{suffix}"
        target = pki.pki_dir(tmp_path) / source.name
        target.write_bytes(source.read_bytes())
        target.chmod(0o600)
    assert "demo-master-1.crt" in pki.ensure_certificates(tmp_path, "demo", NODES[:1], days=30)
    _cert(tmp_path, "demo-master-1").verify_directly_issued_by(
        pki.ensure_ca(tmp_path, "demo").certificate
    )


def test_a_ca_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    pki.ensure_ca(tmp_path, "demo")
    key = pki.pki_dir(tmp_path) / "ca.key"
    key.chmod(0o644)
    with pytest.raises(CredentialsError, match="readable by others"):
        pki.ensure_ca(tmp_path, "demo")


def test_the_client_context_reads_the_ca_key_only_to_issue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every `status` builds it: loading the CA's key (its RSA numbers checked, 40 ms) is
    for issuing the controller's certificate, not for trusting the CA."""
    pki.client_context(tmp_path, "demo", 30)  # issues the controller's certificate

    def no_key(path: Path) -> None:
        raise AssertionError(f"{path} read")

    monkeypatch.setattr(pki, "_read_key", no_key)
    assert pki.client_context(tmp_path, "demo", 30).cert_store_stats()["x509_ca"] == 1
    (pki.pki_dir(tmp_path) / "ca.key").chmod(0o644)
    with pytest.raises(CredentialsError, match="readable by others"):
        pki.client_context(tmp_path, "demo", 30)


def test_certificate_info_and_forget(tmp_path: Path) -> None:
    pki.ensure_certificates(tmp_path, "demo", NODES, days=30)
    info = pki.certificate_info(tmp_path, "demo-agent-1")
    assert info is not None and 29 < info.days_left() <= 30
    pki.forget(tmp_path, ["demo-agent-1"])
    assert pki.certificate_info(tmp_path, "demo-agent-1") is None
    assert pki.certificate_info(tmp_path, "demo-master-1") is not None
    pki.forget(tmp_path)
    assert not pki.pki_dir(tmp_path).exists()


# --------------------------------------------------------------------------- real TLS


def _serve_once(context: ssl.SSLContext) -> tuple[int, list[str]]:
    """A TLS server on 127.0.0.1 that records how its one handshake ended."""
    listener = socket.create_server(("127.0.0.1", 0))
    outcome: list[str] = []

    def serve() -> None:
        connection, _ = listener.accept()
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                outcome.append("accepted")
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            outcome.append(f"refused: {exc}")
        finally:
            listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], outcome


def _server_context(directory: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(directory / "ca.crt")
    context.load_cert_chain(directory / "demo-master-1.crt", directory / "demo-master-1.key")
    return context


def _client(directory: Path, port: int, stem: str | None, ca: Path) -> bytes:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    if stem:
        context.load_cert_chain(directory / f"{stem}.crt", directory / f"{stem}.key")
    # The node is addressed by its name: its certificate names it (DNS SAN).
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="demo-master-1") as tls,
    ):
        return tls.recv(2)


def test_mutual_tls_with_the_issued_certificates(tmp_path: Path) -> None:
    nodes = [pki.NodeIdentity("demo-master-1", "127.0.0.1"), NODES[1]]
    pki.ensure_certificates(tmp_path, "demo", nodes, days=30)
    directory = pki.pki_dir(tmp_path)
    port, outcome = _serve_once(_server_context(directory))
    assert _client(directory, port, "demo-agent-1-executor", directory / "ca.crt") == b"ok"
    assert outcome == ["accepted"]


@pytest.mark.parametrize("client", ["no certificate", "foreign CA"])
def test_mutual_tls_refuses_a_client_without_a_cluster_certificate(
    tmp_path: Path, client: str
) -> None:
    nodes = [pki.NodeIdentity("demo-master-1", "127.0.0.1"), NODES[1]]
    pki.ensure_certificates(tmp_path, "demo", nodes, days=30)
    foreign = tmp_path / "foreign"
    pki.ensure_certificates(foreign, "demo", [NODES[1]], days=30)
    directory = pki.pki_dir(tmp_path)
    port, outcome = _serve_once(_server_context(directory))
    client_dir = pki.pki_dir(foreign) if client == "foreign CA" else directory
    with pytest.raises((ssl.SSLError, ConnectionError)):
        data = _client(
            client_dir,
            port,
            "demo-agent-1" if client == "foreign CA" else None,
            directory / "ca.crt",
        )
        if not data:  # TLS 1.3: the refusal may arrive as a closed stream after the handshake
            raise ConnectionError("closed")
    for _ in range(50):
        if outcome:
            break
        threading.Event().wait(0.1)
    assert outcome and outcome[0].startswith("refused")
