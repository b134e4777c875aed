"""wait_healthy: polling, per-layer budgets and the timeout message (fake clock and sleep)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from provisioner.errors import HealthTimeoutError, UsageError
from provisioner.health import HealthReport, wait_healthy

from .health_fakes import FakeCluster


class FakeTime:
    """A clock that only moves when the code under test sleeps; `at` runs scenario steps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.start = self.now
        self.sleeps: list[float] = []
        self.steps: list[tuple[float, Callable[[], None]]] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        for when, step in list(self.steps):
            if self.now - self.start >= when:
                step()
                self.steps.remove((when, step))

    def at(self, elapsed: float, step: Callable[[], None]) -> None:
        self.steps.append((elapsed, step))

    @property
    def elapsed(self) -> float:
        return self.now - self.start


@pytest.fixture
def cluster():
    fake = FakeCluster(masters=3, agents=2)
    yield fake
    fake.close()


def wait(cluster: FakeCluster, fake_time: FakeTime, **kwargs) -> HealthReport:
    return wait_healthy(
        cluster.spec,
        cluster.machines,
        probes=cluster.probes,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **kwargs,
    )


def test_returns_the_first_healthy_report(cluster):
    fake_time = FakeTime()
    agent = cluster.mesos.agents["demo-agent-2"]
    agent.listed = False
    fake_time.at(4.0, lambda: setattr(agent, "listed", True))
    seen: list[bool] = []

    report = wait(cluster, fake_time, on_progress=lambda r: seen.append(r.healthy))

    assert report.healthy
    assert seen == [False, False, True]
    assert fake_time.sleeps == [2.0, 2.0]


def test_timeout_names_layer_host_and_last_observation(cluster):
    cluster.set_zk("demo-master-2", "standalone")
    cluster.set_zk("demo-master-1", "leader", synced=1)
    fake_time = FakeTime()

    with pytest.raises(HealthTimeoutError) as caught:
        wait(cluster, fake_time, interval_s=10)

    message = str(caught.value)
    assert message.startswith(
        "zookeeper: demo-master-2 (10.0.3.12) mode=standalone, expected follower "
        "(cluster demo not healthy after 120s, zookeeper budget 120s; 2 more failing check(s))"
    )
    assert fake_time.elapsed == 120  # the zookeeper budget, not the 300 s total
    assert caught.value.layer == "zookeeper"
    assert caught.value.report.healthy is False
    assert caught.value.report.layer_ok("reachability")
    assert "4lw.commands.whitelist" in caught.value.hint


def test_layer_budget_starts_when_the_layer_below_passed(cluster):
    cluster.unreachable("demo-agent-1")
    endpoints = cluster.probes.endpoints
    ssh = endpoints[("10.0.3.11", 22)]
    fake_time = FakeTime()
    fake_time.at(50.0, lambda: endpoints.__setitem__(("10.0.3.21", 22), ssh))
    cluster.mesos.agents["demo-agent-1"].resources["cpus"] = 1.0

    with pytest.raises(HealthTimeoutError) as caught:
        wait(cluster, fake_time, interval_s=10, layer_timeouts={"mesos_agents": 30})

    assert fake_time.elapsed == 80  # masters first passed at 50 s, then 30 s for agents
    assert str(caught.value).startswith(
        "mesos_agents: demo-agent-1 (10.0.3.21) cpus=1, expected 2 "
        "(cluster demo not healthy after 80s, mesos_agents budget 30s)"
    )


def test_total_timeout_caps_the_layer_budgets(cluster):
    cluster.mesos.elect(None)
    fake_time = FakeTime()

    with pytest.raises(HealthTimeoutError) as caught:
        wait(cluster, fake_time, timeout_s=25, interval_s=10)

    assert fake_time.elapsed == 25
    assert fake_time.sleeps == [10, 10, 5]
    assert str(caught.value).startswith(
        "mesos_masters: no master reports master/elected=1 (no leader elected) "
        "(cluster demo not healthy after 25s, total budget 25s;"
    )


def test_unreachable_layer_times_out_on_its_own_budget(cluster):
    cluster.unreachable("demo-master-3")
    fake_time = FakeTime()

    with pytest.raises(HealthTimeoutError) as caught:
        wait(cluster, fake_time, interval_s=20, layer_timeouts={"reachability": 60})

    assert fake_time.elapsed == 60
    assert str(caught.value).startswith(
        "reachability: demo-master-3 (10.0.3.13) 10.0.3.13:22 connection refused"
    )


def test_polls_no_faster_than_the_metrics_rate_limit(cluster):
    cluster.mesos.elect(None)
    fake_time = FakeTime()

    with pytest.raises(HealthTimeoutError):
        wait(cluster, fake_time, timeout_s=1.5, interval_s=0.01)

    assert fake_time.sleeps == [0.5, 0.5, 0.5]


def test_unknown_layer_budget_is_a_usage_error(cluster):
    with pytest.raises(UsageError, match="unknown health layer"):
        wait(cluster, FakeTime(), layer_timeouts={"zk": 10})
