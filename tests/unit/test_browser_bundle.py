"""The operator's browser bundle (browser_bundle.py, `credentials --browser-bundle`): a sealed
PKCS#12 a browser and NSS can import, whose certificate passes the cluster's mutual TLS."""

from __future__ import annotations

import datetime
import json
import shutil
import socket
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from provisioner import pki
from provisioner.browser_bundle import write_browser_bundle
from provisioner.cli import app
from provisioner.errors import StateError, UsageError

from .test_pki import _serve_once, _server_context

PASSPHRASE = "correct horse battery"
STATIC = (
    "name: lab\nssh: {user: ops}\nprovider:\n  kind: static\n  hosts:\n"
    "    - {name: m1, address: 192.0.2.11, roles: [master, zookeeper]}\n"
    "    - {name: a1, address: 192.0.2.21, roles: [agent]}\n"
)
runner = CliRunner()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _bundle(tmp_path: Path, days: int = 30) -> Path:
    pki.ensure_certificates(tmp_path, "demo", [pki.NodeIdentity("demo-master-1", "127.0.0.1")], 30)
    output = tmp_path / "out" / "ui.p12"
    write_browser_bundle(tmp_path, "demo", days, output, PASSPHRASE)
    return output


def test_the_bundle_holds_a_client_only_certificate_of_the_cluster_ca(tmp_path: Path) -> None:
    output = _bundle(tmp_path, days=20)
    assert _mode(output) == 0o600
    key, cert, extra = pkcs12.load_key_and_certificates(output.read_bytes(), PASSPHRASE.encode())
    assert key is not None and cert is not None
    assert cert.public_key() == key.public_key()
    ca = pki.ensure_ca(tmp_path, "demo")
    cert.verify_directly_issued_by(ca.certificate)
    assert extra == [ca.certificate]
    # Told apart from node, executor and controller certificates by its unit and name.
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == (
        "browser"
    )
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "demo-operator-browser"
    )
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=19) < lifetime <= datetime.timedelta(days=20)
    # The CA to trust sits beside the bundle; the state directory keeps only the certificate.
    assert (tmp_path / "out" / "ui.ca.crt").read_text() == ca.pem
    recorded = pki.certificate_info(tmp_path, "demo-operator", "browser")
    assert recorded is not None and recorded.serial == cert.serial_number
    assert not (pki.pki_dir(tmp_path) / "demo-operator-browser.key").exists()


def test_the_bundle_opens_only_with_its_passphrase(tmp_path: Path) -> None:
    output = _bundle(tmp_path)
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(output.read_bytes(), b"wrong passphrase")
    assert b"PRIVATE KEY" not in output.read_bytes()


def test_the_bundle_passes_the_clusters_mutual_tls(tmp_path: Path) -> None:
    output = _bundle(tmp_path)
    key, cert, _ = pkcs12.load_key_and_certificates(output.read_bytes(), PASSPHRASE.encode())
    assert key is not None and cert is not None
    pem = tmp_path / "client.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    port, outcome = _serve_once(_server_context(pki.pki_dir(tmp_path)))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(tmp_path / "out" / "ui.ca.crt")
    context.load_cert_chain(pem)
    with context.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=5),
        server_hostname="demo-master-1",
    ) as tls:
        assert tls.recv(2) == b"ok"
    assert outcome == ["accepted"]


@pytest.mark.skipif(shutil.which("pk12util") is None, reason="libnss3-tools not installed")
def test_nss_imports_the_bundle_as_chromium_would(tmp_path: Path) -> None:
    output = _bundle(tmp_path)
    nssdb = tmp_path / "nssdb"
    nssdb.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)
    secret = tmp_path / "pass"
    secret.write_text(PASSPHRASE)
    subprocess.run(
        ["pk12util", "-i", str(output), "-d", f"sql:{nssdb}", "-w", str(secret)],
        check=True, capture_output=True,
    )  # fmt: skip
    listed = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{nssdb}"], check=True, capture_output=True, text=True
    ).stdout
    assert "demo-operator-browser" in listed
    keys = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{nssdb}"], check=True, capture_output=True, text=True
    ).stdout
    assert "demo-operator-browser" in keys


def test_no_ca_yet_and_a_short_passphrase_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="has no CA yet"):
        write_browser_bundle(tmp_path, "demo", 30, tmp_path / "ui.p12", PASSPHRASE)
    pki.ensure_ca(tmp_path, "demo")
    with pytest.raises(UsageError, match="at least 8 characters"):
        write_browser_bundle(tmp_path, "demo", 30, tmp_path / "ui.p12", "short")
    assert not (tmp_path / "ui.p12").exists()


def _cli_cluster(tmp_path: Path, extra: str = "") -> Path:
    spec = tmp_path / "c.yaml"
    spec.write_text(STATIC + extra)
    pki.ensure_ca(tmp_path / "state" / "lab", "lab")
    (tmp_path / "pass").write_text(PASSPHRASE + "\n")
    return spec


def test_cli_writes_the_bundle_from_a_passphrase_file(tmp_path: Path) -> None:
    spec = _cli_cluster(tmp_path)
    output = tmp_path / "ui.p12"
    result = runner.invoke(
        app,
        ["credentials", str(spec), "--browser-bundle", str(output), "--json",
         "--passphrase-file", str(tmp_path / "pass"), "--state-dir", str(tmp_path / "state")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["bundle"] == str(output) and data["ca_certificate"] == str(tmp_path / "ui.ca.crt")
    assert "OU=browser" in data["subject"]
    assert _mode(output) == 0o600
    pkcs12.load_key_and_certificates(output.read_bytes(), PASSPHRASE.encode())


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("tls off", "security.tls.enabled is false"),
        ("no passphrase", "no passphrase for the browser bundle on a non-interactive terminal"),
        ("short passphrase", "the passphrase needs at least 8 characters"),
    ],
)
def test_cli_refuses_with_exit_2_and_one_line(tmp_path: Path, case: str, expected: str) -> None:
    extra = "security: {tls: {enabled: false}}\n" if case == "tls off" else ""
    spec = _cli_cluster(tmp_path, extra)
    if case == "short passphrase":
        (tmp_path / "pass").write_text("short\n")
    args = ["credentials", str(spec), "--browser-bundle", str(tmp_path / "ui.p12")]
    args += ["--state-dir", str(tmp_path / "state")]
    if case != "no passphrase":
        args += ["--passphrase-file", str(tmp_path / "pass")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "ui.p12").exists()
