"""The operations behind the CLI commands: plan, up, status, scale, down (library; no printing).

Each operation takes the cluster's lock, reads state.json, acts, and saves state after every
step that changed something, so an interrupted run (Ctrl-C, a failed host) can simply be re-run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import ansible, health
from . import resize_run, security
from .cluster import (
    Cluster,
    machines_in_order,
    recorded_machines,
)
from .domain import Machine, PlannedMachine, is_core
from .errors import ProvisionError, StateError
from .inventory import render_inventory
from .phases import (
    CONVERGE,
    DRIFT,
    HEALTH,
    MACHINES,
    WORKLOAD,
    PhaseTiming,
)
from .plan import Action, Plan, compute_plan, config_fingerprint
from .resize import finish_if_done, plan_resize
from .state import ClusterState
from .topology import plan_machines


def plan(cluster: Cluster, converge: bool = False) -> Plan:
    """What `up` would do; checks the provider's tools first (a plan it cannot carry out lies)."""
    cluster.provider().preflight()
    return compute_plan(cluster.spec, cluster.store.load(), converge=converge)


@dataclass
class RunResult:
    """What `up`/`scale` did, for the CLI's summary and `--json`."""

    cluster: str
    plan: Plan
    playbooks: list[dict[str, Any]] = field(default_factory=list)
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
            "playbooks": self.playbooks,
            "destroyed": self.destroyed,
            "drift": self.drift,
            "unobserved": self.unobserved,
            "healthy": self.health.healthy if self.health else None,
            "health": self.health.to_dict() if self.health else None,
            "seconds": round(self.seconds, 1),
            "phases": [phase.to_dict() for phase in self.phases],
        }


def _write_inventory(cluster: Cluster, machines: list[Machine]) -> Path:
    return cluster.store.write_inventory(render_inventory(cluster.spec, machines))


#: Phase name of each playbook action (a converge may run site.yml, scale.yml or upgrade.yml).
PLAYBOOK_PHASES = {"converge": CONVERGE, "remove_agents": "drain", "reset": "reset"}


def _run_playbook(
    cluster: Cluster, action: Action, machines: list[Machine], result: RunResult
) -> ansible.PlaybookResult:
    from . import ansible

    inventory = _write_inventory(cluster, machines)
    assert action.playbook
    name = PLAYBOOK_PHASES.get(action.kind, action.kind)
    with cluster.phase(name, action.playbook, tuple(action.hosts)):
        outcome = ansible.run_playbook(
            action.playbook,
            inventory=inventory,
            state_dir=cluster.state_dir,
            limit=list(action.hosts),
            on_event=cluster.on_ansible_event,
            on_output=cluster.on_ansible_output,
        )
    result.playbooks.append(
        {
            "playbook": action.playbook,
            "limit": list(action.hosts),
            "changed": {h: s.changed for h, s in outcome.stats.items()},
            "log": str(outcome.log_path),
        }
    )
    return outcome


@contextlib.contextmanager
def _remembering_phases(cluster: Cluster) -> Iterator[None]:
    """Save the run's phase timings in state.json when the run ends, failed runs included."""
    try:
        yield
    finally:
        with contextlib.suppress(ProvisionError):
            state = cluster.store.load()  # what the steps saved; only the timings are added
            if state.machines or state.history:
                state.last_run_phases = [phase.to_dict() for phase in cluster.phase_log]
                cluster.store.save(state)


