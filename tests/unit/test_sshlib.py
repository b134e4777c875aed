"""paramiko is imported without `invoke` (about 140 ms of imports a `status` does not need)."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_ssh_login_module_loads_paramiko_without_invoke() -> None:
    _run(
        "import sys\n"
        "import provisioner.remote.connect\n"
        "assert 'paramiko' in sys.modules\n"
        "assert 'invoke' not in sys.modules, 'invoke loaded'\n"
        "assert sys.modules['paramiko'].SSHClient\n"
        "import invoke\n"  # whoever wants it later still gets it
        "assert invoke.Context\n"
    )


def test_an_invoke_loaded_before_is_the_one_paramiko_uses() -> None:
    _run(
        "import invoke\n"
        "from provisioner.sshlib import paramiko\n"
        "import paramiko.config\n"
        "assert paramiko.config.invoke is invoke\n"
    )


def test_every_module_of_ours_imports_paramiko_through_sshlib() -> None:
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "provisioner"
    direct = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "sshlib.py"
        and any(
            line.strip() in ("import paramiko", "from paramiko import")
            or line.strip().startswith("from paramiko ")
            for line in path.read_text().splitlines()
        )
    ]
    assert direct == []
