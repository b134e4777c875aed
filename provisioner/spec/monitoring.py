"""The spec's `monitoring:` section: node exporter everywhere, Mesos and ZooKeeper figures in
Prometheus text format, Prometheus with the alert rules on the masters.

On by default, like `security:`: an operator expects a graph and an alert without asking.
"""

from __future__ import annotations

from pydantic import Field

from ..ports import NODE_EXPORTER_PORT, PROMETHEUS_PORT
from .base import StrictModel


class MonitoringSpec(StrictModel):
    """Metrics, alert rules and Prometheus' UI (role `monitoring`)."""

    enabled: bool = Field(
        True,
        description=f"Run node exporter (port {NODE_EXPORTER_PORT}) on every machine, export "
        "the Mesos and ZooKeeper figures through its textfile collector, and run Prometheus "
        f"(port {PROMETHEUS_PORT}) with the alert rules on every master. `false` removes "
        "nothing an earlier run installed; it only stops managing it.",
    )
    retention_days: int = Field(
        15, ge=1, le=3650, description="How long Prometheus keeps samples (days)."
    )
    scrape_interval_s: int = Field(
        15,
        ge=5,
        le=300,
        description="Seconds between two scrapes, and between two reads of the Mesos and "
        "ZooKeeper endpoints by the exporter timer on each host.",
    )
    alert_for_s: int = Field(
        60,
        ge=0,
        le=3600,
        description="How long a condition must hold before its alert fires (the rules' "
        "`for:`); short values alert sooner and flap more.",
    )
    leader_changes_max: int = Field(
        2,
        ge=1,
        le=100,
        description="Alert when the Mesos leader changed more often than this in 15 minutes.",
    )
    disk_full_percent: int = Field(
        90, ge=50, le=99, description="Alert when a machine's root filesystem is this full (%)."
    )
    memory_full_percent: int = Field(
        90, ge=50, le=99, description="Alert when a machine's memory is this full (%)."
    )
