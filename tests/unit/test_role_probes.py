"""The cheap probes that replaced package_facts, run for real on localhost in check mode."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .local_play import run_local_playbook

#: The interpreter Ansible finds on the Debian targets, where python3-apt lives (the apt
#: module cannot re-start itself elsewhere under mitogen, the default strategy).
SYSTEM_PYTHON = "/usr/bin/python3"
GUARD = "Install python3-apt with apt-get (the apt module needs it)"

APT_PLAYBOOK = """
- name: Install what is missing
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the apt tasks of common
      ansible.builtin.include_role:
        name: common
        tasks_from: apt
        apply:
          ignore_errors: true
"""


TWO_INCLUDES = """
- name: Two roles' packages in one run
  hosts: all
  gather_facts: false
  tasks:
    - name: The first include
      ansible.builtin.include_role:
        name: common
        tasks_from: apt
      vars:
        common_apt_packages: [dpkg]
- name: A later play
  hosts: all
  gather_facts: false
  tasks:
    - name: The second include
      ansible.builtin.include_role:
        name: common
        tasks_from: apt
        apply:
          ignore_errors: true
      vars:
        common_apt_packages: [coreutils, dcos-provision-no-such-package]
"""


def run_apt_tasks(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    packages: list[str] | None,
    playbook: str = "",
    check: bool = True,
) -> dict:
    """Run common's tasks/apt.yml with `packages` (--check unless told); the task events by
    task name."""
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query is not installed (not a Debian-family machine)")
    if subprocess.run([SYSTEM_PYTHON, "-c", "import apt"], capture_output=True).returncode:
        pytest.skip(f"{SYSTEM_PYTHON} has no python3-apt (the targets' interpreter has)")
    extravars: dict = {"ansible_python_interpreter": SYSTEM_PYTHON}
    if packages is not None:
        extravars["common_apt_packages"] = packages
    events = run_local_playbook(
        tmp_path, request, playbook or APT_PLAYBOOK, extravars=extravars, check=check
    )
    request.node.all_events = [e for e in events if e["event"].startswith("host_")]
    return {e["task"]: e for e in events if e["event"].startswith("host_")}


@pytest.mark.timeout(120)
def test_installed_packages_need_no_apt_run(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Everything installed: one dpkg-query, and apt (with its package-list refresh) is skipped."""
    by_task = run_apt_tasks(tmp_path, request, ["dpkg", "coreutils"])
    probe = by_task["List the installed packages (once per host and run)"]
    assert probe["event"] == "host_ok"
    assert probe["raw"]["event_data"]["res"]["cmd"][:2] == ["dpkg-query", "--show"]
    assert by_task["Install the missing packages (apt)"]["event"] == "host_skipped"


@pytest.mark.timeout(120)
def test_only_missing_packages_go_to_apt(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A name dpkg does not know is missing (dpkg-query exits 1: not a failure); apt gets only
    that name, with a refresh of the package lists first."""
    missing = "dcos-provision-no-such-package"
    by_task = run_apt_tasks(tmp_path, request, ["dpkg", missing, "coreutils"])
    assert by_task["List the installed packages (once per host and run)"]["event"] == "host_ok"
    install = by_task["Install the missing packages (apt)"]
    assert install["event"] != "host_skipped"
    args = install["raw"]["event_data"]["res"]["invocation"]["module_args"]
    assert (args["name"], args["update_cache"]) == ([missing], True)


@pytest.mark.timeout(120)
def test_the_package_list_is_read_once_per_host_and_run(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A later include (another role's packages, another play) reuses the first probe's list:
    dpkg-query runs once, and apt still gets only what is missing."""
    run_apt_tasks(tmp_path, request, None, TWO_INCLUDES)
    events = request.node.all_events
    probes = [e["event"] for e in events if e["task"].startswith("List the installed packages")]
    assert probes == ["host_ok", "host_skipped"]
    installs = [e for e in events if e["task"] == "Install the missing packages (apt)"]
    assert installs[0]["event"] == "host_skipped"  # dpkg: installed
    args = installs[1]["raw"]["event_data"]["res"]["invocation"]["module_args"]
    assert args["name"] == ["dcos-provision-no-such-package"]


def test_a_host_with_python3_apt_needs_no_apt_get(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    by_task = run_apt_tasks(tmp_path, request, ["dpkg"])
    assert by_task[GUARD]["event"] == "host_skipped"
    assert "res" not in by_task[GUARD]["raw"]["event_data"]  # its condition, not check mode


def test_a_host_without_python3_apt_gets_it_from_apt_get_first(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dpkg lists no python3-apt: apt-get installs it, in the first include of the run only
    (fake dpkg-query and apt-get on PATH; the later include finds dpkg listed and skips)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "apt-get.calls"
    (fake / "dpkg-query").write_text("#!/bin/sh\necho 'dpkg installed'\n")
    (fake / "apt-get").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    for tool in fake.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    two_dpkg_includes = TWO_INCLUDES.replace(
        "[coreutils, dcos-provision-no-such-package]", "[dpkg]"
    )
    run_apt_tasks(tmp_path, request, None, two_dpkg_includes, check=False)
    guards = [e["event"] for e in request.node.all_events if e["task"] == GUARD]
    assert guards == ["host_changed", "host_skipped"]
    assert calls.read_text().splitlines() == [
        "update -qq",
        "install -y -qq --no-install-recommends python3-apt",
    ]
