"""HTTP Basic authentication of the read-only and read-write endpoints, as Mesos does it.

With `--authenticate_http_readonly` / `--authenticate_http_readwrite` a request to an endpoint
of that realm needs `Authorization: Basic` with a principal and secret from the credentials
file (master: `--credentials`, agent: `--http_credentials`); otherwise 401 with
`WWW-Authenticate: Basic realm="<realm>"`. Endpoints without a realm (health, redirect,
version) stay open. libprocess checks before the endpoint runs, so a follower answers 401,
not its 307, to an unauthenticated request.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping

from .http_util import Handler, Request, Response


def _text(value: str) -> str:
    """A path flag's file contents (`file://` values arrive already read by the flag loader)."""
    path = value[len("file://") :] if value.startswith("file://") else value
    if not os.path.isfile(path):
        return value
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def read_credentials(value: str | None) -> dict[str, str]:
    """principal -> secret from a JSON `{"credentials": [...]}` file or `principal secret`
    lines."""
    if not value:
        return {}
    text = _text(value)
    try:
        document = json.loads(text)
    except ValueError:
        pairs = [line.split(None, 1) for line in text.splitlines() if line.strip()]
        return {p[0]: p[1].strip() for p in pairs if len(p) == 2}
    return {c["principal"]: c.get("secret", "") for c in document.get("credentials", [])}


def read_credential(value: str | None) -> dict[str, str] | None:
    """An agent's `--credential`: JSON `{"principal", "secret"}` or one `principal secret` line."""
    if not value:
        return None
    text = _text(value).strip()
    try:
        document = json.loads(text)
    except ValueError:
        principal, _, secret = text.partition(" ")
        return {"principal": principal, "secret": secret.strip()}
    return {"principal": document.get("principal", ""), "secret": document.get("secret", "")}


def agent_admitted(flags: object, credential: object) -> bool:
    """With `--authenticate_agents`, an agent registers only with a credential from
    `--credentials` (real Mesos: CRAM-MD5 over libprocess messages)."""
    if not flags.get("authenticate_agents"):  # type: ignore[attr-defined]
        return True
    known = read_credentials(flags.get("credentials"))  # type: ignore[attr-defined]
    if not isinstance(credential, dict):
        return False
    principal, secret = credential.get("principal"), credential.get("secret")
    return isinstance(principal, str) and known.get(principal) == secret


def authorized(request: Request, credentials: Mapping[str, str]) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        principal, _, secret = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return principal in credentials and credentials[principal] == secret


class Realms:
    """Guards for the read-only and read-write realms of one process (`mesos-master`...)."""

    def __init__(
        self, prefix: str, readonly: bool, readwrite: bool, credentials: Mapping[str, str]
    ) -> None:
        self.prefix = prefix
        self.on = {"readonly": readonly, "readwrite": readwrite}
        self.credentials = dict(credentials)

    def guard(self, realm: str, handler: Handler) -> Handler:
        if not self.on[realm]:
            return handler

        def guarded(request: Request) -> Response:
            if authorized(request, self.credentials):
                return handler(request)
            return Response(401, b"", {"WWW-Authenticate": f'Basic realm="{self.prefix}-{realm}"'})

        return guarded

    def guard_all(self, realm: str, handlers: dict[str, Handler]) -> dict[str, Handler]:
        return {name: self.guard(realm, handler) for name, handler in handlers.items()}


def http_realms(flags: object, prefix: str, credentials_flag: str) -> Realms:
    """The realms a master (`--credentials`) or agent (`--http_credentials`) runs with."""
    readonly = bool(flags.get("authenticate_http_readonly"))  # type: ignore[attr-defined]
    readwrite = bool(flags.get("authenticate_http_readwrite"))  # type: ignore[attr-defined]
    path = flags.get(credentials_flag) if readonly or readwrite else None  # type: ignore[attr-defined]
    return Realms(prefix, readonly, readwrite, read_credentials(path))
