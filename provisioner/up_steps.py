"""The steps of `up`: one function per kind of plan action, and what they share.

`operations.up` makes the plan, then calls `STEPS[action.kind]` for each action in order;
every step saves state.json when it changed something, so an interrupted run can re-run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import resize_run
from .cluster import Cluster, machines_in_order
from .domain import Machine, PlannedMachine, is_core
from .errors import StateError
from .phases import PhaseTiming, RunPhase
from .plan import Action, ActionKind, Plan, config_fingerprint
from .plays import PlayRecord, run_play
from .providers.base import Provider
from .resize import ResizeStep, finish_if_done
from .state import ClusterState

#: The rules file of the host firewall (the common role's `common_firewall_rules_file`).
FIREWALL_RULES_FILE = "/etc/dcos-provision/firewall.nft"
#: Prometheus' configuration and rules (the monitoring role's `monitoring_prometheus_*_file`),
#: as the drift manifest names them.
PROMETHEUS_FILES = (
    "file /etc/prometheus/prometheus.yml",
    "file /etc/prometheus/dcos-provision.rules.yml",
)

if TYPE_CHECKING:
    from . import health


@dataclass
class RunResult:
    """What `up` (also through `scale` or `upgrade`) did, for the CLI's summary and `--json`."""

    cluster: str
    plan: Plan
    playbooks: list[PlayRecord] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    health: health.HealthReport | None = None
    seconds: float = 0.0
    phases: list[PhaseTiming] = field(default_factory=list)
    #: What the drift check found: host -> differences, and hosts it could not look at.
    drift: dict[str, list[str]] = field(default_factory=dict)
    unobserved: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "plan": self.plan.to_dict(),
            "playbooks": [record.to_dict() for record in self.playbooks],
            "destroyed": self.destroyed,
            "drift": self.drift,
            "unobserved": self.unobserved,
            "healthy": self.health.healthy if self.health else None,
            "health": self.health.to_dict() if self.health else None,
            "seconds": round(self.seconds, 1),
            "phases": [phase.to_dict() for phase in self.phases],
        }


#: Phase name of each playbook action (a converge may run site.yml, scale.yml or upgrade.yml).
PLAYBOOK_PHASES: dict[ActionKind, RunPhase] = {
    ActionKind.CONVERGE: RunPhase.CONVERGE,
    ActionKind.REMOVE_AGENTS: RunPhase.DRAIN,
    ActionKind.FIREWALL: RunPhase.CONVERGE,
    ActionKind.MONITORING: RunPhase.CONVERGE,
    ActionKind.RESET: RunPhase.RESET,
}


def run_playbook(
    cluster: Cluster,
    action: Action,
    machines: list[Machine],
    result: RunResult,
    extravars: dict[str, Any] | None = None,
) -> PlayRecord:
    """Run the action's playbook on its hosts as one phase of the run, and list it in `result`."""
    assert action.playbook
    name = PLAYBOOK_PHASES.get(action.kind, action.kind)
    with cluster.phase(name, action.playbook, tuple(action.hosts)):
        record = run_play(cluster, action.playbook, action.hosts, extravars, machines=machines)
    result.playbooks.append(record)
    return record


@dataclass
class UpRun:
    """One `up` in progress: what its steps read and change."""

    cluster: Cluster
    state: ClusterState
    plan: Plan
    provider: Provider
    result: RunResult
    #: The machines of the spec, in order (planned before anything changed).
    planned: list[PlannedMachine]
    #: What a declarative provider is given: `planned`, plus leaving masters while a resize
    #: still needs them (Pulumi deletes what it is not given).
    keep: list[PlannedMachine]
    #: Resize steps not run yet, in the order of the plan's `resize` actions.
    resize_steps: list[ResizeStep]
    verify: bool
    workload: bool
    wait_timeout: float

    def save(self) -> None:
        self.cluster.store.save(self.state)


def _create(run: UpRun, action: Action) -> None:
    # Only new machines: a recorded machine that is down is reported by the health checks,
    # never silently restarted or recreated (a dead host needs a human).
    wanted = (
        run.keep if run.provider.declarative else [m for m in run.planned if m.name in action.hosts]
    )
    with run.cluster.phase(RunPhase.MACHINES, f"creating {', '.join(action.hosts)}", action.hosts):
        created = run.provider.create(wanted)
    for machine in created:
        run.state.machines[machine.name] = machine
    run.state.record("create", hosts=list(action.hosts))
    run.save()


