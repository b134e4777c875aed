"""The cluster CA and the node and executor certificates (`security.tls`).

Made with `cryptography` on the controller, kept under `<state dir>/pki/` (keys 0600):

- `ca.key`, `ca.crt`: the cluster CA (10 years). Its key never leaves the state directory.
- `<node>.key`, `<node>.crt`: each node's own identity, its cluster address (IP SAN) and
  host name (DNS SAN) named, `certificate_days` long. Masters and agents serve and dial with it.
- `controller.key`, `controller.crt`: the client certificate our own clients (health checks,
  workload, repair, chaos, diagnose) present on this machine.
- `<node>-executor.key`, `<node>-executor.crt`: what executors on that node get. Task users
  can read it, so it is a separate key of its own (the node's key stays root-only); it names
  the same address because libprocess checks the peer's address (`VERIFY_IPADD`) and an
  executor listens on its agent's address.

A certificate is issued once and kept: a second `up` changes nothing. It is renewed when
its node's address or name changed, when it is missing, or by `rotate-credentials`.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import ssl
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import CredentialsError, StateError
from .fileutil import atomic_write

PKI_DIR = "pki"
CA_DAYS = 3650
KEY_BITS = 2048  # what the SSL build was checked with (ECDHE-RSA-AES-GCM)
_ORGANIZATION = "dcos-provision"
#: Back-dated so a node whose clock runs a little behind the controller's accepts it.
_CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class NodeIdentity:
    """Who a certificate is for: the machine's name and cluster address."""

    name: str
    address: str


@dataclass(frozen=True)
class CertificateInfo:
    """What `status` and `rotate-credentials` need to know about an issued certificate."""

    path: Path
    subject: str
    not_after: datetime.datetime
    serial: int

    def days_left(self, now: datetime.datetime | None = None) -> float:
        now = now or datetime.datetime.now(datetime.UTC)
        return (self.not_after - now).total_seconds() / 86400


def pki_dir(state_dir: Path) -> Path:
    return Path(state_dir) / PKI_DIR


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _write(path: Path, text: str, mode: int) -> None:
    try:
        atomic_write(path, text, mode=mode)
    except OSError as exc:
        raise StateError(f"{path}: cannot write: {exc}") from None


def require_private(path: Path, what: str) -> None:
    """Refuse a secret file (a key, the secrets file) that group or others may read."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"{path}: {what} is readable by others (mode {stat.S_IMODE(mode):04o})",
            hint=f"chmod 600 {path}",
        )


def _read_key(path: Path) -> rsa.RSAPrivateKey:
    require_private(path, "a private key")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"{path}: not a readable PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsError(f"{path}: expected an RSA private key")
    return key


def _read_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"{path}: not a readable PEM certificate ({exc})") from None


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class ClusterCA:
    """The CA's key and certificate, loaded from (or just written to) the state directory."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        return _cert_pem(self.certificate)

    def issue(
        self, node: NodeIdentity, unit: str, days: int, client_only: bool = False
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """A fresh key and a certificate for `node`, usable as TLS server and client (as
        client only with `client_only`: a browser's certificate serves nothing)."""
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if not client_only:
            usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
        key = _new_key()
        now = _now()
        alt_names: list[x509.GeneralName] = [x509.DNSName(node.name)]
        try:
            alt_names.insert(0, x509.IPAddress(ipaddress.ip_address(node.address)))
        except ValueError:
            alt_names.append(x509.DNSName(node.address))
        common_name = node.name if unit == "node" else f"{node.name}-{unit}"
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, unit))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=True,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return key, cert


def _new_ca(cluster: str) -> ClusterCA:
    key = _new_key()
    now = _now()
    subject = _name(f"{cluster} cluster CA", "ca")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return ClusterCA(key, cert)


def ensure_ca(state_dir: Path, cluster: str) -> ClusterCA:
    """The cluster's CA: made on the first call, loaded from then on."""
    directory = pki_dir(state_dir)
    key_path, cert_path = directory / "ca.key", directory / "ca.crt"
    if key_path.exists() and cert_path.exists():
        ca = ClusterCA(_read_key(key_path), _read_cert(cert_path))
        if ca.certificate.public_key() != ca.key.public_key():
            raise CredentialsError(
                f"{cert_path}: does not belong to {key_path}",
                hint="restore both from a backup, or remove the pki directory and run "
                "`dcos-provision rotate-credentials` to make a new CA",
            )
        return ca
    ca = _new_ca(cluster)
    _write(key_path, _key_pem(ca.key), 0o600)
    _write(cert_path, ca.pem, 0o644)
    return ca


