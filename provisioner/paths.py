"""Where the project's non-Python assets live (playbooks, Vagrantfile, stand-in sources).

The package is installed editable from a checkout (see README), so the assets sit next to
``provisioner/``; ``DCOS_PROVISION_HOME`` points elsewhere when they were copied.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    override = os.environ.get("DCOS_PROVISION_HOME")
    return Path(override).resolve() if override else Path(__file__).resolve().parent.parent


def playbooks_dir() -> Path:
    return project_root() / "playbooks"


def vagrant_dir() -> Path:
    return project_root() / "vagrant"


def default_state_dir(spec_file: Path, cluster: str) -> Path:
    """`.dcos-provision/<name>/` next to the spec, unless DCOS_PROVISION_STATE_DIR is set."""
    override = os.environ.get("DCOS_PROVISION_STATE_DIR")
    if override:
        return Path(override).expanduser().resolve() / cluster
    return spec_file.resolve().parent / ".dcos-provision" / cluster
