"""Pulumi programs: one per backend, each a pure function of (spec, planned machines, key).

A program only declares resources and exports ``machines``: a list of
``{name, roles, zookeeper_id, address, private_ip, public_ip, host_key}`` that
``providers/pulumi.py`` turns into :class:`~provisioner.domain.Machine` objects. Keeping the
programs free of I/O lets ``tests/unit/test_pulumi_programs.py`` run them offline under
``pulumi.runtime.set_mocks``. The backend modules import their provider SDK (pulumi-libvirt,
pulumi-aws), so load them through :func:`program_for` only when that backend is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from ..domain import PlannedMachine

#: Stack output holding the machine list.
MACHINES_OUTPUT = "machines"

#: backend type -> "module:function".
PROGRAMS: dict[str, str] = {
    "libvirt": "provisioner.pulumi_programs.libvirt:libvirt_program",
    "aws": "provisioner.pulumi_programs.aws:aws_program",
}

#: PyPI distribution and Pulumi resource plugin each backend needs.
BACKEND_PACKAGES: dict[str, tuple[str, str]] = {
    "libvirt": ("pulumi-libvirt", "libvirt"),
    "aws": ("pulumi-aws", "aws"),
}

#: machine name -> (OpenSSH private host key, its public line), injected through cloud-init.
HostKeys = Mapping[str, tuple[str, str]]
Program = Callable[[Any, list[PlannedMachine], str, HostKeys], Any]


def program_for(backend_type: str) -> Program:
    """The program function of a backend (imports its provider SDK on first use)."""
    module_name, function_name = PROGRAMS[backend_type].split(":")
    program: Program = getattr(importlib.import_module(module_name), function_name)
    return program


def machine_record(
    machine: PlannedMachine,
    address: str,
    private_ip: str,
    public_ip: str | None = None,
    host_key: str | None = None,
) -> dict[str, Any]:
    """One entry of the ``machines`` output (plain JSON: it lives in the Pulumi state).
    ``host_key`` is the injected public host key (None: the machine's keys are its own)."""
    return {
        "name": machine.name,
        "roles": [str(role) for role in machine.roles],
        "zookeeper_id": machine.zookeeper_id,
        "address": address,
        "private_ip": private_ip,
        "public_ip": public_ip,
        "host_key": host_key,
    }


def role_tags(cluster: str, machine: PlannedMachine) -> dict[str, str]:
    """Tags/labels identifying a machine as part of this cluster (used for cleanup by hand)."""
    return {"cluster": cluster, "role": str(machine.primary_role), "Name": machine.name}


def cloud_init_user_data(
    ssh_user: str, public_key: str, host_key: tuple[str, str] | None = None
) -> str:
    """cloud-init user-data: the login user with the key, passwordless sudo and python3.

    With ``host_key`` (private, public), sshd gets that ed25519 host key instead of making its
    own (the controller already knows it) and no other key type is generated."""
    config = {
        "users": [
            {
                "name": ssh_user,
                "shell": "/bin/bash",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "lock_passwd": True,
                "ssh_authorized_keys": [public_key.strip()],
            },
        ],
        "ssh_pwauth": False,
        "package_update": True,
        "packages": ["python3", "sudo"],
    }
    if host_key is not None:
        private, public = host_key
        config["ssh_deletekeys"] = True
        config["ssh_genkeytypes"] = []
        config["ssh_keys"] = {"ed25519_private": private, "ed25519_public": public}
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


def user_data_input(ssh_user: str, public_key: str, host_key: tuple[str, str] | None) -> Any:
    """The user data as a resource input: a Pulumi secret when it carries a private host key
    (encrypted in the stack state with the passphrase)."""
    import pulumi

    text = cloud_init_user_data(ssh_user, public_key, host_key)
    return pulumi.Output.secret(text) if host_key is not None else text
