"""The backup archive: a tar.gz of JSON members plus a manifest with their SHA-256 checksums.

Reading checks everything (gzip CRC, tar structure, every checksum, the manifest's own
checksum, the cluster's name and identity) before a caller sees a byte of content, so a
truncated, altered or foreign archive is refused with one message and nothing changes.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ArchiveError

FORMAT = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
GZIP_HEADER = gzip.compress(b"", mtime=0)[:10]
#: Refuse archives that would unpack to more than this (a backup is a few MiB at most).
MAX_BYTES = 256 * 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Archive:
    """The members of one backup (name -> bytes) and its manifest."""

    manifest: dict[str, Any]
    members: dict[str, bytes] = field(default_factory=dict)

    def json(self, name: str, default: Any = None) -> Any:
        """A JSON member's content (`default` when the archive has no such member)."""
        if name not in self.members:
            return default
        return json.loads(self.members[name])


def write_archive(path: Path, manifest: dict[str, Any], members: dict[str, bytes]) -> Path:
    """Write atomically (temp file in the same directory, fsync, rename), mode 0600."""
    full = {**manifest, "format": FORMAT, "files": {n: sha256(d) for n, d in members.items()}}
    manifest_bytes = (json.dumps(full, indent=2, sort_keys=True) + "\n").encode()
    entries = {
        MANIFEST: manifest_bytes,
        MANIFEST_SUM: (sha256(manifest_bytes) + "\n").encode(),
        **members,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, 0
            tar.addfile(info, io.BytesIO(data))
    packed = gzip.compress(buffer.getvalue(), mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(packed)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _refuse(path: Path, why: str) -> ArchiveError:
    return ArchiveError(
        f"{path}: not a usable backup of this tool: {why}; nothing was changed",
        hint="use another backup (`dcos-provision backup` writes one; automatic ones are "
        "in the cluster's state directory under backups/)",
    )


def _members(path: Path) -> dict[str, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read the backup: {exc.strerror or exc}") from None
    members: dict[str, bytes] = {}
    total = 0
    # The whole gzip stream is checked (CRC and length at its end: tarfile alone stops at the
    # end-of-archive blocks), and its header must be the fixed one we write (nothing in gzip
    # checks the header's time and OS bytes), so no single byte can change unnoticed.
    if raw[: len(GZIP_HEADER)] != GZIP_HEADER:
        raise _refuse(path, "damaged or truncated (not the gzip header a backup starts with)")
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw)), mode="r:") as tar:
            for info in tar:
                name = PurePosixPath(info.name)
                if not info.isfile() or name.is_absolute() or ".." in name.parts:
                    raise _refuse(path, f"unexpected member {info.name!r}")
                total += info.size
                if total > MAX_BYTES or info.name in members:
                    raise _refuse(path, f"member {info.name!r} is too large or repeated")
                handle = tar.extractfile(info)
                assert handle is not None  # a regular file
                members[info.name] = handle.read()
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _refuse(path, f"damaged or truncated ({type(exc).__name__}: {exc})") from None
    return members


def read_archive(path: Path) -> Archive:
    """Read and verify every checksum; ArchiveError naming the file and the first problem."""
    members = _members(path)
    manifest_bytes = members.pop(MANIFEST, None)
    recorded = members.pop(MANIFEST_SUM, b"").decode("ascii", "replace").strip()
    if manifest_bytes is None:
        raise _refuse(path, f"it has no {MANIFEST}")
    if recorded != sha256(manifest_bytes):
        raise _refuse(path, f"the checksum of {MANIFEST} does not match (altered or damaged)")
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError:
        raise _refuse(path, f"{MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _refuse(path, f"unknown archive format {manifest.get('format')!r}")
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(members):
        missing = sorted(set(files or {}) ^ set(members))
        raise _refuse(path, f"members do not match the manifest: {', '.join(missing)}")
    altered = sorted(name for name, data in members.items() if files[name] != sha256(data))
    if altered:
        raise _refuse(path, f"checksum mismatch in {', '.join(altered)} (altered or damaged)")
    return Archive(manifest=manifest, members=members)


def check_identity(path: Path, archive: Archive, cluster: str, cluster_id: str) -> None:
    """Refuse another cluster's archive: by name, then by the identity drawn at first `up`."""
    name, ident = archive.manifest.get("cluster"), archive.manifest.get("cluster_id")
    if name != cluster:
        raise ArchiveError(
            f"{path}: this is a backup of cluster {name!r}, not {cluster!r}; nothing was changed",
            hint="restore a backup of this cluster (or use the spec of the cluster it belongs to)",
        )
    if cluster_id and ident != cluster_id:
        raise ArchiveError(
            f"{path}: this is a backup of another cluster named {cluster!r} (identity {ident}, "
            f"this cluster is {cluster_id}); nothing was changed",
            hint="restore a backup taken of this cluster; identities are drawn at the first `up`",
        )
