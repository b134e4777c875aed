"""The lab box's lxc-template (vagrant/box/lxc-template), run as lxc-create would run it on
small fake tarballs: one unpacked base per box, the Mesos tarball baked into a hard-linked copy
of it with role mesos_install's marker, the container an overlay on that."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from provisioner.paths import vagrant_dir

TEMPLATE = vagrant_dir() / "box" / "lxc-template"
PREFIX = "/opt/mesos-1.12.0"


def make_tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def box(tmp_path: Path) -> Path:
    return make_tarball(
        tmp_path / "rootfs.tar.gz",
        {"rootfs/bin/true": b"#!/bin/sh\n", "rootfs/home/vagrant/.profile": b"# profile\n"},
    )


@pytest.fixture
def mesos(tmp_path: Path) -> Path:
    return make_tarball(
        tmp_path / "mesos.tar.gz",
        {"./bin/mesos-master": b"master\n", "./lib/libmesos-1.12.0.so": b"lib\n"},
    )


def run_template(tmp_path: Path, box: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DCOS_PROVISION_")}
    environ.update(DCOS_PROVISION_LXC_BASE_DIR=str(tmp_path / "bases"), **env)
    return subprocess.run(
        ["bash", str(TEMPLATE), "--tarball", str(box), "--strip-components", "1", *args],
        env=environ, capture_output=True, text=True, check=False,
    )  # fmt: skip


def bases(tmp_path: Path) -> dict[str, Path]:
    return {p.name: p for p in (tmp_path / "bases").iterdir() if p.is_dir()}


def test_the_mesos_tarball_is_baked_into_a_hard_linked_copy_of_the_base_with_the_roles_marker(
    tmp_path: Path, box: Path, mesos: Path
) -> None:
    bake = {"DCOS_PROVISION_BAKE_MESOS_TARBALL": str(mesos),
            "DCOS_PROVISION_BAKE_MESOS_PREFIX": PREFIX}  # fmt: skip
    result = run_template(tmp_path, box, "--prepare-base", **bake)
    assert result.returncode == 0, result.stderr

    made = bases(tmp_path)
    assert len(made) == 2
    plain = made.pop(next(name for name in made if "-mesos-" not in name))
    (baked,) = made.values()
    assert baked.name.startswith(f"{plain.name}-mesos-")
    prefix = baked / "rootfs" / PREFIX.lstrip("/")
    assert (prefix / "bin/mesos-master").read_bytes() == b"master\n"
    # the marker role mesos_install looks for: sha256 of the archive, holding its path
    digest = hashlib.sha256(mesos.read_bytes()).hexdigest()
    marker = prefix / f".dcos-provision-{digest}"
    assert marker.read_text() == f"{mesos}\n"
    assert marker.stat().st_mode & 0o777 == 0o644
    # a copy of the base by hard links (no second unpack of the box), the base left as it was
    assert (baked / "rootfs/bin/true").stat().st_ino == (plain / "rootfs/bin/true").stat().st_ino
    assert not (plain / "rootfs/opt").exists()
    assert (baked / "complete").exists() and not list((tmp_path / "bases").glob("*.partial"))

    # once per box and tarball: a second run leaves the baked base alone
    stamp = marker.stat().st_mtime_ns
    assert run_template(tmp_path, box, "--prepare-base", **bake).returncode == 0
    assert marker.stat().st_mtime_ns == stamp and len(bases(tmp_path)) == 2


def test_a_new_container_is_an_overlay_on_the_baked_base(
    tmp_path: Path, box: Path, mesos: Path
) -> None:
    container = tmp_path / "lxc" / "demo-agent-1"
    container.mkdir(parents=True)
    (container / "config").write_text("lxc.rootfs.path = dir:/nowhere\nlxc.arch = amd64\n")
    result = run_template(
        tmp_path, box, "--name", "demo-agent-1", "--path", str(container),
        DCOS_PROVISION_BAKE_MESOS_TARBALL=str(mesos), DCOS_PROVISION_BAKE_MESOS_PREFIX=PREFIX,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    baked = next(p for name, p in bases(tmp_path).items() if "-mesos-" in name)
    rootfs_lines = [
        line for line in (container / "config").read_text().splitlines()
        if line.startswith("lxc.rootfs.path")
    ]  # fmt: skip
    assert rootfs_lines == [f"lxc.rootfs.path = overlay:{baked}/rootfs:{container}/delta0"]


@pytest.mark.parametrize(
    ("tarball", "prefix"),
    [
        ("not-gzip", PREFIX),  # a tarball that does not unpack
        ("missing", PREFIX),  # no such file
        ("mesos", "opt/mesos"),  # a relative prefix
        ("mesos", "/opt/../etc"),  # a prefix leaving /opt
        ("mesos", "/opt/mesos 1"),  # characters the role's paths never have
    ],
)
def test_what_cannot_be_baked_leaves_the_plain_base(
    tmp_path: Path, box: Path, mesos: Path, tarball: str, prefix: str
) -> None:
    paths = {"mesos": mesos, "missing": tmp_path / "nothing.tar.gz",
             "not-gzip": tmp_path / "broken.tar.gz"}  # fmt: skip
    paths["not-gzip"].write_bytes(b"not a tarball")
    container = tmp_path / "lxc" / "demo-agent-1"
    container.mkdir(parents=True)
    (container / "config").write_text("lxc.arch = amd64\n")
    result = run_template(
        tmp_path, box, "--name", "demo-agent-1", "--path", str(container),
        DCOS_PROVISION_BAKE_MESOS_TARBALL=str(paths[tarball]),
        DCOS_PROVISION_BAKE_MESOS_PREFIX=prefix,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert list(bases(tmp_path)) == [next(iter(bases(tmp_path)))]  # the plain base only
    (plain,) = bases(tmp_path).values()
    assert f"overlay:{plain}/rootfs:{container}/delta0" in (container / "config").read_text()
    if tarball == "not-gzip":
        assert "could not bake" in result.stderr
