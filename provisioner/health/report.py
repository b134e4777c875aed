"""Health results: one named check per observation, grouped in ordered layers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from ..domain import Layer

#: Layers in dependency order: each one needs the one before it.
LAYERS: tuple[Layer, ...] = (
    Layer.REACHABILITY,
    Layer.ZOOKEEPER,
    Layer.MESOS_MASTERS,
    Layer.MESOS_AGENTS,
)
#: On request only (`status --workload`, `up`): a real task runs on the cluster. It needs the
#: masters layer, not every agent (a task still runs while one agent is down).
#: `status` adds the security layer: which protections the cluster runs with.
OPTIONAL_LAYERS: tuple[Layer, ...] = (Layer.WORKLOAD, Layer.SECURITY)

SKIPPED_PREFIX = "skipped: "


@dataclass(frozen=True)
class CheckResult:
    """One observation: `host` is a machine name, or None for a cluster-wide check."""

    layer: Layer
    name: str
    host: str | None
    ok: bool
    detail: str
    #: How long the observed operation took (the workload's task), when that is the point.
    seconds: float | None = None

    @property
    def skipped(self) -> bool:
        return self.detail.startswith(SKIPPED_PREFIX)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.seconds is None:
            del data["seconds"]
        return data


class LayerStatus(NamedTuple):
    """Summary of one layer: status is "ok", "failed" or "skipped"."""

    layer: Layer
    status: str
    failed: int
    total: int


@dataclass
class HealthReport:
    """Everything one pass of the checks observed; `healthy` only when every check passed."""

    cluster: str
    checks: list[CheckResult] = field(default_factory=list)
    #: Machine name of the leading Mesos master (its advertised hostname or pid when the
    #: leader is not one of the known machines); None while no single leader is known.
    leader: str | None = None
    #: What the leader runs, from its /version: {"kind": "real" | "stand-in", "version": ...}.
    mesos: dict[str, str] | None = None

    @property
    def mesos_description(self) -> str | None:
        """ "Apache Mesos 1.12.0" or "the Mesos TEST STAND-IN (reports 1.12.0)"."""
        if not self.mesos:
            return None
        if self.mesos.get("kind") == "stand-in":
            return f"the Mesos TEST STAND-IN, not Apache Mesos (reports {self.mesos['version']})"
        return f"Apache Mesos {self.mesos.get('version')}"

    @property
    def healthy(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.ok]

    def layer_checks(self, layer: Layer) -> list[CheckResult]:
        return [check for check in self.checks if check.layer == layer]

    def layer_ok(self, layer: Layer) -> bool:
        checks = self.layer_checks(layer)
        return bool(checks) and all(check.ok for check in checks)

    def layers(self) -> list[LayerStatus]:
        """Status of each layer in dependency order (what a summary line shows)."""
        summary = []
        present = [layer for layer in OPTIONAL_LAYERS if self.layer_checks(layer)]
        for layer in (*LAYERS, *present):
            checks = self.layer_checks(layer)
            failed = sum(not check.ok for check in checks)
            if checks and all(check.skipped for check in checks):
                status = "skipped"
            elif checks and failed == 0:
                status = "ok"
            else:
                status = "failed"
            summary.append(LayerStatus(layer, status, failed, len(checks)))
        return summary

    def first_failing_layer(self) -> Layer | None:
        for status in self.layers():
            if status.status != "ok":
                return status.layer
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "healthy": self.healthy,
            "leader": self.leader,
            "mesos": self.mesos,
            "checks": [check.to_dict() for check in self.checks],
        }