def up(
    cluster: Cluster,
    *,
    wait_timeout: float = 600,
    verify: bool = True,
    remove: tuple[str, ...] = (),
    workload: bool = True,
    converge: bool = False,
) -> RunResult:
    """Create what is missing, converge, verify health; safe to re-run after an interruption.

    `remove` names agents to drain and destroy instead of the newest (`scale --remove`).
    `workload` then runs one real task on the healthy cluster (not on the Mesos test
    stand-in, which runs none: there the report says so and the layer is left out).
    `converge` runs site.yml on every host instead of the fast drift check (drift.py).
    """
    started = time.monotonic()
    spec, store = cluster.spec, cluster.store
    cluster.phase_log = []
    with store.lock("up"), _remembering_phases(cluster):
        state = store.load()
        the_plan = compute_plan(spec, state, remove, converge)
        result = RunResult(cluster=spec.name, plan=the_plan, phases=cluster.phase_log)
        provider = cluster.provider()
        if the_plan.changes_machines:
            # The provider's tools are only needed to create or destroy machines; checking
            # them costs seconds (two `vagrant` runs), which a no-op `up` need not pay.
            provider.preflight()
        # Generated on the first run (or the operator's own): the roles read secrets.json.
        security.ensure_credentials(spec, store.directory)
        for warning in spec.security.warnings():
            cluster.progress(warning)
        planned = plan_machines(spec, list(state.machines), remove)
        keep = planned
        resizing = plan_resize(spec, state, planned)  # what compute_plan planned from
        steps = list(resizing.pending) if resizing else []
        if resizing is not None:
            resize_run.start(cluster, state, resizing)  # health first; QuorumError if not
            store.save(state)
            # Leaving masters stay until the last step retired them (Pulumi drops the rest).
            keep = planned + resize_run.leaving_planned(spec, resizing)
        for action in the_plan.actions:
            if action.kind == "create":
                # Only new machines: a recorded machine that is down is reported by the health
                # checks, never silently restarted or recreated (a dead host needs a human).
                wanted = (
                    keep if provider.declarative else [m for m in planned if m.name in action.hosts]
                )
                with cluster.phase(MACHINES, f"creating {', '.join(action.hosts)}", action.hosts):
                    created = provider.create(wanted)
                for machine in created:
                    state.machines[machine.name] = machine
                state.record("create", hosts=list(action.hosts))
                store.save(state)
            elif action.kind == "drift_check":
                drifted = _check_drift(cluster, state, _existing(state, planned), result)
                if drifted:
                    reason = "drift on " + ", ".join(drifted)
                    _converge(cluster, state, Action("converge", drifted, "site.yml", reason),
                              planned, result)  # fmt: skip
            elif action.kind == "remove_agents":
                machines = machines_in_order(spec, state)
                _run_playbook(cluster, action, machines, result)
                state.record("remove_agents", hosts=list(action.hosts))
                store.save(state)
            elif action.kind == "destroy":
                detail = f"destroying {', '.join(action.hosts)}"
                with cluster.phase(MACHINES, detail, action.hosts):
                    provider.destroy(list(action.hosts))
                for name in action.hosts:
                    state.machines.pop(name, None)
                    state.converged.pop(name, None)
                    state.observed.pop(name, None)
                result.destroyed.extend(action.hosts)
                state.record("destroy", hosts=list(action.hosts))
                if resizing is not None:
                    finish_if_done(state, len(resizing.steps), resizing.leaving)
                store.save(state)
            elif action.kind == "resize":
                assert resizing is not None
                step = steps.pop(0)
                with cluster.phase("resize", f"step {step.index + 1}: {step.reason}"):
                    outcome, hosts = resize_run.run_step(cluster, state, resizing, step)
                result.playbooks.append(resize_run.playbook_record(outcome, hosts))
                _record_observed(cluster, state, hosts)
                store.save(state)
            elif action.kind == "converge":
                _converge(cluster, state, action, planned, result)
            elif action.kind == "wait_healthy" and verify:
                from . import health

                machines = machines_in_order(spec, state)
                with cluster.phase(HEALTH, "ZooKeeper, masters and agents"):
                    result.health = health.wait_healthy(
                        spec,
                        machines,
                        timeout_s=wait_timeout,
                        credential=cluster.health_credential(),
                    )
                if workload:
                    result.health = _run_workload(cluster, machines, result.health)
        result.seconds = time.monotonic() - started
        return result


def _existing(state: ClusterState, planned: list[PlannedMachine]) -> list[Machine]:
    """The recorded machines of the plan, in the plan's order."""
    return [state.machines[m.name] for m in planned if m.name in state.machines]


def _converge(
    cluster: Cluster,
    state: ClusterState,
    action: Action,
    planned: list[PlannedMachine],
    result: RunResult,
) -> None:
    """Run a converge playbook, then record the configuration fingerprint and what the
    drift check sees on the hosts it touched."""
    spec = cluster.spec
    machines = _existing(state, planned)
    missing = [m.name for m in planned if m.name not in state.machines]
    if missing:
        raise StateError(f"machines missing after create: {', '.join(missing)}")
    outcome = _run_playbook(cluster, action, machines, result)
    fingerprint = config_fingerprint(spec, [m for m in machines if is_core(m)])
    touched = [host for host in outcome.stats if host in action.hosts]
    for host in touched:
        state.converged[host] = fingerprint
    state.applied["mesos_version"] = spec.mesos.version
    _record_observed(cluster, state, touched)
    state.record("converge", playbook=action.playbook, hosts=list(action.hosts))
    cluster.store.save(state)