def _start(run: UpRun, action: Action) -> None:
    """Start stopped machines. A machine that comes back on another address changes what
    every host's configuration names (ZooKeeper, /etc/hosts, firewall allow-lists): then
    what the drift check recorded is dropped, so it converges every host."""
    recorded = [run.state.machines[name] for name in action.hosts]
    with run.cluster.phase(RunPhase.MACHINES, f"starting {', '.join(action.hosts)}", action.hosts):
        started = run.provider.start(recorded)
    moved = []
    for machine in started:
        before = run.state.machines[machine.name]
        if (machine.address, machine.ssh_port) != (before.address, before.ssh_port):
            moved.append(f"{machine.name} {before.address} -> {machine.address}")
        run.state.machines[machine.name] = machine
    if moved:
        run.cluster.progress(f"new address: {'; '.join(moved)}; every host converges again")
        run.state.observed.clear()
    run.state.record("start", hosts=list(action.hosts))
    run.save()


def _check_drift_and_converge(run: UpRun, action: Action) -> None:
    """The drift check, then site.yml on the hosts that drifted (none: nothing runs)."""
    machines = _existing(run.state, run.planned)
    drifted = _check_drift(run.cluster, run.state, machines, run.result)
    if drifted:
        reason = "drift on " + ", ".join(drifted)
        _converge(run, Action(ActionKind.CONVERGE, drifted, "site.yml", reason))


def _remove_agents(run: UpRun, action: Action) -> None:
    machines = machines_in_order(run.cluster.spec, run.state)
    run_playbook(run.cluster, action, machines, run.result)
    run.state.record("remove_agents", hosts=list(action.hosts))
    run.save()


def _destroy(run: UpRun, action: Action) -> None:
    with run.cluster.phase(
        RunPhase.MACHINES, f"destroying {', '.join(action.hosts)}", action.hosts
    ):
        run.provider.destroy(list(action.hosts))
    for name in action.hosts:
        run.state.machines.pop(name, None)
        run.state.converged.pop(name, None)
        run.state.observed.pop(name, None)
    run.result.destroyed.extend(action.hosts)
    run.state.record("destroy", hosts=list(action.hosts))
    if run.plan.resize is not None:
        finish_if_done(run.state, len(run.plan.resize.steps), run.plan.resize.leaving)
    run.save()


def _firewall(run: UpRun, action: Action) -> None:
    """firewall.yml on the hosts that stay, or on the others before scale.yml starts new
    agents: only their rules file changes, so only its entry in what the drift check recorded
    is refreshed (other drift stays visible)."""
    _run_and_refresh(run, action, _firewall_keys(run.cluster), "firewall")


def _monitoring(run: UpRun, action: Action) -> None:
    """monitoring_targets.yml on the masters: only Prometheus' configuration and rules change,
    so only their entries in what the drift check recorded are refreshed."""
    _run_and_refresh(run, action, PROMETHEUS_FILES, "monitoring")


def _run_and_refresh(run: UpRun, action: Action, keys: tuple[str, ...], event: str) -> None:
    machines = _existing(run.state, run.planned)
    record = run_playbook(run.cluster, action, machines, run.result)
    _refresh_record(run.cluster, run.state, [h for h in record.changed if h in action.hosts], keys)
    for host in record.outcome.left_out:  # not rewritten: the next drift check converges it
        run.state.observed.pop(host, None)
    if record.outcome.left_out:
        run.cluster.progress(
            f"{action.playbook} left out {', '.join(record.outcome.left_out)} (no answer); "
            "the next `up` brings it up to date"
        )
    run.state.record(event, hosts=list(action.hosts))
    run.save()


def _firewall_keys(cluster: Cluster) -> tuple[str, ...]:
    enabled = cluster.spec.security.firewall.enabled
    return (f"file {FIREWALL_RULES_FILE}",) if enabled else ()


def _refresh_record(
    cluster: Cluster, state: ClusterState, hosts: list[str], keys: tuple[str, ...]
) -> None:
    """Record these manifest entries as they are now on these hosts (firewall.yml and
    monitoring_targets.yml rewrite files on hosts they do not converge), leaving every
    other recorded entry alone."""
    from . import drift

    if not keys:
        return
    machines = [state.machines[h] for h in hosts if h in state.observed]
    for host, outcome in drift.observe(machines, cluster.known_hosts_file).items():
        if isinstance(outcome, Exception):
            state.observed.pop(host, None)  # unknown: the next drift check converges it
        else:
            seen = drift.parse_observation(outcome)[0]
            for key in keys:
                if key in seen:
                    state.observed[host][key] = seen[key]


