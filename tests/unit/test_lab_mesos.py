"""Which Mesos the lab installs (scripts/lib/lab-mesos.sh, run by scripts/lab-setup.sh and so by
scripts/test.sh): DCOS_PROVISION_MESOS_TARBALL, else the newest build in ../shared/mesos/
beside the checkout (an SSL build first), else the test stand-in, with a banner saying which.
The real shell functions run against checkouts laid out in temporary directories."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIB = REPO / "scripts" / "lib" / "lab-mesos.sh"


def build(path: Path, version: str = "1.12.0", master: str = "./sbin/mesos-master") -> Path:
    """A prefix-tree tarball with the members lab-setup looks at (binary and library names)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name in (master, f"./lib/libmesos-{version}.so", "./bin/mesos-execute"):
            info = tarfile.TarInfo(name)
            info.size = len(name)
            archive.addfile(info, io.BytesIO(name.encode()))
    return path


def sh(script: str, checkout: Path, env_tarball: str | None = None):
    env = {"PATH": os.environ["PATH"]}
    if env_tarball is not None:
        env["DCOS_PROVISION_MESOS_TARBALL"] = env_tarball
    return subprocess.run(
        ["sh", "-eu", "-c", f'. "{LIB}"; {script}', "sh", str(checkout), str(checkout / ".lab")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def found(checkout: Path, env_tarball: str | None = None) -> tuple[str, str]:
    result = sh(
        'find_mesos_build "$1"; echo "$MESOS_BUILD_FROM $MESOS_BUILD"', checkout, env_tarball
    )
    assert result.returncode == 0, result.stderr
    origin, _, path = result.stdout.strip().partition(" ")
    return origin, path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """tmp/checkout with a built stand-in in .lab/standin, and no tmp/shared yet."""
    top = tmp_path / "checkout"
    standin = top / ".lab" / "standin" / "mesos-standin-1.12.0.tar.gz"
    build(standin, master="./sbin/mesos-master")
    return top


def test_no_shared_directory_means_the_stand_in(checkout: Path) -> None:
    assert found(checkout) == ("none", "")
    (checkout.parent / "shared" / "mesos").mkdir(parents=True)
    (checkout.parent / "shared" / "mesos" / "README.md").write_text("no build here\n")
    assert found(checkout) == ("none", "")


def test_the_shared_build_beside_the_checkout_is_found(checkout: Path) -> None:
    shared = checkout.parent / "shared" / "mesos"
    plain = build(shared / "mesos-1.12.0-debian12.tar.gz")
    assert found(checkout) == ("shared", str(plain))


def test_the_ssl_build_is_preferred_and_the_newest_version_wins(checkout: Path) -> None:
    shared = checkout.parent / "shared" / "mesos"
    build(shared / "mesos-1.9.0-debian12.tar.gz", "1.9.0")
    newest_plain = build(shared / "mesos-1.12.0-debian12.tar.gz")
    assert found(checkout) == ("shared", str(newest_plain))  # 1.12 > 1.9, not by letters
    build(shared / "mesos-1.11.0-ssl-debian12.tar.gz", "1.11.0")
    newest_ssl = build(shared / "mesos-1.12.0-ssl-debian12.tar.gz")
    (shared / "mesos-1.13.0-ssl-debian12.tar.gz").mkdir()  # not a file: ignored
    build(shared / "mesos-standin-2.0.0.tar.gz", "2.0.0")  # not a Mesos version name: ignored
    assert found(checkout) == ("shared", str(newest_ssl))


def test_the_environment_variable_wins(checkout: Path, tmp_path: Path) -> None:
    build(checkout.parent / "shared" / "mesos" / "mesos-1.12.0-ssl-debian12.tar.gz")
    own = build(tmp_path / "elsewhere" / "my-mesos.tar.gz")
    assert found(checkout, str(own)) == ("env", str(own))


def test_set_up_without_a_build_installs_the_stand_in_and_says_how_to_get_real_mesos(
    checkout: Path,
) -> None:
    result = sh('prepare_lab_mesos "$1" "$2"', checkout)
    assert result.returncode == 0, result.stderr
    lab = checkout / ".lab"
    assert (lab / "mesos.kind").read_text() == "stand-in\n"
    standin = lab / "standin" / "mesos-standin-1.12.0.tar.gz"
    assert (lab / "mesos.tar.gz").read_bytes() == standin.read_bytes()
    assert "lab Mesos: the Mesos TEST STAND-IN, not Apache Mesos" in result.stdout
    assert "DCOS_PROVISION_MESOS_TARBALL=" in result.stdout
    assert "examples/real-mesos.yaml" in result.stdout and "docs/lab.md" in result.stdout


def test_set_up_beside_shared_installs_real_mesos_and_says_so(checkout: Path) -> None:
    first = sh('prepare_lab_mesos "$1" "$2"', checkout)
    assert (checkout / ".lab" / "mesos.kind").read_text() == "stand-in\n", first.stderr
    ssl = build(checkout.parent / "shared" / "mesos" / "mesos-1.12.0-ssl-debian12.tar.gz")
    result = sh('prepare_lab_mesos "$1" "$2"', checkout)  # a re-run switches to the build
    assert result.returncode == 0, result.stderr
    assert (checkout / ".lab" / "mesos.kind").read_text() == "real\n"
    assert (checkout / ".lab" / "mesos.tar.gz").read_bytes() == ssl.read_bytes()
    assert f"lab Mesos: real Apache Mesos 1.12.0 from {ssl}" in result.stdout
    assert "the newest build beside the checkout" in result.stdout


def test_a_file_that_is_no_mesos_build_is_refused_with_its_name(
    checkout: Path, tmp_path: Path
) -> None:
    bogus = build(tmp_path / "bogus.tar.gz", master="./opt/something-else")
    result = sh('prepare_lab_mesos "$1" "$2"', checkout, str(bogus))
    assert result.returncode == 1
    assert result.stderr == (
        f"lab-setup: error: DCOS_PROVISION_MESOS_TARBALL={bogus} is not a Mesos build: "
        "no sbin/mesos-master or bin/mesos-master at its root\n"
    )
    assert not (checkout / ".lab" / "mesos.kind").exists()
    missing = sh('prepare_lab_mesos "$1" "$2"', checkout, str(tmp_path / "nope.tar.gz"))
    assert missing.returncode == 1 and "nope.tar.gz is not a regular file" in missing.stderr


@pytest.mark.parametrize(
    ("mesos", "line"),
    [
        (
            {"kind": "stand-in", "version": "1.12.0"},
            "  runs the Mesos TEST STAND-IN, not Apache Mesos (reports 1.12.0)",
        ),
        ({"kind": "real", "version": "1.12.0"}, "  runs Apache Mesos 1.12.0"),
    ],
)
def test_up_and_status_say_which_mesos_runs(monkeypatch, mesos: dict, line: str) -> None:
    """The health summary `up` and `status` end with names the Mesos under the verdict."""
    from rich.console import Console

    from provisioner import cli
    from provisioner.domain import Layer
    from provisioner.health.report import CheckResult, HealthReport

    out = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=out, width=200, color_system=None))
    check = CheckResult(Layer.ZOOKEEPER, "ruok", "local-master-1", True, "imok")
    cli._print_health(HealthReport("local", [check], leader="local-master-1", mesos=mesos))
    assert out.getvalue().splitlines()[:2] == [
        "cluster local: healthy, leader local-master-1",
        line,
    ]