def _check_drift(
    cluster: Cluster, state: ClusterState, machines: list[Machine], result: RunResult
) -> tuple[str, ...]:
    """Hosts whose managed files, links or services differ from their last converge."""
    from . import drift

    with cluster.phase(DRIFT, f"{len(machines)} host(s), one SSH round trip each"):
        found = drift.check_drift(machines, state.observed, cluster.known_hosts_file)
    for host in found:
        if host.error:
            result.unobserved[host.host] = host.error
        elif host.drifted:
            result.drift[host.host] = host.changes
            cluster.progress(f"drift on {host.host}: {'; '.join(host.changes)}")
    return tuple(h.host for h in found if h.drifted)


def _record_observed(cluster: Cluster, state: ClusterState, hosts: list[str] | tuple[str, ...]):
    """Store what the drift check sees now on these hosts (right after they converged)."""
    from . import drift

    machines = [state.machines[h] for h in hosts if h in state.machines]
    for host, outcome in drift.observe(machines, cluster.known_hosts_file).items():
        if isinstance(outcome, Exception):
            state.observed.pop(host, None)  # unknown: the next drift check converges it
        else:
            state.observed[host] = drift.parse_observation(outcome)[0]


def _run_workload(
    cluster: Cluster, machines: list[Machine], healthy: health.HealthReport
) -> health.HealthReport:
    from . import health

    if (healthy.mesos or {}).get("kind") == "stand-in":
        cluster.progress("workload: skipped, the Mesos test stand-in runs no tasks")
        return healthy
    with cluster.phase(WORKLOAD, "one task through the scheduler API"):
        return health.check_cluster(
            cluster.spec, machines, workload=True, credential=cluster.health_credential()
        )


def check_scale(cluster: Cluster, agents: int, remove: tuple[str, ...]) -> Plan:
    """The plan `scale` would run; raises (bad --remove, quorum) before anything changes."""
    spec = cluster.spec.model_copy(
        update={"agents": cluster.spec.agents.model_copy(update={"count": agents})}
    )
    return compute_plan(spec, cluster.store.load(), remove)


def status(
    cluster: Cluster, *, via_ssh: bool = False, workload: bool = False
) -> health.HealthReport:
    from . import health

    machines = recorded_machines(cluster)
    credential = cluster.health_credential()
    if not via_ssh:
        return health.check_cluster(
            cluster.spec, machines, workload=workload, credential=credential, security=True
        )
    # Host keys accepted by `doctor --accept-new-host-keys` live in the state directory.
    probes = health.SshProbes(machines, known_hosts_file=cluster.known_hosts_file)
    probes.http_auth = credential.basic_auth() if credential else None
    try:
        return health.check_cluster(
            cluster.spec,
            machines,
            probes=probes,
            workload=workload,
            credential=credential,
            security=True,
        )
    finally:
        probes.close()


def down(cluster: Cluster) -> list[str]:
    """Destroy (or, for adopted hosts, reset) exactly the machines this tool recorded."""
    spec, store = cluster.spec, cluster.store
    with store.lock("down"):
        state = store.load()
        provider = cluster.provider()
        names = set(state.machines)
        # Adopted hosts exist whether or not `up` ever ran: only recorded ones are ours.
        if provider.deletes_machines:
            try:
                names |= {m.name for m in provider.list()}
            except ProvisionError:
                if not names:
                    return []  # nothing recorded and nothing the provider knows of
        if not names:
            return []
        ordered = sorted(names)
        if not provider.deletes_machines:
            machines = machines_in_order(spec, state)
            if machines:
                _run_playbook(
                    cluster,
                    Action(
                        "reset",
                        tuple(m.name for m in machines),
                        "reset.yml",
                        "adopted hosts are reset, not deleted",
                    ),
                    machines,
                    RunResult(cluster=spec.name, plan=Plan(spec.name)),
                )
        with cluster.phase(MACHINES, f"destroying {', '.join(ordered)}", tuple(ordered)):
            provider.destroy(ordered)
        state.machines.clear()
        state.converged.clear()
        state.record("down", hosts=ordered)
        store.save(state)
        store.remove_all()
        security.forget(store.directory)
        return ordered
