"""The real apt repository tasks of mesos_install, run with --check --diff on localhost."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.ansible import control_path_dir, run_playbook

from .role_render import cluster

CHECK_PLAYBOOK = """
- name: Check the apt repository tasks
  hosts: all
  gather_facts: false
  vars:
    ansible_distribution_release: bookworm
  tasks:
    - name: Run the repository tasks of mesos_install
      ansible.builtin.include_role:
        name: mesos_install
        tasks_from: apt-repository
"""


@pytest.mark.timeout(120)
def test_repository_tasks_in_check_mode(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The real apt-repository tasks, --check --diff on localhost: they would write the signed
    source line and fetch the key from the inventory's URL, and they change nothing."""
    keyrings, sources = tmp_path / "keyrings", tmp_path / "sources.list.d"
    keyrings.mkdir()
    sources.mkdir()
    key = tmp_path / "key.asc"
    key.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    inventory = cluster()  # the repository method with the spec's default source line
    mesos_vars = inventory["all"]["children"]["mesos"]["vars"]
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (tmp_path / "inv.yml").write_text(yaml.safe_dump({"all": {"hosts": {"testhost": local}}}))
    (tmp_path / "check.yml").write_text(CHECK_PLAYBOOK)
    extravars = {
        "mesos_install_apt_repository": mesos_vars["mesos_install_apt_repository"],
        # The inventory's key URL is only reachable online; a file:// URL takes its place.
        "mesos_install_apt_key_url": key.as_uri(),
        "mesos_install_apt_keyring_dir": str(keyrings),
        "mesos_install_apt_sources_dir": str(sources),
    }
    events: list[dict[str, Any]] = []
    state = tmp_path / "state"
    request.addfinalizer(lambda: shutil.rmtree(control_path_dir(state), ignore_errors=True))
    result = run_playbook(
        str(tmp_path / "check.yml"),
        inventory=tmp_path / "inv.yml",
        state_dir=state,
        extravars=extravars,
        check=True,
        on_event=events.append,
    )

    by_task = {e["task"]: e for e in events if e["event"].startswith("host_")}
    source = by_task["Write the Mesos apt source"]
    assert source["event"] == "host_changed"
    (diff,) = source["raw"]["event_data"]["res"]["diff"]
    assert diff["after"] == (
        f"deb [signed-by={keyrings}/mesos.asc] http://rpm.aventer.biz/Debian/ bookworm main\n"
    )
    assert diff["after_header"] == f"{sources}/mesos.list"
    key_task = by_task["Download the Mesos repository signing key"]
    assert key_task["event"] == "host_changed"
    assert key_task["raw"]["event_data"]["res"]["invocation"]["module_args"]["dest"] == (
        f"{keyrings}/mesos.asc"
    )
    assert result.stats["testhost"].failures == 0
    assert list(keyrings.iterdir()) == [] and list(sources.iterdir()) == []  # check mode
