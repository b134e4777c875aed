"""Run a playbook for real on localhost (ansible_connection local), as the roles' tests do."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.ansible import control_path_dir, run_playbook


def run_local_playbook(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    playbook: str,
    extravars: dict[str, Any] | None = None,
    check: bool = False,
) -> list[dict[str, Any]]:
    """Write `playbook` (YAML text) and run it against `testhost` (this machine); return its
    progress events. Its log is in `tmp_path/state/logs/`."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (tmp_path / "inv.yml").write_text(yaml.safe_dump({"all": {"hosts": {"testhost": local}}}))
    (tmp_path / "play.yml").write_text(playbook)
    events: list[dict[str, Any]] = []
    state = tmp_path / "state"
    request.addfinalizer(lambda: shutil.rmtree(control_path_dir(state), ignore_errors=True))
    run_playbook(
        str(tmp_path / "play.yml"),
        inventory=tmp_path / "inv.yml",
        state_dir=state,
        extravars=extravars or {},
        check=check,
        on_event=events.append,
    )
    return events
