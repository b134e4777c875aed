"""Pure topology rules: machine names, roles, ZooKeeper ids and quorum sizes."""

from __future__ import annotations

import pytest

from provisioner.spec.file import parse_spec
from provisioner.topology import majority, mesos_quorum, plan_machines


@pytest.mark.parametrize(("masters", "quorum"), [(1, 1), (3, 2), (5, 3), (7, 4)])
def test_quorum_is_a_strict_majority(masters, quorum):
    assert mesos_quorum(masters) == quorum


def test_quorum_needs_a_master():
    with pytest.raises(ValueError, match="at least one master"):
        mesos_quorum(0)


@pytest.mark.parametrize(("size", "tolerated"), [(1, 0), (3, 1), (5, 2), (7, 3)])
def test_a_majority_survives_the_failures_an_odd_ensemble_tolerates(size, tolerated):
    assert size - majority(size) == tolerated


def test_zookeeper_on_masters_gets_ids_from_the_master_index():
    spec = parse_spec(
        "name: demo\nprovider: {kind: vagrant}\nmasters: {count: 3}\n"
        "agents: {count: 2, cpus: 2, memory_mb: 2048}\n"
    )
    machines = plan_machines(spec)
    assert [(m.name, m.roles, m.zookeeper_id) for m in machines] == [
        ("demo-master-1", ("master", "zookeeper"), 1),
        ("demo-master-2", ("master", "zookeeper"), 2),
        ("demo-master-3", ("master", "zookeeper"), 3),
        ("demo-agent-1", ("agent",), None),
        ("demo-agent-2", ("agent",), None),
    ]
    assert machines[3].cpus == 2 and machines[3].memory_mb == 2048


def test_dedicated_zookeeper_machines():
    spec = parse_spec(
        "name: d\nprovider: {kind: vagrant}\nmasters: {count: 1}\n"
        "agents: {count: 0}\nzookeeper: {placement: dedicated, count: 3}\n"
    )
    machines = plan_machines(spec)
    assert [(m.name, m.roles, m.zookeeper_id) for m in machines] == [
        ("d-master-1", ("master",), None),
        ("d-zk-1", ("zookeeper",), 1),
        ("d-zk-2", ("zookeeper",), 2),
        ("d-zk-3", ("zookeeper",), 3),
    ]


def test_growing_agents_keeps_existing_names_and_ids():
    small = plan_machines(parse_spec("name: g\nprovider: {kind: vagrant}\nagents: {count: 1}\n"))
    big = plan_machines(parse_spec("name: g\nprovider: {kind: vagrant}\nagents: {count: 3}\n"))
    assert [m.name for m in big][: len(small)] == [m.name for m in small]
    assert big[0].zookeeper_id == small[0].zookeeper_id == 1


def test_static_ids_explicit_first_then_fill_gaps():
    spec = parse_spec(
        "name: s\nssh: {user: ops, private_key: keys/id}\nprovider:\n  kind: static\n  hosts:\n"
        "    - {name: a, address: 10.0.0.1, roles: [zookeeper, master], zookeeper_id: 2}\n"
        "    - {name: b, address: 10.0.0.2, roles: [master, zookeeper]}\n"
        "    - {name: c, address: 10.0.0.3, roles: [master, zookeeper], ssh_user: root}\n"
        "    - {name: d, address: 10.0.0.4, roles: [agent], ssh_port: 2222}\n"
    )
    machines = plan_machines(spec)
    assert [(m.name, m.roles, m.zookeeper_id) for m in machines] == [
        ("a", ("master", "zookeeper"), 2),
        ("b", ("master", "zookeeper"), 1),
        ("c", ("master", "zookeeper"), 3),
        ("d", ("agent",), None),
    ]
    assert machines[0].ssh_user == "ops" and machines[2].ssh_user == "root"
    assert machines[3].ssh_port == 2222 and machines[3].address == "10.0.0.4"
    assert machines[0].ssh_private_key.endswith("keys/id")
