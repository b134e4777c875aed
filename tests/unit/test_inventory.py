"""Inventory generation is a pure function: snapshot tests for the shapes that matter.

Update the snapshots after an intended change with `UPDATE_SNAPSHOTS=1 pytest tests/unit`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from provisioner.domain import Machine
from provisioner.inventory import build_inventory, render_inventory, zk_url
from provisioner.spec.file import parse_spec
from provisioner.topology import plan_machines

SNAPSHOTS = Path(__file__).parent / "snapshots"

SPECS = {
    "vagrant-3m-2a": (
        "name: demo\nprovider: {kind: vagrant}\nmasters: {count: 3}\n"
        "agents: {count: 2, resources: {cpus: 2, mem: 2048, disk: 10240}, attributes: {rack: r1}}\n"
        "mesos:\n  install: {method: tarball, url: 'https://example.test/mesos.tar.gz',"
        " runtime_packages: [python3-kazoo]}\n"
        "  agent_flags: {launcher: posix, isolation: 'posix/cpu,posix/mem',"
        " systemd_enable_support: false}\n"
        "  master_flags: {registry_fetch_timeout: 2mins}\n"
    ),
    "vagrant-1m-1a": "name: one\nprovider: {kind: vagrant}\n",
    "static-dedicated-roles": (
        "name: rack\nssh: {user: ops}\nprovider:\n  kind: static\n  hosts:\n"
        "    - {name: m1, address: 192.168.1.11, roles: [master, zookeeper]}\n"
        "    - {name: z2, address: 192.168.1.12, roles: [zookeeper]}\n"
        "    - {name: z3, address: 192.168.1.13, roles: [zookeeper, agent], ssh_port: 2200,"
        " ssh_private_key: /keys/z3}\n"
    ),
}


def machines_for(spec) -> list[Machine]:
    machines = []
    for index, planned in enumerate(plan_machines(spec)):
        machines.append(
            Machine(
                name=planned.name,
                roles=planned.roles,
                address=planned.address or f"10.0.3.{index + 10}",
                ssh_user=planned.ssh_user or "vagrant",
                ssh_port=planned.ssh_port,
                ssh_private_key=planned.ssh_private_key
                or (None if planned.address else f"/state/{planned.name}/key"),
                strict_host_keys=planned.address is not None,
                zookeeper_id=planned.zookeeper_id,
            )
        )
    return machines


@pytest.mark.parametrize("name", sorted(SPECS))
def test_inventory_snapshot(name):
    spec = parse_spec(SPECS[name])
    text = render_inventory(spec, machines_for(spec))
    snapshot = SNAPSHOTS / f"inventory-{name}.yml"
    if os.environ.get("UPDATE_SNAPSHOTS") or not snapshot.exists():
        if os.environ.get("CI") and not snapshot.exists():
            pytest.fail(f"missing snapshot {snapshot}")
        snapshot.write_text(text)
    assert text == snapshot.read_text()


def test_inventory_is_pure_and_order_independent():
    spec = parse_spec(SPECS["vagrant-3m-2a"])
    machines = machines_for(spec)
    assert build_inventory(spec, machines) == build_inventory(spec, list(reversed(machines)))


def test_quorum_groups_and_zk_url_follow_the_spec():
    spec = parse_spec(SPECS["vagrant-3m-2a"])
    inventory = yaml.safe_load(render_inventory(spec, machines_for(spec)))["all"]
    mesos = inventory["children"]["mesos"]
    masters = mesos["children"]["mesos_masters"]
    agents = mesos["children"]["mesos_agents"]
    assert masters["vars"]["mesos_master_quorum"] == 2
    assert sorted(masters["hosts"]) == ["demo-master-1", "demo-master-2", "demo-master-3"]
    assert sorted(agents["hosts"]) == ["demo-agent-1", "demo-agent-2"]
    assert (
        mesos["vars"]["mesos_zk_url"] == "zk://10.0.3.10:2181,10.0.3.11:2181,10.0.3.12:2181/mesos"
    )
    assert (
        agents["vars"]["mesos_agent_resources"] == "cpus:2;mem:2048;disk:10240;ports:[31000-32000]"
    )
    assert agents["vars"]["mesos_agent_extra_flags"]["systemd_enable_support"] == "false"
    assert [s["id"] for s in inventory["children"]["zookeeper"]["vars"]["zookeeper_servers"]] == [
        1,
        2,
        3,
    ]


def test_zk_url_orders_by_myid_not_by_name():
    spec = parse_spec(SPECS["static-dedicated-roles"])
    machines = list(reversed(machines_for(spec)))
    assert zk_url(machines) == "zk://192.168.1.11:2181,192.168.1.12:2181,192.168.1.13:2181/mesos"
    one = parse_spec(SPECS["vagrant-1m-1a"])
    inventory = build_inventory(one, machines_for(one))["all"]
    assert (
        inventory["children"]["mesos"]["children"]["mesos_masters"]["vars"]["mesos_master_quorum"]
        == 1
    )


def test_cloud_machines_bind_to_their_private_address():
    spec = parse_spec(SPECS["vagrant-1m-1a"])
    machines = [
        Machine(
            name=m.name,
            roles=m.roles,
            address=f"203.0.113.{i}",
            ssh_user="admin",
            zookeeper_id=m.zookeeper_id,
            extra={"private_ip": f"10.20.0.{i}"},
        )
        for i, m in enumerate(plan_machines(spec), start=5)
    ]
    inventory = build_inventory(spec, machines)["all"]
    host = inventory["hosts"]["one-master-1"]
    assert host["ansible_host"] == "203.0.113.5"
    assert host["dcos_node_address"] == "10.20.0.5"
    assert zk_url(machines) == "zk://10.20.0.5:2181/mesos"
    assert inventory["vars"]["common_cluster_hosts"][0]["address"] == "10.20.0.6"