def _paths(state_dir: Path, node: str, unit: str) -> tuple[Path, Path]:
    stem = node if unit == "node" else f"{node}-{unit}"
    directory = pki_dir(state_dir)
    return directory / f"{stem}.key", directory / f"{stem}.crt"


def _names(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    """(IP addresses, DNS names) a certificate's SAN holds."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (
        {str(ip) for ip in san.get_values_for_type(x509.IPAddress)},
        set(san.get_values_for_type(x509.DNSName)),
    )


def _still_good(ca: x509.Certificate, key_path: Path, cert_path: Path, node: NodeIdentity) -> bool:
    """The issued pair is present, signed by this CA, names this node and has not expired."""
    if not (key_path.exists() and cert_path.exists()):
        return False
    cert = _read_cert(cert_path)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):  # another CA (perhaps of the same name)
        return False
    ips, dns = _names(cert)
    if node.name not in dns or (node.address not in ips and node.address not in dns):
        return False
    return cert.not_valid_after_utc > _now()


UNITS = ("node", "executor")


def ensure_certificates(
    state_dir: Path, cluster: str, nodes: Iterable[NodeIdentity], days: int, renew: bool = False
) -> list[str]:
    """Node and executor certificates for `nodes`, issued where missing or stale (all of them
    with `renew`). Returns the names of the files written (for progress and tests)."""
    ca = ensure_ca(state_dir, cluster)
    written = []
    for node in nodes:
        for unit in UNITS:
            key_path, cert_path = _paths(state_dir, node.name, unit)
            if not renew and _still_good(ca.certificate, key_path, cert_path, node):
                continue
            key, cert = ca.issue(node, unit, days)
            _write(key_path, _key_pem(key), 0o600)
            _write(cert_path, _cert_pem(cert), 0o644)
            written.extend([key_path.name, cert_path.name])
    return written


def certificate_info(state_dir: Path, node: str, unit: str = "node") -> CertificateInfo | None:
    """The issued certificate of `node`, or None when none was issued."""
    _key, cert_path = _paths(state_dir, node, unit)
    if not cert_path.exists():
        return None
    cert = _read_cert(cert_path)
    return CertificateInfo(
        cert_path, cert.subject.rfc4514_string(), cert.not_valid_after_utc, cert.serial_number
    )


def forget(state_dir: Path, nodes: Iterable[str] | None = None) -> None:
    """Drop the certificates of `nodes` (machines destroyed), or the whole PKI (`down`)."""
    directory = pki_dir(state_dir)
    if nodes is None:
        for path in [*directory.glob("*"), *directory.glob(".*")]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()
        return
    for node in nodes:
        for unit in UNITS:
            for path in _paths(state_dir, node, unit):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


CONTROLLER = NodeIdentity("dcos-provision-controller", "dcos-provision-controller")


def renew_controller(state_dir: Path, cluster: str, days: int) -> None:
    """A new key and certificate for our own clients (`rotate-credentials`)."""
    ca = ensure_ca(state_dir, cluster)
    key_path, cert_path = _paths(state_dir, CONTROLLER.name, "client")
    key, cert = ca.issue(CONTROLLER, "client", days)
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, _cert_pem(cert), 0o644)


def _ca_certificate(state_dir: Path) -> x509.Certificate | None:
    """The CA's certificate when the CA is there (its key too, private), without reading
    the key: loading it checks the RSA key's numbers, 40 ms that only issuing needs."""
    directory = pki_dir(state_dir)
    key_path, cert_path = directory / "ca.key", directory / "ca.crt"
    if not (key_path.exists() and cert_path.exists()):
        return None
    require_private(key_path, "a private key")
    return _read_cert(cert_path)


def client_context(state_dir: Path, cluster: str, days: int) -> ssl.SSLContext:
    """The TLS context of our own clients: trusts only the cluster CA, checks that a server's
    certificate names the address dialled, and presents the controller's certificate (issued
    on first use, when the CA's key is read; libprocess verifies a client's certificate
    against the CA only)."""
    ca = _ca_certificate(state_dir)
    key_path, cert_path = _paths(state_dir, CONTROLLER.name, "client")
    if ca is None or not _still_good(ca, key_path, cert_path, CONTROLLER):
        issuer = ensure_ca(state_dir, cluster)
        key, cert = issuer.issue(CONTROLLER, "client", days)
        _write(key_path, _key_pem(key), 0o600)
        _write(cert_path, _cert_pem(cert), 0o644)
        ca = issuer.certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=_cert_pem(ca))
    try:
        context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        raise CredentialsError(
            f"{cert_path}: cannot load the controller's certificate: {exc}"
        ) from None
    return context
