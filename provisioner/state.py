"""Per-cluster state directory: state.json (atomic writes) guarded by a file lock.

Layout of ``<state_dir>``: ``state.json``, ``inventory.yml``, ``machines.json`` (vagrant),
``logs/`` (one log per Ansible run), ``lock``. state.json records what *we* created, so
`down` destroys only that, and what has been converged with which configuration fingerprint.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .domain import Machine
from .errors import StateError, StateLockedError
from .fileutil import atomic_write

STATE_VERSION = 1


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ClusterState:
    """What exists and what has been converged, as recorded by earlier runs."""

    cluster: str
    provider: str
    machines: dict[str, Machine] = field(default_factory=dict)
    #: host name -> fingerprint of the configuration it was last converged with.
    converged: dict[str, str] = field(default_factory=dict)
    #: settings whose change needs a special procedure, as last applied (e.g. mesos_version).
    applied: dict[str, str] = field(default_factory=dict)
    #: host name -> what the drift check saw right after its last converge (drift.py).
    observed: dict[str, dict[str, str]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    #: `[{name, seconds, detail, ok}]`: the phases of the last `up`/`scale`/`upgrade` run.
    last_run_phases: list[dict[str, Any]] = field(default_factory=list)
    #: Random identity given at the first `up` (or backup); backups carry it, so `restore`
    #: can refuse another cluster's archive even when the two share a name.
    cluster_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "cluster": self.cluster,
            "provider": self.provider,
            "machines": {n: m.to_dict() for n, m in sorted(self.machines.items())},
            "converged": dict(sorted(self.converged.items())),
            "applied": dict(sorted(self.applied.items())),
            "observed": {h: dict(sorted(o.items())) for h, o in sorted(self.observed.items())},
            "history": self.history[-50:],
            "last_run_phases": self.last_run_phases,
            **({"cluster_id": self.cluster_id} if self.cluster_id else {}),
        }

    @classmethod
    def from_dict(cls, data: Any) -> ClusterState:
        """Parse state.json's content; ValueError naming the first odd field otherwise."""
        _expect(data, dict, "the file")
        version = data.get("version")
        if version != STATE_VERSION or isinstance(version, bool):
            raise StateVersionError(version)
        machines = _expect(data.get("machines", {}), dict, "machines")
        return cls(
            cluster=_expect(data.get("cluster"), str, "cluster"),
            provider=_expect(data.get("provider"), str, "provider"),
            machines={n: _machine(n, m) for n, m in machines.items()},
            converged=_string_map(data.get("converged", {}), "converged"),
            applied=_string_map(data.get("applied", {}), "applied"),
            observed={
                host: _string_map(seen, f"observed.{host}")
                for host, seen in _expect(data.get("observed", {}), dict, "observed").items()
            },
            history=[
                _expect(h, dict, "history[]")
                for h in _expect(data.get("history", []), list, "history")
            ],
            last_run_phases=[
                _expect(p, dict, "last_run_phases[]")
                for p in _expect(data.get("last_run_phases", []), list, "last_run_phases")
            ],
            cluster_id=_expect(data.get("cluster_id", ""), str, "cluster_id"),
        )

    def ensure_cluster_id(self) -> str:
        """The cluster's identity: 64 random bits, drawn once and kept."""
        if not self.cluster_id:
            self.cluster_id = secrets.token_hex(8)
        return self.cluster_id

    def record(self, operation: str, **details: Any) -> None:
        self.history.append({"at": utc_now(), "operation": operation, **details})


class StateVersionError(ValueError):
    """state.json was written by another (newer or unknown) version of this tool."""

    def __init__(self, version: object) -> None:
        super().__init__(
            f"unknown state version {str(version)[:20]!r} (this dcos-provision reads version "
            f"{STATE_VERSION})"
        )


_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


def _expect(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{where} should be {_TYPE_NAMES[kind]}, not {type(value).__name__}")
    return value


def _string_map(value: Any, where: str) -> dict[str, str]:
    for key, item in _expect(value, dict, where).items():
        _expect(item, str, f"{where}.{key}")
    return dict(value)


def _machine(name: str, data: Any) -> Machine:
    where = f"machines.{name}"
    _expect(data, dict, where)
    for key in ("name", "address", "ssh_user"):
        _expect(data.get(key), str, f"{where}.{key}")
    for role in _expect(data.get("roles"), list, f"{where}.roles"):
        _expect(role, str, f"{where}.roles[]")
    _expect(data.get("ssh_port", 22), int, f"{where}.ssh_port")
    for key, kind in (("zookeeper_id", int), ("ssh_private_key", str), ("extra", dict)):
        if data.get(key) is not None:
            _expect(data[key], kind, f"{where}.{key}")
    return Machine.from_dict(data)


class StateStore:
    """The state directory of one cluster."""

    def __init__(self, directory: Path, cluster: str, provider: str) -> None:
        self.directory = Path(directory)
        self.cluster = cluster
        self.provider = provider

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def inventory_file(self) -> Path:
        return self.directory / "inventory.yml"

    @property
    def logs_dir(self) -> Path:
        return self.directory / "logs"

    def exists(self) -> bool:
        return self.state_file.exists()

    def load(self) -> ClusterState:
        """The recorded state, or an empty one for a cluster never created."""
        if not self.state_file.exists():
            return ClusterState(cluster=self.cluster, provider=self.provider)
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            state = ClusterState.from_dict(data)
        except StateVersionError as exc:
            raise StateError(
                f"{self.state_file}: {exc}",
                hint="use the dcos-provision version that wrote it; this one will not guess",
            ) from None
        except RecursionError:
            raise StateError(
                f"{self.state_file}: cannot read the cluster state: nested too deeply",
                hint="restore it from a backup or remove the machines by hand before deleting it",
            ) from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(
                f"{self.state_file}: cannot read the cluster state: {exc}",
                hint="restore it from a backup or remove the machines by hand before deleting it",
            ) from None
        if state.cluster != self.cluster:
            raise StateError(
                f"{self.state_file} belongs to cluster {state.cluster!r}, not {self.cluster!r}",
                hint="use another --state-dir, or fix `name` in the spec",
            )
        if state.provider != self.provider:
            raise StateError(
                f"{self.state_file}: cluster {self.cluster!r} was created with provider "
                f"{state.provider!r}, the spec now says {self.provider!r}",
                hint="run `down` with the old spec first; machines never move between providers",
            )
        return state

    def save(self, state: ClusterState) -> None:
        try:
            atomic_write(self.state_file, json.dumps(state.to_dict(), indent=2) + "\n")
        except OSError as exc:
            raise StateError(f"{self.state_file}: cannot write the cluster state: {exc}") from None

    def write_inventory(self, text: str) -> Path:
        atomic_write(self.inventory_file, text)
        return self.inventory_file

    def remove_all(self) -> None:
        """Forget the cluster (after everything it created is gone); logs are kept."""
        for name in ("state.json", "inventory.yml", "machines.json"):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[None]:
        """Hold an exclusive, non-blocking lock for the duration of one command."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = open(self.directory / "lock", "a+", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise StateError(
                f"{self.directory}: cannot create the state directory: {exc}"
            ) from None
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                handle.seek(0)
                holder = handle.read().strip() or "another command"
                raise StateLockedError(
                    f"cluster {self.cluster!r} is busy: {holder} holds {self.directory}/lock",
                    hint="wait for it to finish; the lock is released when that process exits",
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"`{command}` (pid {os.getpid()}, since {utc_now()})\n")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
