"""The cluster's own known_hosts file: host keys the providers learnt out of band, and the
host key pairs the controller makes for machines that get theirs injected (pulumi).

Every line this module writes ends with a ``dcos-provision:<machine name>`` comment, so a
machine's lines can be replaced (a re-created machine has new keys, maybe a new address) and
removed (`down`) by name as well as by address. Lines written by others (e.g. `doctor
--accept-new-host-keys`) are kept unless they are for the same address. OpenSSH and paramiko
ignore the comment.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .fileutil import atomic_write
from .sshlib import paramiko

#: The name of the file in the state directory (`Cluster.known_hosts_file`).
KNOWN_HOSTS = "known_hosts"
#: Key types accepted from a machine's ``ssh_host_*_key.pub`` files.
KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "ssh-rsa",
    }
)
MARK = "dcos-provision:"


@dataclass(frozen=True)
class HostKey:
    """One public host key: its type and base64 blob."""

    key_type: str
    blob: str


def parse_public_keys(text: str) -> list[HostKey]:
    """The host keys in the text of ``ssh_host_*_key.pub`` files (one key a line).

    Raises ValueError naming the first line that is not a public key of a known type.
    """
    keys: list[HostKey] = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or fields[0] not in KEY_TYPES:
            raise ValueError(f"not an SSH public host key: {line.strip()[:60]!r}")
        try:
            decoded = base64.b64decode(fields[1], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"not base64: {fields[1][:40]!r}") from None
        if not decoded.startswith(len(fields[0]).to_bytes(4, "big") + fields[0].encode()):
            raise ValueError(f"the {fields[0]} key's blob is of another type")
        keys.append(HostKey(fields[0], fields[1]))
    return keys


def host_pattern(address: str, port: int) -> str:
    """How known_hosts names a host: ``addr`` on port 22, ``[addr]:port`` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def _drop(lines: list[str], patterns: set[str], names: set[str]) -> list[str]:
    kept = []
    for line in lines:
        fields = line.split()
        if fields and not line.lstrip().startswith("#"):
            hosts = set(fields[0].split(","))
            if hosts & patterns:
                continue
            if fields[-1].startswith(MARK) and fields[-1][len(MARK) :] in names:
                continue
        kept.append(line)
    return kept


def _read(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def record(path: Path, name: str, address: str, port: int, keys: Iterable[HostKey]) -> None:
    """Make ``keys`` the only keys known for this machine: lines for its address or its name
    are replaced (mode 0600)."""
    pattern = host_pattern(address, port)
    lines = _drop(_read(path), {pattern}, {name})
    lines += [f"{pattern} {key.key_type} {key.blob} {MARK}{name}" for key in keys]
    atomic_write(path, "".join(f"{line}\n" for line in lines), mode=0o600)


def forget(path: Path, names: Iterable[str]) -> None:
    """Remove the lines this module recorded for these machines (no-op without the file)."""
    wanted = set(names)
    lines = _read(path)
    if not lines or not wanted:
        return
    kept = _drop(lines, set(), wanted)
    if kept != lines:
        atomic_write(path, "".join(f"{line}\n" for line in kept), mode=0o600)


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 host key pair: OpenSSH private key text and its public line."""

    private: str
    public: str


def key_pair(directory: Path, name: str) -> KeyPair:
    """The machine's host key pair from ``<directory>/<name>`` (0600) and ``<name>.pub``;
    made once, then reused, so the machine's definition (and its key) stays the same."""
    private_path, public_path = directory / name, directory / f"{name}.pub"
    if private_path.is_file() and public_path.is_file():
        return KeyPair(private_path.read_text(), public_path.read_text().strip())
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    pair = KeyPair(private, f"{public.decode()} {MARK}{name}")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(private_path, pair.private, mode=0o600)
    atomic_write(public_path, pair.public + "\n", mode=0o644)
    return pair


def load_trusted_keys(client: paramiko.SSHClient, known_hosts_file: str | None) -> None:
    """Load the cluster's known_hosts (keys the provider recorded or `doctor` accepted), then
    ``~/.ssh/known_hosts``; either may be missing. The cluster's file comes first so that its
    key for a host wins over a stale personal line for a reused address (paramiko would
    otherwise prefer the system file)."""
    keys = client.get_host_keys()
    for path in (known_hosts_file, os.path.expanduser("~/.ssh/known_hosts")):
        if path and os.path.isfile(path):
            keys.load(path)


def remove_key_pairs(directory: Path, names: Iterable[str]) -> None:
    """Delete these machines' host key pairs (a machine that is gone needs none)."""
    for name in names:
        for path in (directory / name, directory / f"{name}.pub"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