def _resize_step(run: UpRun, action: Action) -> None:
    resize = run.plan.resize
    assert resize is not None, "a resize action comes with the plan's resize"
    step = run.resize_steps.pop(0)
    with run.cluster.phase(RunPhase.RESIZE, f"step {step.index + 1}: {step.reason}"):
        final = [m.name for m in run.planned]
        record = resize_run.run_step(run.cluster, run.state, resize, step, final)
    run.result.playbooks.append(record)
    record_observed(run.cluster, run.state, record.limit)
    run.save()


def _wait_healthy(run: UpRun, action: Action) -> None:
    if not run.verify:
        return
    from . import health

    cluster = run.cluster
    machines = machines_in_order(cluster.spec, run.state, run.planned)
    view = health.ClusterView(cluster.spec, machines)  # one for the wait and the workload
    with cluster.phase(RunPhase.HEALTH, "ZooKeeper, masters and agents"):
        report = health.wait_healthy(
            cluster.spec,
            machines,
            timeout_s=run.wait_timeout,
            credential=cluster.health_credential(),
            view=view,
        )
    run.result.health = report
    if run.workload:
        run.result.health = _run_workload(cluster, machines, report, view)


def _existing(state: ClusterState, planned: list[PlannedMachine]) -> list[Machine]:
    """The recorded machines of the plan, in the plan's order."""
    return [state.machines[m.name] for m in planned if m.name in state.machines]


def _converge(run: UpRun, action: Action) -> None:
    """Run a converge playbook, then record the configuration fingerprint and what the
    drift check sees on the hosts it touched."""
    cluster, state = run.cluster, run.state
    machines = _existing(state, run.planned)
    missing = [m.name for m in run.planned if m.name not in state.machines]
    if missing:
        raise StateError(f"machines missing after create: {', '.join(missing)}")
    record = run_playbook(cluster, action, machines, run.result)
    fingerprint = config_fingerprint(cluster.spec, [m for m in machines if is_core(m)])
    touched = [host for host in record.changed if host in action.hosts]
    for host in touched:
        state.converged[host] = fingerprint
    state.applied["mesos_version"] = cluster.spec.mesos.version
    record_observed(cluster, state, touched)
    state.record("converge", playbook=action.playbook, hosts=list(action.hosts))
    run.save()


#: What `up` does for each kind of action in its plan.
STEPS: dict[ActionKind, Callable[[UpRun, Action], None]] = {
    ActionKind.CREATE: _create,
    ActionKind.START: _start,
    ActionKind.DRIFT_CHECK: _check_drift_and_converge,
    ActionKind.REMOVE_AGENTS: _remove_agents,
    ActionKind.FIREWALL: _firewall,
    ActionKind.MONITORING: _monitoring,
    ActionKind.DESTROY: _destroy,
    ActionKind.RESIZE: _resize_step,
    ActionKind.CONVERGE: _converge,
    ActionKind.WAIT_HEALTHY: _wait_healthy,
}


def _check_drift(
    cluster: Cluster, state: ClusterState, machines: list[Machine], result: RunResult
) -> tuple[str, ...]:
    """Hosts whose managed files, links or services differ from their last converge."""
    from . import drift

    with cluster.phase(RunPhase.DRIFT, f"{len(machines)} host(s), one SSH round trip each"):
        found = drift.check_drift(machines, state.observed, cluster.known_hosts_file)
    for host in found:
        if host.error:
            result.unobserved[host.host] = host.error
        elif host.drifted:
            result.drift[host.host] = host.changes
            cluster.progress(f"drift on {host.host}: {'; '.join(host.changes)}")
    return tuple(h.host for h in found if h.drifted)


def record_observed(
    cluster: Cluster, state: ClusterState, hosts: list[str] | tuple[str, ...]
) -> None:
    """Store what the drift check sees now on these hosts (right after they converged)."""
    from . import drift

    machines = [state.machines[h] for h in hosts if h in state.machines]
    for host, outcome in drift.observe(machines, cluster.known_hosts_file).items():
        if isinstance(outcome, Exception):
            state.observed.pop(host, None)  # unknown: the next drift check converges it
        else:
            state.observed[host] = drift.parse_observation(outcome)[0]


def _run_workload(
    cluster: Cluster,
    machines: list[Machine],
    healthy: health.HealthReport,
    view: health.ClusterView,
) -> health.HealthReport:
    from . import health

    if (healthy.mesos or {}).get("kind") == "stand-in":
        cluster.progress("workload: skipped, the Mesos test stand-in runs no tasks")
        return healthy
    with cluster.phase(RunPhase.WORKLOAD, "one task through the scheduler API"):
        return health.check_cluster(
            cluster.spec,
            machines,
            workload=True,
            credential=cluster.health_credential(),
            view=view,
        )
