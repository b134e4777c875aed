"""Poll the checks until the cluster is healthy, with a budget per layer and in total.

A layer's budget starts when the layer below it first passed, so a stuck ZooKeeper ends the
wait after the ZooKeeper budget instead of the whole timeout, and the error names the layer,
the host and what was last seen there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from itertools import pairwise

from ..domain import Layer, Machine
from ..errors import HealthTimeoutError, UsageError
from ..remote.probes import Probes
from ..security import Credential
from ..spec import ClusterSpec
from .checks import make_probes, run_checks
from .report import LAYERS, HealthReport
from .view import ClusterView

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_LAYER_TIMEOUTS: dict[Layer, float] = {
    Layer.REACHABILITY: 120.0,
    Layer.ZOOKEEPER: 120.0,
    Layer.MESOS_MASTERS: 180.0,
    Layer.MESOS_AGENTS: 180.0,
}
#: Mesos rate-limits /metrics/snapshot to 2 requests/s per node; never poll faster.
MIN_INTERVAL_S = 0.5

HINTS: dict[Layer, str] = {
    Layer.REACHABILITY: "check that the machine runs and its SSH port is reachable from here "
    "(or use --via-ssh when only SSH is)",
    Layer.ZOOKEEPER: "see /var/log/zookeeper on that host; every member needs the same server.N "
    "list and 4lw.commands.whitelist with ruok, srvr and mntr",
    Layer.MESOS_MASTERS: "see the mesos-master log on that host; masters need the same --zk and "
    "--quorum, and a quorum of them running",
    Layer.MESOS_AGENTS: "see the mesos-agent log on that host; it needs --master=zk://... and the "
    "leader's address must be reachable from it",
}


class HealthWaitTimeout(HealthTimeoutError):
    """HealthTimeoutError carrying the last report and the layer that ran out of time."""

    def __init__(
        self, message: str, hint: str | None, *, report: HealthReport, layer: Layer
    ) -> None:
        super().__init__(message, hint)
        self.report = report
        self.layer = layer


def wait_healthy(
    spec: ClusterSpec,
    machines: list[Machine],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    layer_timeouts: dict[Layer, float] | None = None,
    interval_s: float = 2.0,
    via_ssh: bool = False,
    probes: Probes | None = None,
    on_progress: Callable[[HealthReport], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    credential: Credential | None = None,
    known_hosts_file: str | None = None,
    view: ClusterView | None = None,
) -> HealthReport:
    """Return the first healthy report; raise HealthTimeoutError naming what is still wrong.
    `credential` authenticates the HTTP requests (Mesos authentication on). The spec is
    matched to the machines once (`view`, or built here), not on every poll."""
    unknown = sorted(set(layer_timeouts or {}) - set(LAYERS))
    if unknown:
        raise UsageError(
            f"unknown health layer(s) {', '.join(unknown)}: expected some of {', '.join(LAYERS)}"
        )
    budgets = {**DEFAULT_LAYER_TIMEOUTS, **(layer_timeouts or {})}
    own_probes = probes is None
    active = (
        probes
        if probes is not None
        else make_probes(machines, via_ssh, credential, known_hosts_file)
    )
    if view is None:
        view = ClusterView(spec, list(machines))
    start = clock()
    budget_start: dict[str, float] = {LAYERS[0]: start}
    try:
        while True:
            report = run_checks(spec, machines, active, view=view)
            if on_progress is not None:
                on_progress(report)
            if report.healthy:
                return report
            now = clock()
            for below, above in pairwise(LAYERS):
                if report.layer_ok(below):
                    budget_start.setdefault(above, now)
            layer = report.first_failing_layer() or LAYERS[-1]
            since = budget_start.get(layer)
            layer_deadline = since + budgets[layer] if since is not None else math.inf
            if now - start >= timeout_s:
                raise timeout_error(
                    report, view, layer, now - start, f"total budget {timeout_s:g}s"
                )
            if now >= layer_deadline:
                raise timeout_error(
                    report, view, layer, now - start, f"{layer} budget {budgets[layer]:g}s"
                )
            remaining = min(start + timeout_s, layer_deadline) - now
            sleep(max(0.0, min(max(interval_s, MIN_INTERVAL_S), remaining)))
    finally:
        if own_probes:
            active.close()


def describe_failure(report: HealthReport, view: ClusterView, layer: Layer) -> str:
    """ "zookeeper: demo-master-2 (10.0.3.12) mode=standalone, expected follower"."""
    failing = [c for c in report.layer_checks(layer) if not c.ok and not c.skipped]
    failing = failing or report.failures()
    if not failing:
        return f"{layer}: no check passed"
    check = failing[0]
    where = f"{view.label(check.host)} " if check.host else ""
    return f"{check.layer}: {where}{check.detail}"


def timeout_error(
    report: HealthReport, view: ClusterView, layer: Layer, waited: float, budget: str
) -> HealthWaitTimeout:
    more = len(report.failures()) - 1
    message = (
        f"{describe_failure(report, view, layer)} (cluster {report.cluster} not healthy "
        f"after {waited:.0f}s, {budget}"
        + (f"; {more} more failing check(s)" if more > 0 else "")
        + ")"
    )
    return HealthWaitTimeout(message, HINTS.get(layer), report=report, layer=layer)
