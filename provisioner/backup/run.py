"""`backup` and `restore` of one cluster (library; no printing).

A backup holds the cluster's znodes (zktree.py), the leader's registry and operator-set state
(mesos_api.py), its state directory (secrets sealed with the operator's passphrase, or left
out without one) and a manifest (archive.py). Automatic backups before risky operations are
kept in `<state dir>/backups/`, the newest `KEEP` per cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__, security
from ..cluster import Cluster, recorded_machines
from ..domain import Layer, Machine, Role, with_role
from ..errors import CredentialsError, ProvisionError, RefusedError
from ..ports import ZOOKEEPER_CLIENT_PORT
from . import mesos_api, zktree
from .archive import Archive, check_identity, read_archive, write_archive
from .sealed import PASSPHRASE_ENV, seal, unseal

#: Automatic backups kept per cluster (the oldest beyond this are deleted).
KEEP = 5
BACKUPS_DIR = "backups"
STATE_FILES = ("state.json", "inventory.yml", "machines.json")
SECRETS_MEMBER = "state/secrets.json.sealed"


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    #: Parts that could not be collected (partial backups only): part -> why.
    missing: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "manifest": self.manifest, "missing": self.missing}


def _zookeeper_hosts(machines: list[Machine]) -> list[str]:
    return [
        f"{m.cluster_address}:{ZOOKEEPER_CLIENT_PORT}" for m in with_role(machines, Role.ZOOKEEPER)
    ]


def _digests(creds: security.ClusterCredentials | None) -> list[tuple[str, str]]:
    if creds is None:
        return []
    return [(c.principal, c.secret) for c in (creds.zookeeper, creds.operator)]


def _operator_auth(cluster: Cluster, creds: security.ClusterCredentials | None) -> str | None:
    if not cluster.spec.security.authentication:
        return None
    if creds is None:
        raise CredentialsError(
            f"{security.secrets_path(cluster.state_dir)}: the cluster's credentials are missing",
            hint="restore the state directory (restore --passphrase-file brings secrets.json "
            "back) or give security.credentials_file",
        )
    return creds.operator.basic_auth()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def default_output(cluster: Cluster, reason: str) -> Path:
    """`./<name>-backup-<time>.tar.gz` by hand; `<state dir>/backups/...` automatically."""
    name = f"{cluster.spec.name}-{reason}-{_stamp()}.tar.gz"
    if reason == "backup":
        return Path.cwd() / name
    return cluster.state_dir / BACKUPS_DIR / name


def automatic_backups(cluster: Cluster) -> list[Path]:
    """The automatic backups kept for the cluster, oldest first."""
    directory = cluster.state_dir / BACKUPS_DIR
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"{cluster.spec.name}-*.tar.gz"), key=lambda p: p.name[-24:])


def take_backup(
    cluster: Cluster,
    *,
    passphrase: str | None,
    output: Path | None = None,
    reason: str = "backup",
    partial_ok: bool = False,
) -> BackupResult:
    """Collect and write one archive; with `partial_ok` (before `down` or `repair` of a broken
    cluster) unreachable parts are recorded as missing instead of failing the backup."""
    spec, store = cluster.spec, cluster.store
    state = store.load()
    machines = recorded_machines(cluster)
    if not state.cluster_id:
        state.ensure_cluster_id()
        store.save(state)
    creds = security.load_credentials(spec, cluster.state_dir)
    members: dict[str, bytes] = {}
    missing: dict[str, str] = {}
    contents: dict[str, Any] = {}

    try:
        with zktree.session(_zookeeper_hosts(machines), _digests(creds)) as client:
            nodes, unreadable = zktree.dump(client)
        members["zookeeper.json"] = _json(
            {"skipped": list(zktree.SKIPPED), "znodes": [n.to_dict() for n in nodes]}
        )
        contents["znodes"] = len(nodes)
        contents["znodes_unreadable"] = unreadable
    except ProvisionError as exc:
        if not partial_ok:
            raise
        missing["zookeeper"] = exc.message
    except Exception as exc:  # kazoo errors of a half-broken ensemble
        if not partial_ok:
            raise zktree.ZooKeeperError(
                f"reading the znodes failed: {type(exc).__name__}"
            ) from None
        missing["zookeeper"] = f"{type(exc).__name__}: {exc}"

    try:
        masters = [m.cluster_address for m in with_role(machines, Role.MASTER)]
        leader = mesos_api.find_leader(
            masters, _operator_auth(cluster, creds), cluster.tls_context()
        )
        mesos = mesos_api.read_state(leader)
        members["mesos/registry.json"] = _json(mesos.pop("registry"))
        members["mesos/operator.json"] = _json(mesos)
        contents["maintenance_windows"] = len(mesos["maintenance_schedule"].get("windows", []))
        contents["quota_roles"] = sorted(c.get("role", "?") for c in mesos["quota_configs"])
        contents["weights_roles"] = sorted(w.get("role", "?") for w in mesos["weights"])
        contents["leader"] = leader.address
    except ProvisionError as exc:
        if not partial_ok:
            raise
        missing["mesos"] = exc.message

    for name in STATE_FILES:
        path = cluster.state_dir / name
        if path.is_file():
            members[f"state/{name}"] = path.read_bytes()
    secrets_file = security.secrets_path(cluster.state_dir)
    if secrets_file.is_file():
        if passphrase:
            members[SECRETS_MEMBER] = seal(secrets_file.read_bytes(), passphrase, state.cluster_id)
            contents["secrets"] = "sealed (scrypt + AES-256-GCM)"
        else:
            contents["secrets"] = "left out: no passphrase given"
    manifest = {
        "cluster": spec.name,
        "cluster_id": state.cluster_id,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": reason,
        "versions": {
            "dcos_provision": __version__,
            "mesos": state.applied.get("mesos_version", spec.mesos.version),
        },
        "machines": sorted(state.machines),
        "contents": contents,
        "missing": missing,
    }
    path = output or default_output(cluster, reason)
    try:
        write_archive(path, manifest, members)
    except OSError as exc:
        raise ProvisionError(f"{path}: cannot write the backup: {exc.strerror or exc}") from None
    if reason != "backup":
        for old in automatic_backups(cluster)[:-KEEP]:
            old.unlink(missing_ok=True)
    return BackupResult(path=path, manifest=read_archive(path).manifest, missing=missing)


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


@dataclass
class RestoreResult:
    path: Path
    znodes: list[str] = field(default_factory=list)
    mesos: list[str] = field(default_factory=list)
    secrets_restored: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "znodes": self.znodes,
            "mesos": self.mesos,
            "secrets_restored": self.secrets_restored,
        }


def verify(cluster: Cluster, path: Path, passphrase: str | None) -> tuple[Archive, bytes | None]:
    """Checksums, identity and passphrase: everything `restore` checks before changing
    anything. Returns the archive and the unsealed secrets (None without a passphrase)."""
    archive = read_archive(path)
    state = cluster.store.load()
    check_identity(path, archive, cluster.spec.name, state.cluster_id)
    secrets = None
    if passphrase is not None and SECRETS_MEMBER in archive.members:
        ident = str(archive.manifest.get("cluster_id", ""))
        secrets = unseal(archive.members[SECRETS_MEMBER], passphrase, ident, str(path))
    return archive, secrets


def _gate(cluster: Cluster, machines: list[Machine]) -> None:
    from .. import health

    report = health.check_cluster(cluster.spec, machines, credential=cluster.health_credential())
    failed = [
        f"{c.layer} {c.name}{' on ' + c.host if c.host else ''}: {c.detail}"
        for layer in (Layer.REACHABILITY, Layer.ZOOKEEPER, Layer.MESOS_MASTERS)
        for c in report.layer_checks(layer)
        if not c.ok
    ]
    if failed:
        raise RefusedError(
            "the cluster is not healthy enough to restore onto (nothing was changed): "
            + "; ".join(failed[:5]),
            hint="run `dcos-provision up` (it recreates missing masters) until `status` shows "
            "ZooKeeper and the masters healthy, then restore",
        )


def restore(
    cluster: Cluster, path: Path, *, passphrase: str | None, overwrite: bool = False
) -> RestoreResult:
    """Verify, then write back the znodes and re-apply maintenance, quota and weights."""
    archive, secrets = verify(cluster, path, passphrase)
    result = RestoreResult(path=path)
    secrets_file = security.secrets_path(cluster.state_dir)
    if cluster.spec.security.needs_credentials and not secrets_file.exists():
        if secrets is None:
            raise CredentialsError(
                f"{secrets_file}: the cluster's credentials are missing and the archive's "
                "sealed copy needs its passphrase",
                hint=f"pass --passphrase-file (or set {PASSPHRASE_ENV})",
            )
        security.ClusterCredentials.from_dict(json.loads(secrets), f"{path}:{SECRETS_MEMBER}")
        from ..fileutil import atomic_write

        atomic_write(secrets_file, secrets.decode("utf-8"), mode=0o600)
        result.secrets_restored = True
    machines = recorded_machines(cluster)
    creds = security.load_credentials(cluster.spec, cluster.state_dir)
    auth = _operator_auth(cluster, creds)
    _gate(cluster, machines)
    tree = archive.json("zookeeper.json")
    if tree is not None:
        nodes = [zktree.Znode.from_dict(n) for n in tree["znodes"]]
        own = (creds.zookeeper.principal, creds.zookeeper.secret) if creds else None
        try:
            with zktree.session(_zookeeper_hosts(machines), _digests(creds)) as client:
                clashes = zktree.conflicts(client, nodes)
                if clashes and not overwrite:
                    raise RefusedError(
                        f"{len(clashes)} znode(s) in the cluster hold other data than the "
                        "backup (nothing was changed): " + "; ".join(clashes[:10]),
                        hint="pass --overwrite to replace them with the backup's",
                    )
                result.znodes = zktree.write(client, nodes, own)
        except ProvisionError:
            raise
        except Exception as exc:
            raise zktree.ZooKeeperError(
                f"writing the znodes failed after {len(result.znodes)} of {len(nodes)}: "
                f"{type(exc).__name__}",
                hint="fix the cause and run restore again with --overwrite",
            ) from None
    operator_state = archive.json("mesos/operator.json")
    if operator_state is not None:
        masters = [m.cluster_address for m in with_role(machines, Role.MASTER)]
        result.mesos = mesos_api.apply_state(
            mesos_api.find_leader(masters, auth, cluster.tls_context()), operator_state
        )
    return result


@dataclass(frozen=True)
class AutoBackup:
    """Automatic backups before risky operations, as the CLI asks for them (`--no-backup`
    turns them off; the passphrase seals the secrets, which are left out without one)."""

    enabled: bool = True
    passphrase: str | None = None


def before(
    cluster: Cluster, operation: str, policy: AutoBackup | None, *, partial_ok: bool = False
) -> BackupResult | None:
    """The automatic backup before `operation`; None when the policy is off (said so).

    Strict (`partial_ok` False: upgrade, master resize) a failed backup stops the operation;
    otherwise (`down`, a master `repair`: the cluster is often broken then) what could not be
    read is reported and the operation goes on."""
    if policy is None:
        return None
    if not policy.enabled:
        cluster.progress(f"automatic backup before {operation} skipped (--no-backup)")
        return None
    cluster.progress(f"backing up {cluster.spec.name} before {operation}")
    reason = "pre-" + operation.replace(" ", "-")
    try:
        result = take_backup(
            cluster, passphrase=policy.passphrase, reason=reason, partial_ok=partial_ok
        )
    except ProvisionError as exc:
        if not partial_ok:
            raise _prefixed(exc, operation) from None
        cluster.progress(f"WARNING: no backup before {operation}: {exc.message}")
        return None
    for part, why in result.missing.items():
        cluster.progress(f"WARNING: the backup before {operation} lacks {part}: {why}")
    cluster.progress(f"backup written: {result.path}")
    return result


def _prefixed(exc: ProvisionError, operation: str) -> ProvisionError:
    """The same error (class, exit code), saying it stopped the operation before it began."""
    exc.message = f"automatic backup before {operation} failed, nothing was changed: {exc.message}"
    exc.args = (exc.message,)
    exc.hint = (
        "fix the cause (see `dcos-provision status`), or pass --no-backup to go on without one"
    )
    return exc
