"""`diagnose`: one tar.gz support bundle, as DC/OS diagnostics and kubespray's collect-info give.

Per host (in parallel, over SSH): service journals, rendered config files, Mesos versions, disk
and memory, the health endpoints' answers. For the cluster: the health report, state.json,
inventory and spec with secrets redacted, the last Ansible logs and a listing of the state
directory. Whatever could not be collected is named with its reason (MANIFEST.json and
NOT-COLLECTED.txt); nothing secret goes in (see redact.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from ..cluster import Cluster, known_machines
from ..domain import Machine
from ..errors import ProvisionError
from ..redact import excluded_reason, redact_data, redact_text
from .host import HostCollection, collect_host, items_for

#: Ansible run logs copied into the bundle (the newest ones).
ANSIBLE_LOGS = 5
MAX_PARALLEL = 16


@dataclass
class DiagnoseResult:
    """Where the bundle is and what went into it (or could not)."""

    bundle: Path
    cluster: str
    hosts: list[HostCollection] = field(default_factory=list)
    #: cluster-level file -> why it is not in the bundle
    missing: dict[str, str] = field(default_factory=dict)
    #: state-dir file -> why it was left out on purpose (secret-like)
    excluded: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "cluster": self.cluster,
            "hosts": {
                h.machine.name: {
                    "roles": list(h.machine.roles),
                    "address": h.machine.address,
                    "reachable": h.login_error is None,
                    "login_error": h.login_error,
                    "collected": sorted(h.files),
                    "not_collected": dict(sorted(h.missing.items())),
                }
                for h in self.hosts
            },
            "cluster_files": sorted(f for f in self.files if f.startswith("cluster/")),
            "not_collected": dict(sorted(self.missing.items())),
            "excluded": dict(sorted(self.excluded.items())),
        }


def known_secrets(cluster: Cluster) -> tuple[str, ...]:
    """Secret values to scrub from every file: the SSH password, the Pulumi passphrase and
    the cluster's credentials (secrets.json itself is never collected)."""
    from .. import security

    values = []
    with contextlib.suppress(ProvisionError, OSError, ValueError):
        credentials = security.load_credentials(cluster.spec, cluster.state_dir)
        if credentials is not None:
            values += [entry["secret"] for entry in credentials.to_dict().values()]
    if cluster.spec.ssh.password is not None:
        values.append(cluster.spec.ssh.password.get_secret_value())
    passphrase_env = getattr(cluster.spec.provider, "passphrase_env", None)
    for name in {passphrase_env, "PULUMI_CONFIG_PASSPHRASE"} - {None}:
        values.append(os.environ.get(str(name), ""))
    return tuple(v for v in values if len(v) >= 4)  # a 1-3 char "secret" would shred the text


