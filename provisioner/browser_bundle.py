"""The operator's browser bundle: a client certificate of the cluster CA in PKCS#12 form.

With `security.tls` on, Mesos answers only clients that present a certificate of the cluster
CA, so a browser needs one to open the Mesos UI. `write_browser_bundle` issues a fresh key
and a client-only certificate (organizational unit `browser`, common name
`<cluster>-operator-browser`, `security.tls.certificate_days` long), seals them with a
passphrase into `<file>.p12` (0600) and writes the CA certificate beside it (`<file>.ca.crt`)
for the browser to trust. The key leaves only in the sealed bundle; the state directory keeps
the issued certificate (`pki/operator-browser.crt`) so it can be told apart and listed.

The certificate opens a TLS connection to the cluster; what may be done over it is still
decided by the HTTP credential the browser sends (the operator's principal).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from . import pki
from .errors import StateError, UsageError
from .fileutil import atomic_write

UNIT = "browser"
#: Long enough to resist guessing offline: the bundle holds a private key.
MIN_PASSPHRASE = 8
#: PBKDF2 rounds sealing the bundle (NSS, Firefox and Chromium read PBES2 + AES-256).
KDF_ROUNDS = 200_000


@dataclass(frozen=True)
class BrowserBundle:
    """What was written: the sealed bundle, the CA to trust, and the issued certificate."""

    bundle: Path
    ca_certificate: Path
    certificate: pki.CertificateInfo

    def to_dict(self) -> dict[str, str | int]:
        return {
            "bundle": str(self.bundle),
            "ca_certificate": str(self.ca_certificate),
            "subject": self.certificate.subject,
            "serial": self.certificate.serial,
            "not_after": self.certificate.not_after.isoformat(),
        }


def operator_identity(cluster: str) -> pki.NodeIdentity:
    return pki.NodeIdentity(f"{cluster}-operator", f"{cluster}-operator")


def ca_path_for(bundle: Path) -> Path:
    """Where the CA certificate goes beside `bundle` (`ui.p12` -> `ui.ca.crt`)."""
    return bundle.with_name(f"{bundle.stem}.ca.crt")


def check_passphrase(passphrase: str, where: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(
            f"{where}: the passphrase needs at least {MIN_PASSPHRASE} characters "
            f"(got {len(passphrase)})"
        )


def read_passphrase_file(path: Path) -> str:
    """The first line of `path` (the `--passphrase-file` convention of the backups)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"--passphrase-file {path}: cannot read it: {exc.strerror or exc}"
        ) from None
    passphrase = text.splitlines()[0] if text.strip() else ""
    check_passphrase(passphrase, f"--passphrase-file {path}")
    return passphrase


def write_browser_bundle(
    state_dir: Path, cluster: str, days: int, output: Path, passphrase: str
) -> BrowserBundle:
    """Issue an operator client certificate from the cluster CA and write it, sealed with
    `passphrase`, to `output` (0600), with the CA certificate beside it."""
    check_passphrase(passphrase, "passphrase")
    if not (pki.pki_dir(state_dir) / "ca.crt").exists():
        raise StateError(
            f"{state_dir}: the cluster has no CA yet",
            hint="run `dcos-provision up` first: the CA is made on the first run with "
            "security.tls on",
        )
    if output.is_dir():
        raise UsageError(f"--browser-bundle {output}: is a directory, expected a file name")
    ca = pki.ensure_ca(state_dir, cluster)
    identity = operator_identity(cluster)
    key, cert = ca.issue(identity, UNIT, days, client_only=True)
    sealing = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase.encode("utf-8"))
    )
    name = f"{identity.name}-{UNIT}".encode()
    sealed = pkcs12.serialize_key_and_certificates(name, key, cert, [ca.certificate], sealing)
    ca_file = ca_path_for(output)
    recorded = pki.pki_dir(state_dir) / f"{identity.name}-{UNIT}.crt"
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    for path, data, mode in (
        (output, sealed, 0o600),
        (ca_file, ca.pem, 0o644),
        (recorded, cert_pem, 0o644),
    ):
        try:
            atomic_write(path, data, mode=mode)
        except OSError as exc:
            raise StateError(f"{path}: cannot write: {exc.strerror or exc}") from None
    info = pki.CertificateInfo(
        recorded, cert.subject.rfc4514_string(), cert.not_valid_after_utc, cert.serial_number
    )
    return BrowserBundle(output, ca_file, info)
