"""The README's commands work verbatim: scripts/lab-setup.sh and scripts/test.sh run as root on a
machine without sudo, re-run themselves through sudo for a normal user, and say what to do
when neither is possible. The scripts run for real with a PATH that has no sudo (or a
recording sudo), as root and as `nobody`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What the scripts need before the root check (sh builtins aside).
TOOLS = ("sh", "id", "dirname", "sed")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run the scripts as root and as nobody",
)


@pytest.fixture
def sandbox() -> Iterator[Path]:
    """A world-readable copy of the scripts and a bin dir with only TOOLS (no sudo)."""
    top = Path(tempfile.mkdtemp(prefix="dcos-provision-root-"))
    try:
        for relative in ("scripts/lab-setup.sh", "scripts/test.sh", "scripts/lib/as-root.sh"):
            target = top / "repo" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / relative, target)
        bin_dir = top / "bin"
        bin_dir.mkdir()
        for tool in TOOLS:
            found = shutil.which(tool)
            assert found, tool
            (bin_dir / tool).symlink_to(found)
        for path in [top, *top.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755)
        yield top
    finally:
        shutil.rmtree(top)


def run(sandbox: Path, script: str, *args: str, as_nobody: bool = False):
    command = ["sh", str(sandbox / "repo" / "scripts" / script), *args]
    if as_nobody:
        setpriv = shutil.which("setpriv")
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {"PATH": str(sandbox / "bin"), "HOME": str(sandbox)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_lab_setup_as_root_without_sudo_proceeds(sandbox: Path) -> None:
    # past the root check, the argument parser answers: it proceeded without asking for sudo
    result = run(sandbox, "lab-setup.sh", "--no-such-option")
    assert result.returncode == 2, result.stderr
    assert "unknown argument: --no-such-option" in result.stderr
    assert "sudo" not in result.stderr + result.stdout


@pytest.mark.parametrize("script", ["lab-setup.sh", "test.sh"])
def test_a_normal_user_without_sudo_is_told_what_to_do(sandbox: Path, script: str) -> None:
    result = run(sandbox, script, "--dev" if script == "lab-setup.sh" else "-q", as_nobody=True)
    assert result.returncode == 1
    name = script.removesuffix(".sh") if script == "lab-setup.sh" else script
    assert result.stderr.startswith(f"{name}: error: must run as root")
    assert "sudo is not installed: log in as root" in result.stderr
    assert not (sandbox / "repo" / ".venv").exists()  # nothing was done


@pytest.mark.parametrize(
    ("script", "args", "kept"),
    [
        ("lab-setup.sh", ["--dev"], "DCOS_PROVISION_MESOS_TARBALL,BOX_NAME"),
        ("test.sh", ["-k", "cli"], "SKIP_E2E,CI,DCOS_PROVISION_MESOS_TARBALL"),
    ],
)
def test_a_normal_user_with_sudo_re_runs_through_sudo(
    sandbox: Path, script: str, args: list[str], kept: str
) -> None:
    record = sandbox / "sudo-args"
    sudo = sandbox / "bin" / "sudo"
    sudo.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    sudo.chmod(0o755)
    record.touch()
    record.chmod(0o666)
    result = run(sandbox, script, *args, as_nobody=True)
    assert result.returncode == 0, result.stderr
    assert "not root: re-running through sudo" in result.stderr
    argv = record.read_text().splitlines()
    assert argv[0].startswith(f"--preserve-env={kept}")
    assert argv[1:] == ["sh", str(sandbox / "repo" / "scripts" / script), *args]


def test_help_needs_no_root(sandbox: Path) -> None:
    for script in ("lab-setup.sh", "test.sh"):
        result = run(sandbox, script, "--help", as_nobody=True)
        assert result.returncode == 0 and "Usage:" in result.stdout, result.stderr


def test_readme_command_lines_carry_no_sudo() -> None:
    readme = (REPO / "README.md").read_text()
    blocks = readme.split("```sh")[1:]
    commands = [line for block in blocks for line in block.split("```")[0].splitlines()]
    assert commands, "no sh blocks in the README"
    assert [line for line in commands if "sudo " in line] == []
