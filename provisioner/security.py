"""Cluster credentials: generated once per cluster, or brought by the operator.

Four identities: `operator` (people and the playbooks: frameworks, operator endpoints,
maintenance), `health` (the health checks and the workload task), `agent` (agents
registering with the masters) and `zookeeper` (the masters' digest identity on /mesos).
They live in `<state dir>/secrets.json`, mode 0600; nothing else (state.json, the inventory,
logs) holds a secret: the roles read the file on the controller with a lookup, in tasks with
`no_log`.

While `rotate-credentials` runs, the file also holds `accepted`: a second *generation* of the
operator, health and agent principals (new names, new secrets) that the masters and agents
accept besides the current one (Mesos keeps one secret per principal, so a rolling change
needs new principals rather than new secrets under the old ones; see rotate.py).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import re
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import CredentialsError, StateError
from .fileutil import atomic_write
from .pki import require_private
from .spec import ClusterSpec

SECRETS_FILE = "secrets.json"
IDENTITIES = ("operator", "health", "agent", "zookeeper")
#: The identities `rotate-credentials` renews (the ZooKeeper digest identity is not rotated).
ROTATED = ("operator", "health", "agent")
ACCEPTED = "accepted"
DEFAULT_PRINCIPALS = {
    "operator": "dcos-operator",
    "health": "dcos-health",
    "agent": "dcos-agent",
    "zookeeper": "mesos",
}
_PRINCIPAL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Safe in a `zk://user:pass@` URL, a JSON file and an HTTP Basic header alike.
_SECRET = re.compile(r"^[A-Za-z0-9_.~+=-]{12,256}$")
#: The generation stamp `rotate-credentials` appends to a principal (`dcos-agent-20261204T2015Z`):
#: it sorts after the bare name and after every earlier stamp.
_GENERATION = re.compile(r"-\d{8}T\d{6}Z$")


@dataclass(frozen=True)
class Credential:
    """A principal and its secret (the secret never shows in repr or logs), and the TLS
    client context our own clients present when `security.tls` is on. An empty principal
    means no HTTP Basic credential (Mesos authentication off)."""

    principal: str
    secret: str = field(repr=False)
    tls: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def basic_auth(self) -> str:
        """The HTTP `Authorization` header value."""
        token = base64.b64encode(f"{self.principal}:{self.secret}".encode()).decode("ascii")
        return f"Basic {token}"


@dataclass(frozen=True)
class Generation:
    """One generation of the rotated principals (operator, health, agent)."""

    operator: Credential
    health: Credential
    agent: Credential

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {name: _entry(getattr(self, name)) for name in ROTATED}

    def principals(self) -> tuple[str, ...]:
        return tuple(getattr(self, name).principal for name in ROTATED)


def _entry(cred: Credential) -> dict[str, str]:
    return {"principal": cred.principal, "secret": cred.secret}


@dataclass(frozen=True)
class ClusterCredentials:
    operator: Credential
    health: Credential
    agent: Credential
    zookeeper: Credential
    #: The other generation the cluster accepts while `rotate-credentials` runs, else None.
    accepted: Generation | None = None

    @property
    def generation(self) -> Generation:
        return Generation(self.operator, self.health, self.agent)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: _entry(getattr(self, name)) for name in IDENTITIES}
        if self.accepted is not None:
            data[ACCEPTED] = self.accepted.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str) -> ClusterCredentials:
        """Parse and check; errors name the file and the entry, never a secret."""
        if not isinstance(data, dict):
            raise CredentialsError(f"{source}: expected a mapping with {', '.join(IDENTITIES)}")
        problems: list[str] = []
        creds = _parse(data, IDENTITIES, "", problems)
        accepted: Generation | None = None
        if ACCEPTED in data:
            other = data[ACCEPTED]
            if isinstance(other, dict):
                extra = _parse(other, ROTATED, f"{ACCEPTED}.", problems)
                unknown_other = sorted(set(other) - set(ROTATED))
                if unknown_other:
                    problems.append(
                        f"unknown entries in {ACCEPTED}: {', '.join(map(str, unknown_other))}"
                    )
                if not problems:
                    accepted = Generation(**extra)
            else:
                problems.append(f"{ACCEPTED}: expected {{operator, health, agent}}")
        unknown = sorted(set(data) - set(IDENTITIES) - {ACCEPTED})
        if unknown:
            problems.append(f"unknown entries: {', '.join(map(str, unknown))}")
        if not problems:
            principals = [creds[n].principal for n in ROTATED]
            if len(set(principals)) != len(principals):
                problems.append("operator, health and agent need different principals")
            if accepted is not None and set(principals) & set(accepted.principals()):
                problems.append(f"{ACCEPTED}: its principals must differ from the current ones")
        if problems:
            raise CredentialsError(f"{source}: " + "; ".join(problems))
        return cls(**creds, accepted=accepted)


def _parse(
    data: dict[str, Any], names: tuple[str, ...], prefix: str, problems: list[str]
) -> dict[str, Credential]:
    """The named entries as credentials; what is wrong goes to `problems` (no secret shown)."""
    creds = {}
    for name in names:
        entry = data.get(name)
        if not isinstance(entry, dict):
            problems.append(f"{prefix}{name}: missing (expected {{principal: ..., secret: ...}})")
            continue
        principal, secret = entry.get("principal"), entry.get("secret")
        bad = len(problems)
        if not isinstance(principal, str) or not _PRINCIPAL.match(principal):
            problems.append(f"{prefix}{name}.principal: must be 1-64 chars of [A-Za-z0-9_.-]")
        if not isinstance(secret, str) or not _SECRET.match(secret):
            problems.append(f"{prefix}{name}.secret: must be 12-256 chars of [A-Za-z0-9_.~+=-]")
        if len(problems) == bad and isinstance(principal, str) and isinstance(secret, str):
            creds[name] = Credential(principal, secret)
    return creds


def principal_base(principal: str) -> str:
    """The principal without the generation stamp rotation appended."""
    return _GENERATION.sub("", principal)


def next_generation(current: Generation, now: datetime.datetime) -> Generation:
    """New principals (the base name stamped with `now`, UTC) and new 192-bit secrets. The
    stamp sorts after the current one, so the roles can order generations oldest first."""
    stamp = now.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    fresh = {}
    for name in ROTATED:
        old = getattr(current, name).principal
        principal = f"{principal_base(old)[: 64 - len(stamp) - 1]}-{stamp}"
        if principal <= old:
            raise CredentialsError(
                f"{name}: the new principal {principal} would not sort after {old}",
                hint="check the controller's clock",
            )
        fresh[name] = Credential(principal, secrets.token_urlsafe(24))
    return Generation(**fresh)


def write_credentials(state_dir: Path, creds: ClusterCredentials) -> None:
    """Replace `<state dir>/secrets.json` atomically (0600)."""
    target = secrets_path(state_dir)
    text = json.dumps(creds.to_dict(), indent=2, sort_keys=True) + "\n"
    try:
        atomic_write(target, text, mode=0o600)
    except OSError as exc:
        raise StateError(f"{target}: cannot write the cluster's secrets: {exc}") from None


def generate() -> ClusterCredentials:
    """Fresh random secrets (192 bits each) under the default principals."""
    fresh = {
        name: Credential(DEFAULT_PRINCIPALS[name], secrets.token_urlsafe(24)) for name in IDENTITIES
    }
    return ClusterCredentials(
        fresh["operator"], fresh["health"], fresh["agent"], fresh["zookeeper"]
    )


def secrets_path(state_dir: Path) -> Path:
    return Path(state_dir) / SECRETS_FILE


def _read(path: Path, what: str) -> Any:
    require_private(path, what)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CredentialsError(f"{path}: cannot read {what}: {type(exc).__name__}") from None


def ensure_credentials(spec: ClusterSpec, state_dir: Path) -> ClusterCredentials | None:
    """The cluster's credentials, written to `<state dir>/secrets.json` (0600) for the roles:
    the operator's own file when the spec names one, else the ones generated on the first
    run (kept from then on). None when the spec needs none."""
    security = spec.security
    if not security.needs_credentials:
        return None
    target = secrets_path(state_dir)
    if security.credentials_file:
        source = spec.resolve_path(security.credentials_file)
        if not source.is_file():
            raise CredentialsError(
                f"security.credentials_file: {source} does not exist",
                hint="create it (see docs/security.md: bring your own credentials) or drop the "
                "setting to have credentials generated",
            )
        creds = ClusterCredentials.from_dict(_read(source, "the credentials file"), str(source))
    elif target.exists():
        creds = ClusterCredentials.from_dict(_read(target, "the secrets file"), str(target))
    else:
        creds = generate()
    text = json.dumps(creds.to_dict(), indent=2, sort_keys=True) + "\n"
    try:
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            atomic_write(target, text, mode=0o600)
    except OSError as exc:
        raise StateError(f"{target}: cannot write the cluster's secrets: {exc}") from None
    return creds


def load_credentials(spec: ClusterSpec, state_dir: Path) -> ClusterCredentials | None:
    """The credentials recorded for this cluster, or None (never created, or not needed)."""
    if not spec.security.needs_credentials:
        return None
    path = secrets_path(state_dir)
    if spec.security.credentials_file and not path.exists():
        return ensure_credentials(spec, state_dir)
    if not path.exists():
        return None
    return ClusterCredentials.from_dict(_read(path, "the secrets file"), str(path))


def forget(state_dir: Path) -> None:
    """Drop the secrets with the cluster (`down`)."""
    with contextlib.suppress(FileNotFoundError):
        secrets_path(state_dir).unlink()
