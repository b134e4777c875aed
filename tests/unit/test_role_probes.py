"""The cheap probes that replaced package_facts, run for real on localhost in check mode."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .local_play import run_local_playbook

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
    tmp_path: Path, request: pytest.FixtureRequest, packages: list[str] | None, playbook: str = ""
) -> dict:
    """Run common's tasks/apt.yml with `packages` (--check); the task events by task name."""
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query is not installed (not a Debian-family machine)")
    events = run_local_playbook(
        tmp_path,
        request,
        playbook or APT_PLAYBOOK,
        extravars={"common_apt_packages": packages} if packages is not None else {},
        check=True,
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
