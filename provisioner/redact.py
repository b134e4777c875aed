"""Keep secrets out of diagnostics bundles: redact values, key material and secret files.

Three layers: structured data (state.json, inventory, spec, JSON answers) loses the value of
every key that names a secret; text (logs, journals, config files) loses `name=value` /
`name: value` pairs whose name does, and private key blocks; known secret values (the SSH
password, the Pulumi passphrase) are scrubbed wherever they appear.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REDACTED = "<redacted>"
_SECRET_WORDS = r"password|passwd|passphrase|secret|credential|token|api_key|private_key_data"
SECRET_KEY = re.compile(rf"(?i)({_SECRET_WORDS})")
_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*\Z)",
    re.S,
)
# NAME=value, NAME: value, "name": "value", --name=value; the name contains a secret word.
_PAIR = re.compile(
    rf"""(?ix)
    (?P<name>["']?[\w.-]*(?:{_SECRET_WORDS})[\w.-]*["']?\s*[=:]\s*)
    (?P<value>"[^"\n]*"|'[^'\n]*'|[^\s,;}}\]]+)
    """
)
_SECRET_FILE = re.compile(rf"(?i)({_SECRET_WORDS}|id_rsa|id_ecdsa|id_ed25519|\.pem$|\.key$)")


def redact_text(text: str, known_secrets: Iterable[str] = ()) -> str:
    """The text with key blocks, secret-named values and known secret values replaced."""
    text = _KEY_BLOCK.sub("<redacted private key>", text)
    text = _PAIR.sub(_redact_pair, text)
    for secret in known_secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _redact_pair(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[:1] in "\"'" else ""
    return f"{match['name']}{quote}{REDACTED}{quote}"


def redact_data(data: Any) -> Any:
    """A copy of JSON-like data with secret-named keys' values and key material replaced."""
    if isinstance(data, dict):
        return {
            key: (
                REDACTED
                if SECRET_KEY.search(str(key)) and value not in (None, "", [], {})
                else redact_data(value)
            )
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact_data(item) for item in data]
    if isinstance(data, str) and "PRIVATE KEY-----" in data:
        return "<redacted private key>"
    return data


def excluded_reason(path: Path) -> str | None:
    """Why a file must not be copied into a bundle as it is, or None when it may be.

    Files only their owner may read (0600, 0400: credentials, keys) and files named like a
    secret are left out, whatever they hold.
    """
    if _SECRET_FILE.search(path.name):
        return "named like a secret"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot stat: {exc.strerror}"
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"readable by its owner only (mode {stat.S_IMODE(mode):04o})"
    return None
