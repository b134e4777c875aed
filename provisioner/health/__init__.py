"""Layered health checks of a cluster: reachability, ZooKeeper, Mesos masters, Mesos agents.

`check_cluster` runs one pass and returns a report; `wait_healthy` polls until healthy or
raises HealthTimeoutError naming the layer, host and last observation.
"""

from __future__ import annotations

from ..remote.probes import DirectProbes, ProbeError, Probes
from ..remote.ssh import SshProbes
from .checks import GATES, check_cluster
from .report import LAYERS, CheckResult, HealthReport, LayerStatus
from .view import ClusterView
from .wait import DEFAULT_LAYER_TIMEOUTS, HealthWaitTimeout, wait_healthy

__all__ = [
    "DEFAULT_LAYER_TIMEOUTS",
    "GATES",
    "LAYERS",
    "CheckResult",
    "ClusterView",
    "DirectProbes",
    "HealthReport",
    "HealthWaitTimeout",
    "LayerStatus",
    "ProbeError",
    "Probes",
    "SshProbes",
    "check_cluster",
    "wait_healthy",
]
