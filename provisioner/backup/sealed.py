"""Secrets in a backup, sealed with the operator's passphrase (scrypt + AES-256-GCM).

The passphrase comes from a file (`--passphrase-file`) or the environment
(`DCOS_PROVISION_BACKUP_PASSPHRASE`), never the command line (it would show in `ps` and the
shell history). GCM authenticates: a wrong passphrase and an altered blob are both refused.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from ..errors import ArchiveError, UsageError

PASSPHRASE_ENV = "DCOS_PROVISION_BACKUP_PASSPHRASE"
#: scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB and ~0.1 s, per the `cryptography` docs' advice.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSPHRASE = 8


def read_passphrase(passphrase_file: Path | None) -> str | None:
    """The passphrase from the file (first line) or the environment; None when neither."""
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"--passphrase-file {passphrase_file}: cannot read it: {exc.strerror or exc}"
            ) from None
        value: str | None = text.splitlines()[0] if text.strip() else ""
    else:
        value = os.environ.get(PASSPHRASE_ENV)
    if value is not None and len(value) < MIN_PASSPHRASE:
        where = f"--passphrase-file {passphrase_file}" if passphrase_file else PASSPHRASE_ENV
        raise UsageError(f"{where}: the passphrase needs at least {MIN_PASSPHRASE} characters")
    return value


def _key(passphrase: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(passphrase.encode("utf-8"))


def seal(plaintext: bytes, passphrase: str, context: str) -> bytes:
    """A JSON blob: KDF parameters, salt, nonce and ciphertext; `context` is bound as AAD."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    ciphertext = AESGCM(_key(passphrase, salt)).encrypt(nonce, plaintext, context.encode())
    blob = {
        "cipher": "AES-256-GCM",
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return (json.dumps(blob, indent=2) + "\n").encode()


def unseal(blob: bytes, passphrase: str, context: str, where: str) -> bytes:
    """The plaintext; ArchiveError (wrong passphrase) when it does not decrypt."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        data: Any = json.loads(blob)
        salt, nonce = base64.b64decode(data["salt"]), base64.b64decode(data["nonce"])
        ciphertext = base64.b64decode(data["ciphertext"])
    except (ValueError, KeyError, TypeError):
        raise ArchiveError(f"{where}: the sealed secrets are not readable") from None
    try:
        return AESGCM(_key(passphrase, salt)).decrypt(nonce, ciphertext, context.encode())
    except InvalidTag:
        raise ArchiveError(
            f"{where}: wrong passphrase: the archive's secrets do not decrypt with it; "
            "nothing was changed",
            hint=f"give the passphrase the backup was taken with (--passphrase-file or "
            f"{PASSPHRASE_ENV})",
        ) from None
