"""`metrics`: the first figures from Prometheus when a master serves it, else the endpoints."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from provisioner.metrics import cluster_figures
from provisioner.remote.probes import ProbeError

from .health_fakes import FakeCluster, FakeProbes


class PrometheusProbes(FakeProbes):
    """FakeProbes plus Prometheus' query API on port 9090 of the masters in `serving`."""

    def __init__(self, base: FakeProbes, serving: set[str], series: dict[str, Any]):
        super().__init__(base.mesos, base.endpoints)
        self.serving, self.series, self.queries = serving, series, []

    def http_get(self, address: str, port: int, path: str) -> tuple[int, dict[str, str], bytes]:
        if port != 9090:
            return super().http_get(address, port, path)
        if address not in self.serving:
            raise ProbeError("connection refused")
        query = urllib.parse.unquote(path.split("query=", 1)[1])
        self.queries.append(query)
        result = self.series.get(query, [])
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        return 200, {}, json.dumps(body).encode()


@pytest.fixture
def cluster():
    fake = FakeCluster(masters=3, agents=2)
    yield fake
    fake.close()


def test_without_prometheus_the_figures_come_from_the_endpoints(cluster):
    cluster.mesos.elect("demo-master-2")
    figures = cluster_figures(cluster.spec, cluster.machines, cluster.probes)
    assert figures.source == "endpoints"
    assert figures.leader == "demo-master-2"
    assert figures.agents_active == 2 and figures.agents_expected == 2
    assert figures.leader_uptime_s == 42.1
    assert figures.tasks_running == 0
    assert figures.zookeeper_latency_ms is not None


def test_prometheus_on_a_master_is_asked_first(cluster):
    def sample(value: str, host: str = "demo-master-1") -> list[dict[str, Any]]:
        return [{"metric": {"host": host}, "value": [1.0, value]}]

    series = {
        "(dcos_mesos_master_elected == 1)": sample("1", "demo-master-3"),
        "dcos_mesos_master_slaves_active and on(instance) (dcos_mesos_master_elected == 1)": (
            sample("1")
        ),
        "dcos_mesos_master_uptime_secs and on(instance) (dcos_mesos_master_elected == 1)": (
            sample("600.5")
        ),
        "max(dcos_zk_avg_latency)": sample("7"),
    }
    # The first master's Prometheus is down: the next one answers.
    serving = {cluster.machine("demo-master-2").address}
    probes = PrometheusProbes(cluster.probes, serving, series)
    figures = cluster_figures(cluster.spec, cluster.machines, probes)
    assert figures.source == "prometheus on demo-master-2"
    assert figures.leader == "demo-master-3"
    assert figures.agents_active == 1 and figures.agents_expected == 2
    assert figures.leader_uptime_s == 600.5
    assert figures.zookeeper_latency_ms == 7
    assert figures.offers_outstanding is None  # no series: unknown, not 0


def test_monitoring_off_never_asks_prometheus(cluster):
    spec = cluster.spec.model_copy(
        update={"monitoring": cluster.spec.monitoring.model_copy(update={"enabled": False})}
    )
    addresses = {m.address for m in cluster.machines}
    probes = PrometheusProbes(cluster.probes, addresses, {})
    figures = cluster_figures(spec, cluster.machines, probes)
    assert figures.source == "endpoints" and probes.queries == []
    assert figures.leader == "demo-master-1"
