"""Every layer asks the cluster's nodes at once, and reports them in the nodes' order.

The probes below answer only when all of a group ask together (a barrier): asked one after
another, the first of them waits in vain and the barrier breaks (BrokenBarrierError, a crashed
layer), so each test fails when its probes are sequential.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from provisioner.domain import Layer, Machine
from provisioner.health.checks import run_checks
from provisioner.health.parallel import each

from .health_fakes import FakeCluster, FakeProbes

BARRIER_TIMEOUT_S = 10


class TogetherProbes(FakeProbes):
    """FakeProbes whose probes named in `groups` ("http <path>" or "4lw <command>") wait for
    the others of their group: {name: parties}."""

    def __init__(self, cluster: FakeCluster, groups: dict[str, int]) -> None:
        super().__init__(cluster.mesos, cluster.probes.endpoints)
        self.barriers = {
            name: threading.Barrier(parties, timeout=BARRIER_TIMEOUT_S)
            for name, parties in groups.items()
        }

    def _meet(self, name: str) -> None:
        barrier = self.barriers.get(name)
        if barrier is not None:
            barrier.wait()

    def http_get(self, address: str, port: int, path: str) -> tuple[int, dict[str, str], bytes]:
        self._meet(f"http {path}")
        return super().http_get(address, port, path)

    def four_letter(self, address: str, command: str) -> str:
        self._meet(f"4lw {command}")
        return super().four_letter(address, command)

    def zk_children(self, hosts: list[str], path: str) -> dict[str, bytes]:
        self._meet("zk_children")
        return super().zk_children(hosts, path)


@pytest.fixture
def cluster():
    fake = FakeCluster(masters=3, agents=3)
    yield fake
    fake.close()


def _healthy(cluster: FakeCluster, probes: FakeProbes) -> None:
    report = run_checks(cluster.spec, cluster.machines, probes)
    assert report.healthy, report.failures()


def test_zookeeper_members_are_asked_at_once(cluster: FakeCluster) -> None:
    _healthy(cluster, TogetherProbes(cluster, {"4lw ruok": 3, "4lw srvr": 3}))


def test_masters_and_the_znodes_are_asked_at_once(cluster: FakeCluster) -> None:
    groups = {
        "http /master/health": 4,  # the three masters and the /mesos znodes
        "http /master/flags": 3,  # the running masters' metrics, version and flags
        "http /master/redirect": 4,  # the three masters and the leader's state
    }
    probes = TogetherProbes(cluster, groups)
    probes.barriers["zk_children"] = probes.barriers["http /master/health"]
    probes.barriers["http /master/state"] = probes.barriers["http /master/redirect"]
    _healthy(cluster, probes)


def test_agents_are_asked_at_once(cluster: FakeCluster) -> None:
    _healthy(cluster, TogetherProbes(cluster, {"http /slave(1)/state": 3}))


def test_checks_keep_the_nodes_order_however_the_answers_come(cluster: FakeCluster) -> None:
    """The first master and the first agent answer last: the report still lists them first."""

    class SlowFirst(FakeProbes):
        def http_get(self, address: str, port: int, path: str) -> Any:
            if address in ("10.0.3.11", "10.0.3.21"):
                time.sleep(0.02)
            return super().http_get(address, port, path)

    report = run_checks(
        cluster.spec, cluster.machines, SlowFirst(cluster.mesos, cluster.probes.endpoints)
    )
    assert report.healthy, report.failures()
    masters = [(c.name, c.host) for c in report.layer_checks(Layer.MESOS_MASTERS)]
    assert masters[:12] == [
        ("health", "demo-master-1"),
        ("health", "demo-master-2"),
        ("health", "demo-master-3"),
        *[
            (name, f"demo-master-{i}")
            for i in (1, 2, 3)
            for name in ("metrics", "version", "quorum_flag")
        ],
    ]
    assert [c.host for c in report.layer_checks(Layer.MESOS_MASTERS) if c.name == "redirect"] == [
        "demo-master-1",
        "demo-master-2",
        "demo-master-3",
    ]
    agents = [(c.name, c.host) for c in report.layer_checks(Layer.MESOS_AGENTS)][1:]
    assert agents == [
        (name, f"demo-agent-{i}")
        for i in (1, 2, 3)
        for name in ("registered", "state", "slave_registered", "version", "resources")
    ]


class _Firewalls:
    """Reads a loaded firewall; the read of `waits_for` meets the given barrier first."""

    def __init__(self, waits_for: str, barrier: threading.Barrier) -> None:
        self.waits_for, self.barrier = waits_for, barrier
        self.read: list[str] = []
        self.slow = False

    def run(
        self, machine: Machine, command: str, stdin: str = "", timeout_s: float = 60.0
    ) -> tuple[int, str, str]:
        if machine.name == self.waits_for:
            self.barrier.wait()
            if self.slow:
                time.sleep(0.1)
        self.read.append(machine.name)
        return (
            0,
            "table inet dcos_provision {\n\ttcp dport { 2181, 2888, 3888, 5050, 5051 } drop\n}",
            "",
        )


def test_firewalls_are_read_while_the_layers_before_security_run(cluster: FakeCluster) -> None:
    """The SSH reads (the slowest probes) start with the first layer: the read of
    demo-master-1 meets that master's /master/health in the masters layer."""
    barrier = threading.Barrier(2, timeout=BARRIER_TIMEOUT_S)

    class Probes(FakeProbes):
        def http_get(self, address: str, port: int, path: str) -> Any:
            if (address, path) == ("10.0.3.11", "/master/health"):
                barrier.wait()
            return super().http_get(address, port, path)

        def zk_acls(self, hosts: list[str], path: str) -> list[tuple[str, str, int]]:
            return [("world", "anyone", 1)]

    hosts = _Firewalls("demo-master-1", barrier)
    probes = Probes(cluster.mesos, cluster.probes.endpoints)
    report = run_checks(cluster.spec, cluster.machines, probes, security=True, hosts=hosts)
    assert report.layer_ok(Layer.MESOS_MASTERS), report.failures()
    assert sorted(hosts.read) == sorted(m.name for m in cluster.machines)
    firewall = [c for c in report.layer_checks(Layer.SECURITY) if c.name == "firewall"]
    assert [c.host for c in firewall] == [m.name for m in cluster.machines]
    assert all(c.ok for c in firewall)


