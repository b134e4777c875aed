"""A cluster's own SSH login key for lxc machines, and whether a box can take it.

The lab box (vagrant/box/) ships an ``lxc-template`` that writes the public key named by an
environment variable as the vagrant user's only authorized key while it creates the
container, so Vagrant never logs in with its well-known insecure key (docs/lab.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import hostkeys
from ..errors import ProviderError


def ensure(path: Path) -> None:
    """Create an ed25519 key pair at ``path`` (0600) and ``path.pub`` unless it exists (the
    same making as the Pulumi machines' host keys)."""
    hostkeys.key_pair(path.parent, path.name)


def public_line(path: Path) -> str:
    """The authorized_keys line of the key at ``path`` (its ``.pub`` file)."""
    pub = path.with_name(path.name + ".pub")
    try:
        line = pub.read_text().strip()
    except OSError as exc:
        raise ProviderError(f"cannot read the cluster's login key {pub}: {exc}") from exc
    if not line.startswith("ssh-ed25519 "):
        raise ProviderError(f"{pub} is not an ed25519 public key")
    return line


def vagrant_home() -> Path:
    """Vagrant's data directory (``VAGRANT_HOME``, default ``~/.vagrant.d``)."""
    return Path(os.environ.get("VAGRANT_HOME") or Path.home() / ".vagrant.d")


def box_takes_key(box: str, env_name: str, home: Path | None = None) -> bool:
    """True when every installed lxc version of ``box`` ships an ``lxc-template`` that reads
    ``env_name`` (a box built before it had none: Vagrant's own key insertion then)."""
    box_dir = (home or vagrant_home()) / "boxes" / box.replace("/", "-VAGRANTSLASH-")
    templates = sorted(box_dir.glob("*/lxc/lxc-template"))
    versions = sorted(box_dir.glob("*/lxc"))
    if not versions or len(templates) != len(versions):
        return False
    try:
        return all(env_name in t.read_text(errors="replace") for t in templates)
    except OSError:
        return False
