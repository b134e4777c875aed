"""Carry out a master-count change planned by resize.py: one playbook run per step, a health
gate after the steps that leave a checkable cluster, and state.json updated after each step.

Refuses to start (QuorumError) unless the cluster is healthy: a resize restarts ZooKeeper
members and masters one at a time, and with a member already down one restart too many loses
the quorum.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import yaml

from .domain import Layer, Machine, PlannedMachine, Role, is_core
from .errors import HealthTimeoutError, QuorumError, StateError
from .plays import PlayRecord, run_play
from .resize import (
    PLAYBOOK,
    Resize,
    ResizePhase,
    ResizeStep,
    begin,
    finish_if_done,
    stage_spec,
    step_done,
    step_inventory,
)
from .state import ClusterState
from .topology import plan_machines

if TYPE_CHECKING:
    from .cluster import Cluster
    from .health import HealthReport
    from .health.view import ClusterView
    from .security import Credential
    from .spec import ClusterSpec

#: Health layers that must pass after a step (with the spec of the step's stage), and how long
#: to wait for them. Other steps leave a cluster in between two shapes; their playbook gates.
GATES: dict[ResizePhase, tuple[tuple[Layer, ...], float]] = {
    ResizePhase.ZOOKEEPER: ((Layer.ZOOKEEPER,), 180.0),
    ResizePhase.MASTERS: ((Layer.ZOOKEEPER, Layer.MESOS_MASTERS), 300.0),
}
GATE_INTERVAL_S = 2.0


def check_cluster(
    spec: ClusterSpec,
    machines: list[Machine],
    credential: Credential | None = None,
    view: ClusterView | None = None,
) -> HealthReport:
    """One pass of the health checks (a module attribute so tests can replace it)."""
    from . import health

    return health.check_cluster(spec, machines, credential=credential, view=view)


def start(cluster: Cluster, state: ClusterState, resize: Resize) -> None:
    """Check health before the first step, then record the resize (the caller saves state)."""
    if resize.done == 0:
        precheck(cluster.spec, state, resize, cluster.health_credential())
    begin(state, resize)


def precheck(
    spec: ClusterSpec,
    state: ClusterState,
    resize: Resize,
    credential: Credential | None = None,
) -> None:
    """The cluster as it stands must be healthy, or the resize could lose a quorum."""
    from .health import LAYERS
    from .health.view import ClusterView
    from .health.wait import describe_failure

    agents = [
        n for n, m in state.machines.items() if Role.AGENT in m.roles and n in state.converged
    ]
    before = stage_spec(spec, resize.old, len(agents))
    machines = list(state.machines.values())
    report = check_cluster(before, machines, credential)
    if report.healthy:
        return
    layer = report.first_failing_layer() or LAYERS[-1]
    raise QuorumError(
        f"refusing to resize the masters {resize.old} -> {resize.new}: the cluster is not "
        f"healthy now ({describe_failure(report, ClusterView(before, machines), layer)})",
        hint="a resize restarts ZooKeeper members and masters one at a time; with a member "
        "already down that could lose the quorum. Fix it (`dcos-provision status` shows what "
        "is wrong), then run `up` again",
    )


def leaving_planned(spec: ClusterSpec, resize: Resize) -> list[PlannedMachine]:
    """The leaving masters as planned machines: a provider told to create the new shape must
    keep them until the last step has retired them (Pulumi deletes what it is not given)."""
    leaving = set(resize.leaving)
    return [p for p in plan_machines(stage_spec(spec, resize.old)) if p.name in leaving]


def run_step(
    cluster: Cluster, state: ClusterState, resize: Resize, step: ResizeStep, final: list[str]
) -> PlayRecord:
    """Run one step and its gate; on success record it in `state` (the caller saves).
    `final` names the machines of the cluster after the resize (the plan's machines)."""
    from .plan import config_fingerprint

    spec = cluster.spec
    missing = [n for n in [*final, *step.hosts] if n not in state.machines]
    if missing:
        raise StateError(
            f"resize step {step.index + 1} needs machines that are not recorded: "
            f"{', '.join(sorted(set(missing)))}",
            hint="run `up` again: it creates missing machines before the resize continues",
        )
    inventory = step_inventory(spec, step, state.machines, final)
    hosts = final if step.phase in (ResizePhase.PREPARE, ResizePhase.FINISH) else list(step.hosts)
    cluster.progress(f"resize step {step.index + 1}/{len(resize.steps)}: {step.reason}")
    record = run_play(
        cluster,
        PLAYBOOK,
        hosts,
        machines=list(state.machines.values()),
        inventory=yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False),
    )
    if step.phase in GATES:
        layers, timeout_s = GATES[step.phase]
        cluster.progress(f"health: waiting for {' and '.join(layers)} after step {step.index + 1}")
        wait_layers(
            stage_spec(spec, step.after),
            list(state.machines.values()),
            layers,
            timeout_s,
            what=f"step {step.index + 1} ({step.phase}, masters {step.before} -> {step.after})",
            credential=cluster.health_credential(),
        )
    if step.phase == ResizePhase.FINISH:
        core = [state.machines[n] for n in final if is_core(state.machines[n])]
        fingerprint = config_fingerprint(spec, core)
        for name in final:
            state.converged[name] = fingerprint
    step_done(state, step)
    finish_if_done(state, len(resize.steps), resize.leaving)
    state.record(
        "resize",
        step=step.index + 1,
        phase=step.phase,
        masters=f"{step.before} -> {step.after}",
        playbook=PLAYBOOK,
        hosts=hosts,
    )
    return record


def wait_layers(
    spec: ClusterSpec,
    machines: list[Machine],
    layers: tuple[Layer, ...],
    timeout_s: float,
    *,
    what: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    credential: Credential | None = None,
) -> HealthReport:
    """Poll the checks until these layers pass; HealthTimeoutError naming what is wrong."""
    from .health.view import ClusterView
    from .health.wait import describe_failure

    view = ClusterView(spec, machines)  # once for every poll
    deadline = clock() + timeout_s
    while True:
        report = check_cluster(spec, machines, credential, view)
        failing = [layer for layer in layers if not report.layer_ok(layer)]
        if not failing:
            return report
        if clock() >= deadline:
            observed = describe_failure(report, view, failing[0])
            raise HealthTimeoutError(
                f"after resize {what}: {observed} (not healthy after {timeout_s:g}s)",
                hint="the resize stopped here and state.json records the steps done; fix the "
                "cause and run `up` again to continue",
            )
        sleep(GATE_INTERVAL_S)
