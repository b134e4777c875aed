"""Drive the real `dcos-provision` CLI from end-to-end tests, and look inside containers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dcos-provision")
STANDIN_TARBALL = REPO / "tests/mesos_standin/dist/mesos-standin-1.11.0.tar.gz"


def mesos_install() -> dict[str, Any]:
    """The stand-in by default; a real Mesos tarball when the environment names one."""
    tarball = os.environ.get("DCOS_PROVISION_TEST_MESOS_TARBALL")
    if tarball:
        packages = os.environ.get("DCOS_PROVISION_TEST_MESOS_PACKAGES", "").split()
        return {
            "method": "tarball",
            "path": str(Path(tarball).resolve()),
            "runtime_packages": packages,
        }
    assert STANDIN_TARBALL.exists(), (
        f"{STANDIN_TARBALL} missing: run sh tests/mesos_standin/build.sh"
    )
    return {
        "method": "tarball",
        "path": str(STANDIN_TARBALL),
        "runtime_packages": ["python3", "python3-kazoo"],
    }


def mesos_section() -> dict[str, Any]:
    """Mesos install plus the agent flags agents need inside LXC containers (no cgroups)."""
    return {
        "install": mesos_install(),
        "agent_flags": {
            "launcher": "posix",
            "isolation": "posix/cpu,posix/mem",
            "systemd_enable_support": False,
        },
    }


def write_spec(directory: Path, name: str, masters: int, agents: int) -> Path:
    """A local LXC spec for a test cluster (agents configured for containers)."""
    import yaml

    spec = {
        "name": name,
        "provider": {"kind": "vagrant", "vagrant_provider": "lxc"},
        "masters": {"count": masters},
        "agents": {
            "count": agents,
            "resources": {"cpus": 1, "mem": 512, "disk": 1024},
            "attributes": {"rack": "r1"},
        },
        "mesos": mesos_section(),
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def cli(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run the CLI; stderr is echoed so a failing test shows what the operator would see."""
    result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout,
                            check=False)  # fmt: skip
    sys.stderr.write(f"$ dcos-provision {' '.join(args)} -> {result.returncode}\n")
    sys.stderr.write(result.stderr[-6000:])
    return result


def cli_json(*args: str, expect_rc: int | None = 0, timeout: float = 1800) -> dict[str, Any]:
    result = cli(*args, "--json", timeout=timeout)
    if expect_rc is not None:
        assert result.returncode == expect_rc, (args, result.returncode, result.stderr[-3000:])
    return json.loads(result.stdout)


def status(spec: Path) -> tuple[int, dict[str, Any]]:
    result = cli("status", str(spec), "--json", timeout=300)
    return result.returncode, json.loads(result.stdout)


def wait_status(
    spec: Path,
    predicate: Callable[[int, dict[str, Any]], bool],
    timeout: float = 240,
    interval: float = 3,
) -> dict[str, Any]:
    """Poll `status --json` until predicate(rc, report) holds; fail with the last report."""
    deadline = time.monotonic() + timeout
    rc, report = status(spec)
    while not predicate(rc, report):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"status never matched in {timeout}s; last rc={rc}: "
                f"{json.dumps(failures(report), indent=1)}"
            )
        time.sleep(interval)
        rc, report = status(spec)
    return report


def failures(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if not c["ok"]]


def failed_in(report: dict[str, Any], layer: str, host: str | None = None) -> list[dict]:
    return [
        c for c in failures(report) if c["layer"] == layer and (host is None or c["host"] == host)
    ]


def layer_ok(report: dict[str, Any], layer: str) -> bool:
    checks = [c for c in report["checks"] if c["layer"] == layer]
    return bool(checks) and all(c["ok"] for c in checks)


def in_container(name: str, *command: str, check: bool = True) -> str:
    result = subprocess.run(["lxc-attach", "-n", name, "--", *command], capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(
            f"{name}: {' '.join(command)} -> {result.returncode}: {result.stderr[-2000:]}"
        )
    return result.stdout


def container_ip(name: str) -> str:
    out = subprocess.run(["lxc-info", "-n", name, "-iH"], capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    return next(ip for ip in out if ip.startswith("10.0.3."))


def four_letter(address: str, command: str) -> str:
    import socket

    with socket.create_connection((address, 2181), timeout=5) as sock:
        sock.sendall(command.encode())
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def http_json(address: str, port: int, path: str) -> tuple[int, Any]:
    import http.client

    connection = http.client.HTTPConnection(address, port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return response.status, (json.loads(body) if body.strip().startswith(b"{") else body)
    finally:
        connection.close()


def recap_hosts(log_path: str) -> set[str]:
    """Hosts that appear in the PLAY RECAP of an Ansible run log (i.e. were in the play)."""
    text = Path(log_path).read_text(errors="replace")
    recap = text.rsplit("PLAY RECAP", 1)[-1]
    hosts = set()
    for line in recap.splitlines():
        if ": ok=" in line:
            hosts.add(line.split(":", 1)[0].strip())
    return hosts
