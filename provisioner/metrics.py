"""The few figures an operator checks first (`dcos-provision metrics`): the leader and its
uptime, agents active/expected, tasks running, offers outstanding, ZooKeeper latency.

From Prometheus on a master when it answers (the monitoring role's series), else straight from
the endpoints (the masters' `/metrics/snapshot`, ZooKeeper's `mntr`), so the command also
works with `monitoring.enabled: false`. Library code: returns values, never prints.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import asdict, dataclass
from typing import Any

from .domain import Machine, Role, with_role
from .ports import MESOS_MASTER_PORT, PROMETHEUS_PORT
from .remote.probes import METRICS_PATH, ProbeError, Probes, get_json
from .spec import ClusterSpec

#: Figure -> PromQL over the monitoring role's series (the leader: master/elected == 1).
_LEADER = "(dcos_mesos_master_elected == 1)"
QUERIES = {
    "leader_uptime_s": f"dcos_mesos_master_uptime_secs and on(instance) {_LEADER}",
    "agents_active": f"dcos_mesos_master_slaves_active and on(instance) {_LEADER}",
    "tasks_running": f"dcos_mesos_master_tasks_running and on(instance) {_LEADER}",
    "offers_outstanding": f"dcos_mesos_master_outstanding_offers and on(instance) {_LEADER}",
    "zookeeper_latency_ms": "max(dcos_zk_avg_latency)",
}
#: The same figures in the leader's /metrics/snapshot.
SNAPSHOT_KEYS = {
    "leader_uptime_s": "master/uptime_secs",
    "agents_active": "master/slaves_active",
    "tasks_running": "master/tasks_running",
    "offers_outstanding": "master/outstanding_offers",
}


@dataclass
class Figures:
    """What `metrics` shows; None where the figure is unknown."""

    source: str
    leader: str | None = None
    leader_uptime_s: float | None = None
    agents_active: float | None = None
    agents_expected: int = 0
    tasks_running: float | None = None
    offers_outstanding: float | None = None
    zookeeper_latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cluster_figures(spec: ClusterSpec, machines: list[Machine], probes: Probes) -> Figures:
    """Prometheus' view when one of the masters serves it, else the endpoints'."""
    masters = with_role(sorted(machines, key=lambda m: m.name), Role.MASTER)
    if spec.monitoring.enabled:
        for master in masters:
            figures = from_prometheus(probes, master)
            if figures is not None:
                figures.agents_expected = spec.agents.count
                return figures
    figures = from_endpoints(probes, masters, with_role(machines, Role.ZOOKEEPER))
    figures.agents_expected = spec.agents.count
    return figures


def _query(probes: Probes, master: Machine, promql: str) -> list[dict[str, Any]] | None:
    path = "/api/v1/query?query=" + urllib.parse.quote(promql, safe="")
    try:
        status, _headers, body = probes.http_get(master.address, PROMETHEUS_PORT, path)
        answer = json.loads(body.decode("utf-8")) if status == 200 else None
    except (ProbeError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        return None
    result = answer.get("data", {}).get("result")
    return result if isinstance(result, list) else None


def from_prometheus(probes: Probes, master: Machine) -> Figures | None:
    """The figures from Prometheus on `master`; None when it does not answer."""
    leader = _query(probes, master, _LEADER)
    if leader is None:
        return None
    figures = Figures(source=f"prometheus on {master.name}")
    if leader:
        figures.leader = str(leader[0].get("metric", {}).get("host") or "") or None
    for name, promql in QUERIES.items():
        result = _query(probes, master, promql) or []
        if result:
            setattr(figures, name, _number(result[0].get("value", [None, None])[1]))
    return figures


def from_endpoints(probes: Probes, masters: list[Machine], members: list[Machine]) -> Figures:
    """The figures from the elected master's /metrics/snapshot and the members' `mntr`."""
    figures = Figures(source="endpoints")
    for master in masters:
        try:
            status, data = get_json(probes, master.address, MESOS_MASTER_PORT, METRICS_PATH)
        except ProbeError:
            continue
        if status == 200 and isinstance(data, dict) and _number(data.get("master/elected")) == 1:
            figures.leader = master.name
            for name, key in SNAPSHOT_KEYS.items():
                setattr(figures, name, _number(data.get(key)))
            break
    latencies = []
    for member in members:
        try:
            answer = probes.four_letter(member.address, "mntr")
        except ProbeError:
            continue
        for line in answer.splitlines():
            key, _, value = line.partition("\t")
            if key == "zk_avg_latency" and (number := _number(value)) is not None:
                latencies.append(number)
    figures.zookeeper_latency_ms = max(latencies) if latencies else None
    return figures


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
