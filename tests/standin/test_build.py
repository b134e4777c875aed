"""build.sh: a reproducible prefix-tree tarball whose launchers run from wherever it is unpacked."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
from pathlib import Path

from .procs import PYTHON, STANDIN_DIR

EXPECTED_MEMBERS = {
    "./README.md",
    "./bin/mesos-master",
    "./bin/mesos-agent",
    "./lib/mesos-standin/standin/VERSION",
    "./lib/mesos-standin/standin/__init__.py",
    "./lib/mesos-standin/standin/main.py",
    "./lib/mesos-standin/standin/master.py",
    "./lib/mesos-standin/standin/agent.py",
}


def _build(dist: Path, version: str | None = None) -> Path:
    env = {**os.environ, "DIST": str(dist)}
    if version:
        env["VERSION"] = version
    result = subprocess.run(
        ["sh", str(STANDIN_DIR / "build.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Path(result.stdout.strip())


def test_tarball_is_reproducible_and_rooted_at_the_prefix(tmp_path: Path) -> None:
    first = _build(tmp_path / "a")
    second = _build(tmp_path / "b")
    assert first.name == "mesos-standin-1.11.0.tar.gz"
    assert (
        hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    )
    with tarfile.open(first) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert set(members) >= EXPECTED_MEMBERS
        assert not [name for name in members if "__pycache__" in name or name.endswith(".pyc")]
        assert members["./bin/mesos-master"].mode & 0o111
        assert {m.uid for m in members.values()} == {0}


def test_unpacked_launchers_report_the_built_version(tmp_path: Path) -> None:
    tarball = _build(tmp_path / "dist", version="1.12.0")
    prefix = tmp_path / "opt" / "mesos"
    prefix.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        # `filter` exists from Python 3.11.4 on; Debian 12 ships 3.11.2.
        safe = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
        archive.extractall(prefix, **safe)
    link = tmp_path / "usr-sbin-mesos-master"
    link.symlink_to(prefix / "bin" / "mesos-master")  # launchers resolve their real path
    for launcher in (prefix / "bin" / "mesos-agent", link):
        result = subprocess.run(
            [PYTHON, str(launcher), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("mesos 1.12.0 (dcos-provision Mesos test stand-in")
