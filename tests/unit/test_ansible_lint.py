"""Playbook hygiene: ansible-lint (production profile, no skip list) and the house rules that
lint cannot see (probes never report changes, restarts only in handlers)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
PROBES = {"ansible.builtin.command", "ansible.builtin.uri", "ansible.builtin.wait_for"}


def ansible_lint() -> str | None:
    candidate = Path(sys.executable).parent / "ansible-lint"
    return str(candidate) if candidate.exists() else shutil.which("ansible-lint")


@pytest.mark.timeout(300)
def test_ansible_lint_production_profile_passes() -> None:
    binary = ansible_lint()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("ansible-lint is not installed (pip install -e '.[dev]')")
        pytest.skip("ansible-lint is not installed")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [binary, "--offline", "--profile", "production", "--nocolor", "playbooks/"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr


def tasks_in(data: Any) -> list[dict[str, Any]]:
    """Every task mapping in a tasks file or playbook (blocks, rescue, pre/post tasks)."""
    found: list[dict[str, Any]] = []
    if isinstance(data, list):
        for item in data:
            found += tasks_in(item)
    elif isinstance(data, dict):
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
            found += tasks_in(data.get(key))
        if "name" in data and not {"hosts", "block"} & data.keys():
            found.append(data)
    return found


def task_files(kind: str) -> list[Path]:
    return sorted(PLAYBOOKS.glob(f"roles/*/{kind}/*.yml"))


def test_every_probe_reports_no_change_unless_it_acts() -> None:
    playbooks = sorted(PLAYBOOKS.glob("*.yml"))
    offenders = []
    checked = 0
    for path in task_files("tasks") + task_files("handlers") + playbooks:
        for task in tasks_in(yaml.safe_load(path.read_text())):
            if PROBES & task.keys():
                checked += 1
                if "changed_when" not in task:
                    offenders.append(f"{path.relative_to(REPO)}: {task['name']}")
    assert checked > 10
    assert offenders == []


def test_read_only_probes_run_in_check_mode_too() -> None:
    """A probe that never reports a change only reads: it runs in --check as well, so the
    tasks that use its answer see a real one."""
    offenders = []
    for path in task_files("tasks") + sorted(PLAYBOOKS.glob("*.yml")):
        for task in tasks_in(yaml.safe_load(path.read_text())):
            read_only = PROBES & task.keys() and task.get("changed_when") is False
            if read_only and task.get("check_mode") is not False:
                offenders.append(f"{path.relative_to(REPO)}: {task['name']}")
    assert offenders == []


def test_service_ports_are_written_once() -> None:
    """Each port is a literal once, in the defaults of the role that serves it; the rest of the
    tree refers to the variable (playbooks/group_vars/all.yml reads them for the other roles)."""
    owners = {"2181": "zookeeper", "2888": "zookeeper", "3888": "zookeeper"}
    owners |= {"5050": "mesos_master", "5051": "mesos_agent"}
    found: dict[str, list[str]] = {port: [] for port in owners}
    for path in sorted(PLAYBOOKS.rglob("*")):
        if path.is_file() and path.suffix in (".yml", ".j2", ".cfg"):
            for line in path.read_text().splitlines():
                code = line if path.suffix == ".j2" else line.split("#", 1)[0]
                for port in owners:
                    if re.search(rf"\b{port}\b", code):
                        found[port].append(str(path.relative_to(PLAYBOOKS)))
    assert found == {port: [f"roles/{role}/defaults/main.yml"] for port, role in owners.items()}


def test_restarts_happen_only_in_handlers() -> None:
    offenders = []
    for path in task_files("tasks") + sorted(PLAYBOOKS.glob("*.yml")):
        for task in tasks_in(yaml.safe_load(path.read_text())):
            for module, args in task.items():
                if isinstance(args, dict) and args.get("state") in ("restarted", "reloaded"):
                    offenders.append(f"{path.relative_to(REPO)}: {task['name']} ({module})")
    assert offenders == []
    handlers = [t for p in task_files("handlers") for t in tasks_in(yaml.safe_load(p.read_text()))]
    assert any(
        isinstance(args, dict) and args.get("state") == "restarted"
        for task in handlers
        for args in task.values()
    )


def test_templates_carry_ansible_managed() -> None:
    templates = sorted(PLAYBOOKS.glob("roles/*/templates/*.j2"))
    assert len(templates) >= 8
    assert [t.name for t in templates if "{{ ansible_managed }}" not in t.read_text()] == []


def test_role_variables_are_prefixed_and_documented() -> None:
    for role_dir in sorted(p for p in (PLAYBOOKS / "roles").iterdir() if p.is_dir()):
        defaults = yaml.safe_load((role_dir / "defaults" / "main.yml").read_text())
        text = (role_dir / "defaults" / "main.yml").read_text()
        assert defaults, role_dir.name
        for name in defaults:
            assert name.startswith(f"{role_dir.name}_"), f"{role_dir.name}: {name}"
        assert text.count("\n#") >= 3, f"{role_dir.name}: defaults/main.yml is not documented"