def default_bundle_path(cluster: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / f"{cluster}-diagnostics-{stamp}.tar.gz"


def collect_bundle(
    cluster: Cluster,
    *,
    spec_file: Path | None = None,
    output: Path | None = None,
    journal_lines: int = 500,
    via_ssh: bool = False,
) -> DiagnoseResult:
    """Collect everything and write the bundle; host problems are recorded, never raised."""
    spec = cluster.spec
    machines = known_machines(cluster)  # raises when nothing was ever created
    bundle = (output or default_bundle_path(spec.name)).expanduser().resolve()
    result = DiagnoseResult(bundle=bundle, cluster=spec.name)
    secrets = known_secrets(cluster)
    files: dict[str, bytes] = {}

    def add(name: str, producer: Any) -> None:
        try:
            files[name] = producer()
        except Exception as exc:  # one missing piece never stops the bundle
            result.missing[name] = _reason(exc)

    add("cluster/health.json", lambda: _health(cluster, machines, via_ssh))
    add("cluster/state.json", lambda: _redacted_json(cluster.store.state_file))
    add("cluster/inventory.yml", lambda: _redacted_yaml(cluster.store.inventory_file))
    if spec_file is not None:
        add("cluster/spec.yaml", lambda: _redacted_yaml(spec_file))
    files["cluster/state-dir.txt"] = _listing(cluster.state_dir, result.excluded).encode()
    for log in _ansible_logs(cluster.store.logs_dir, result.excluded):
        add(f"cluster/logs/{log.name}", lambda log=log: _redacted_text(log, secrets))

    password = spec.ssh.password.get_secret_value() if spec.ssh.password else None
    known_hosts = cluster.state_dir / "known_hosts"
    credential = cluster.health_credential()  # the endpoints ask for it when auth is on
    http_auth = credential.basic_auth() if credential and credential.principal else None
    tls = credential.tls if credential else None
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL, len(machines)))) as pool:
        result.hosts = list(
            pool.map(
                lambda m: collect_host(
                    m,
                    items_for(m.roles, journal_lines),
                    password=password,
                    known_hosts=known_hosts,
                    known_secrets=secrets,
                    http_auth=http_auth,
                    tls=tls,
                ),
                machines,
            )
        )
    for host in result.hosts:
        base = f"hosts/{host.machine.name}"
        for name, data in host.files.items():
            files[f"{base}/{name}"] = data
        if host.missing:
            files[f"{base}/NOT-COLLECTED.txt"] = _not_collected(host.missing, host.login_error)
    if result.missing:
        files["NOT-COLLECTED.txt"] = _not_collected(result.missing, None)
    files = {name: redact_text(data.decode("utf-8", "replace"), secrets).encode()
             for name, data in files.items()}  # fmt: skip
    result.files = sorted(files)
    files["MANIFEST.json"] = _manifest(result)
    result.files.append("MANIFEST.json")
    _write_tar(bundle, f"{spec.name}-diagnostics", files)
    return result


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}"
    if isinstance(exc, ProvisionError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _health(cluster: Cluster, machines: list[Machine], via_ssh: bool) -> bytes:
    from .. import health

    report = health.check_cluster(
        cluster.spec,
        machines,
        via_ssh=via_ssh,
        credential=cluster.health_credential(),
        known_hosts_file=cluster.known_hosts_file,
    )
    return (json.dumps(report.to_dict(), indent=2) + "\n").encode()


def _redacted_json(path: Path) -> bytes:
    data = json.loads(path.read_text(encoding="utf-8"))
    return (json.dumps(redact_data(data), indent=2) + "\n").encode()


def _redacted_yaml(path: Path) -> bytes:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return yaml.safe_dump(redact_data(data), sort_keys=False).encode()


def _redacted_text(path: Path, secrets: tuple[str, ...]) -> bytes:
    return redact_text(path.read_text(encoding="utf-8", errors="replace"), secrets).encode()


def _ansible_logs(logs_dir: Path, excluded: dict[str, str]) -> list[Path]:
    """The newest run logs (names start with a UTC timestamp), minus secret-looking files."""
    if not logs_dir.is_dir():
        return []
    chosen = []
    for path in sorted(logs_dir.glob("*.log")):
        reason = excluded_reason(path)
        if reason:
            excluded[f"logs/{path.name}"] = reason
        else:
            chosen.append(path)
    return chosen[-ANSIBLE_LOGS:]


def _listing(state_dir: Path, excluded: dict[str, str]) -> str:
    """Names, modes and sizes in the state directory (never contents); secret files marked."""
    lines = [f"# {state_dir}"]
    explicit = {"state.json", "inventory.yml"}  # included after structured redaction
    for path in sorted(state_dir.rglob("*")) if state_dir.is_dir() else []:
        relative = path.relative_to(state_dir)
        if relative.parts[0] in ("ansible", "facts", "cp") and len(relative.parts) > 1:
            continue  # runner artifacts and fact cache: not copied, not worth listing
        try:
            info = path.lstat()
        except OSError:
            continue
        note = ""
        if path.is_file() and str(relative) not in explicit:
            reason = excluded_reason(path)
            if reason:
                excluded.setdefault(str(relative), reason)
                note = f"  [excluded: {reason}]"
        mode = oct(info.st_mode & 0o7777)[2:].zfill(4)
        lines.append(f"{mode} {info.st_size:>10} {relative}{'/' if path.is_dir() else ''}{note}")
    return "\n".join(lines) + "\n"


def _not_collected(missing: dict[str, str], login_error: str | None) -> bytes:
    head = [f"host unreachable: {login_error}", ""] if login_error else []
    body = [f"{name}: {reason}" for name, reason in sorted(missing.items())]
    return ("\n".join(head + body) + "\n").encode()


def _manifest(result: DiagnoseResult) -> bytes:
    data = {
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dcos_provision": __version__,
        **result.to_dict(),
    }
    data.pop("bundle")
    return (json.dumps(data, indent=2) + "\n").encode()


def _write_tar(bundle: Path, top: str, files: dict[str, bytes]) -> None:
    """Write atomically, readable by the owner only (it describes the whole cluster)."""
    bundle.parent.mkdir(parents=True, exist_ok=True)
    partial = bundle.with_name(f".{bundle.name}.partial")
    now = time.time()
    try:
        with tarfile.open(partial, "w:gz") as tar:
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size, info.mtime, info.mode = len(data), now, 0o644
                tar.addfile(info, io.BytesIO(data))
        os.chmod(partial, 0o600)
        os.replace(partial, bundle)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