def test_a_skipped_security_layer_waits_for_its_reads_and_reports_none(
    cluster: FakeCluster,
) -> None:
    cluster.unreachable("demo-agent-2")
    hosts = _Firewalls("demo-agent-1", threading.Barrier(1))
    hosts.slow = True
    report = run_checks(cluster.spec, cluster.machines, cluster.probes, security=True, hosts=hosts)
    assert sorted(hosts.read) == sorted(m.name for m in cluster.machines)  # none still running
    assert [c.detail for c in report.layer_checks(Layer.SECURITY)] == [
        "skipped: reachability failed"
    ]


def test_each_keeps_the_order_and_raises_the_first_error_in_that_order() -> None:
    barrier = threading.Barrier(4, timeout=BARRIER_TIMEOUT_S)

    def probe(item: int) -> int:
        barrier.wait()  # all four at once
        return item * 10

    assert each([3, 1, 2, 0], probe) == [30, 10, 20, 0]
    assert each([], probe) == []

    second_failed = threading.Event()

    def failing(item: int) -> int:
        if item == 1:  # fails after item 2 did
            second_failed.wait(BARRIER_TIMEOUT_S)
            raise ValueError("bad 1")
        if item == 2:
            second_failed.set()
            raise ValueError("bad 2")
        return item

    with pytest.raises(ValueError, match="bad 1"):
        each(range(4), failing)
