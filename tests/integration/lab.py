"""Helpers for end-to-end tests on the local lab (LXC containers through vagrant-lxc).

``require_lab()`` first; ``remove_stale_containers(prefix)`` before creating machines so a run
that was killed earlier cannot make this one fail on a name clash; ``ssh_run`` to look inside.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from provisioner.domain import Machine
from provisioner.providers.vagrant import VagrantProvider
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines

BOX = "dcos-provision/debian12-lxc"
BRIDGE = Path("/sys/class/net/lxcbr0")


def _missing_or_fail(reason: str) -> None:
    """In CI a missing lab is a failure (the lab is part of the job); locally it is a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the lab must be ready: sudo scripts/lab-setup.sh)")
    pytest.skip(f"{reason}; prepare the lab with `sudo scripts/lab-setup.sh`")


def require_lab() -> None:
    """Skip (locally) or fail (CI) unless root, lxc, vagrant-lxc, the box and lxcbr0 are there."""
    if os.geteuid() != 0:
        _missing_or_fail("the LXC lab needs root (privileged containers)")
    for tool in ("lxc-ls", "lxc-destroy", "vagrant"):
        if shutil.which(tool) is None:
            _missing_or_fail(f"{tool} is not installed")
    plugins = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True,
                             cwd="/", check=False)  # fmt: skip
    if "vagrant-lxc" not in plugins.stdout:
        _missing_or_fail("the vagrant-lxc plugin is not installed")
    boxes = subprocess.run(["vagrant", "box", "list"], capture_output=True, text=True, cwd="/",
                           check=False)  # fmt: skip
    if not any(line.split()[:1] == [BOX] for line in boxes.stdout.splitlines()):
        _missing_or_fail(f"the Vagrant box {BOX} is not installed")
    if not BRIDGE.exists():
        _missing_or_fail("the LXC bridge lxcbr0 is not up")


def containers() -> set[str]:
    """Names of every LXC container on this host."""
    result = subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True, check=True)
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}


def remove_stale_containers(prefix: str) -> list[str]:
    """lxc-destroy every container whose name starts with ``prefix`` (e.g. ``"e2e-vprov-"``).

    The prefix must end with '-' and name a test cluster, so nobody else's containers match.
    """
    if not prefix.endswith("-") or len(prefix) < 4:
        raise ValueError(f"refusing a broad container prefix: {prefix!r} (use '<cluster>-')")
    stale = sorted(name for name in containers() if name.startswith(prefix))
    for name in stale:
        subprocess.run(["lxc-destroy", "-f", "-n", name], capture_output=True, check=True)
    return stale


def ssh_run(machine: Machine, command: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run a command on a machine the way Ansible would reach it; returns (rc, stdout, stderr)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # throw-away lab machines
    try:
        client.connect(
            machine.address,
            port=machine.ssh_port,
            username=machine.ssh_user,
            key_filename=machine.ssh_private_key,
            look_for_keys=False,
            allow_agent=False,
            timeout=timeout,
        )
        _stdin, stdout, stderr = client.exec_command(command, timeout=timeout)
        rc = stdout.channel.recv_exit_status()
        return rc, stdout.read().decode(), stderr.read().decode()
    finally:
        client.close()


@contextlib.contextmanager
def vagrant_hosts(cluster: str, agents: int, state_dir: Path) -> Iterator[list[Machine]]:
    """Throw-away SSH hosts (`<cluster>-master-1`, `<cluster>-agent-N` containers) for tests
    that adopt existing hosts; stale ones go first, all are destroyed afterwards."""
    prefix = f"{cluster}-"
    remove_stale_containers(prefix)
    spec = ClusterSpec.model_validate(
        {"name": cluster, "provider": {"kind": "vagrant"}, "agents": {"count": agents}}
    )
    provider = VagrantProvider(spec, state_dir)
    planned = plan_machines(spec)
    try:
        provider.preflight()
        yield provider.create(planned)
    finally:
        try:
            provider.destroy([m.name for m in planned])
        finally:
            remove_stale_containers(prefix)
        assert {c for c in containers() if c.startswith(prefix)} == set()
