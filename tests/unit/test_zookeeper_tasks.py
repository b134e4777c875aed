"""The zookeeper role's rolling-change tasks, run for real by ansible-playbook on local hosts
against fake members on loopback addresses: `tasks_from: order` (the queue of a resize step)
and `tasks_from: gate` (a leader with every other member synced), both through the role's
one four-letter-word probe (tasks/ask.yml)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.ansible import control_path_dir, run_playbook
from provisioner.errors import AnsibleError

from .health_fakes import FourLetterServer

ORDER = """
- name: Order the ZooKeeper members, leader last
  hosts: staying
  gather_facts: false
  tasks:
    - name: Queue the new members, then the followers, then the leader
      ansible.builtin.include_role:
        name: zookeeper
        tasks_from: order
      vars:
        zookeeper_order_candidates: "{{ groups['staying'] }}"
        zookeeper_order_joining: "{{ groups['joining'] | default([]) }}"
        zookeeper_order_group: in_order
        zookeeper_order_together_group: together

- name: Report the queues
  hosts: all
  gather_facts: false
  tasks:
    - name: Write the queues
      ansible.builtin.copy:
        content: >-
          {{ {'together': groups['together'] | default([]),
              'in_order': groups['in_order'] | default([])} | to_json }}
        dest: "{{ report }}"
        mode: "0644"
      run_once: true
"""

GATE = """
- name: Gate
  hosts: all
  gather_facts: false
  tasks:
    - name: Wait until the members lead and follow in sync
      ansible.builtin.include_role:
        name: zookeeper
        tasks_from: gate
      vars:
        zookeeper_gate_members: "{{ groups['all'] }}"
        zookeeper_wait_retries: 1
        zookeeper_wait_delay: 0
      run_once: true
"""


def srvr(mode: str) -> str:
    return f"Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: {mode}\nNode count: 5\n"


def mntr(state: str, synced: int | None = None) -> str:
    lines = ["zk_version\t3.8.0", f"zk_server_state\t{state}", "zk_znode_count\t5"]
    if synced is not None:
        lines += ["zk_learners\t2", f"zk_synced_followers\t{synced}", "zk_pending_syncs\t0"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def members() -> Iterator[Any]:
    """start(modes, synced) -> ({host: address}, port): fake members z1, z2, ... on 127.0.0.2,
    .3, ... sharing one port (the role's zookeeper_client_port), each answering srvr and mntr
    in its mode (a leader's mntr counts `synced` synced followers)."""
    started: list[FourLetterServer] = []

    def start(modes: list[str], synced: int = 0) -> tuple[dict[str, str], int]:
        port = 0
        hosts = {}
        for index, mode in enumerate(modes):
            address = f"127.0.0.{index + 2}"
            answers = {"srvr": srvr(mode), "mntr": mntr(mode, synced if mode == "leader" else None)}
            member = FourLetterServer(answers, address, port)
            port = member.port
            started.append(member)
            hosts[f"z{index + 1}"] = address
        return hosts, port

    yield start
    for member in started:
        member.stop()


def run(tmp_path: Path, playbook: str, hosts: dict[str, dict[str, Any]], groups: dict) -> Any:
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    children = {name: {"hosts": {host: {} for host in names}} for name, names in groups.items()}
    inventory = {
        "all": {
            "hosts": {name: {**local, **host_vars} for name, host_vars in hosts.items()},
            "children": children,
        }
    }
    (tmp_path / "inv.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(playbook)
    state = tmp_path / "state"
    try:
        return run_playbook(
            str(tmp_path / "play.yml"),
            inventory=tmp_path / "inv.yml",
            state_dir=state,
            extravars={"report": str(tmp_path / "report.json")},
        )
    finally:
        shutil.rmtree(control_path_dir(state), ignore_errors=True)


def order(tmp_path: Path, members: Any, staying: list[str], joining: int) -> dict[str, list]:
    """Queues for `staying` members in these modes and `joining` new (not running) members."""
    addresses, port = members(staying)
    hosts = {name: {"dcos_node_address": address} for name, address in addresses.items()}
    new = [f"z{len(staying) + i + 1}" for i in range(joining)]
    hosts |= {name: {"dcos_node_address": "127.0.0.1"} for name in new}
    for host in hosts.values():
        host["zookeeper_client_port"] = port
    run(tmp_path, ORDER, hosts, {"staying": list(addresses), "joining": new})
    return json.loads((tmp_path / "report.json").read_text())


@pytest.mark.timeout(120)
def test_order_one_to_three_starts_the_lone_member_with_the_first_new_one(
    tmp_path: Path, members: Any
) -> None:
    queues = order(tmp_path, members, ["standalone"], joining=2)
    assert queues == {"together": ["z1", "z2"], "in_order": ["z3"]}


@pytest.mark.timeout(120)
def test_order_three_to_five_queues_the_new_members_then_the_followers_then_the_leader(
    tmp_path: Path, members: Any
) -> None:
    queues = order(tmp_path, members, ["follower", "leader", "follower"], joining=2)
    assert queues == {"together": [], "in_order": ["z4", "z5", "z1", "z3", "z2"]}


@pytest.mark.timeout(120)
def test_order_of_a_shrink_restarts_the_followers_then_the_leader(
    tmp_path: Path, members: Any
) -> None:
    queues = order(tmp_path, members, ["leader", "follower", "follower"], joining=0)
    assert queues == {"together": [], "in_order": ["z2", "z3", "z1"]}


def gate(tmp_path: Path, members: Any, modes: list[str], synced: int) -> Any:
    addresses, port = members(modes, synced)
    hosts = {
        name: {"dcos_node_address": address, "zookeeper_client_port": port}
        for name, address in addresses.items()
    }
    return run(tmp_path, GATE, hosts, {})


@pytest.mark.timeout(120)
def test_gate_passes_when_the_leader_counts_every_other_member_synced(
    tmp_path: Path, members: Any
) -> None:
    assert gate(tmp_path, members, ["follower", "follower", "leader"], synced=2).ok


@pytest.mark.timeout(120)
def test_gate_fails_while_a_member_is_not_synced(tmp_path: Path, members: Any) -> None:
    with pytest.raises(AnsibleError) as caught:
        gate(tmp_path, members, ["follower", "leader", "follower"], synced=1)
    assert "Ask ZooKeeper mntr" in str(caught.value)


@pytest.mark.timeout(120)
def test_gate_fails_without_a_leader(tmp_path: Path, members: Any) -> None:
    with pytest.raises(AnsibleError):
        gate(tmp_path, members, ["follower", "follower", "follower"], synced=2)
