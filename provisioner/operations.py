"""The operations behind the CLI commands: plan, up, status, scale, down (library; no printing).

Each operation takes the cluster's lock, reads state.json, acts, and saves state after every
step that changed something, so an interrupted run (Ctrl-C, a failed host) can simply be re-run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import ansible, health
from . import resize_run, security
from .errors import ProvisionError, StateError
from .inventory import render_inventory
from .paths import default_state_dir
from .plan import Action, Plan, compute_plan, config_fingerprint
from .providers import provider_for
from .providers.base import Machine
from .resize import finish_if_done, plan_resize
from .spec import ClusterSpec
from .specfile import load_spec
from .state import ClusterState, StateStore
from .topology import AGENT, MASTER, ZOOKEEPER, plan_machines

Progress = Callable[[str], None]


@dataclass
class Cluster:
    """A loaded spec and its state directory."""

    spec: ClusterSpec
    store: StateStore
    progress: Progress = field(default=lambda _m: None)
    on_ansible_event: Callable[[dict], None] | None = None

    @property
    def state_dir(self) -> Path:
        return self.store.directory

    def provider(self):
        return provider_for(self.spec, self.state_dir, self.progress)

    def health_credential(self) -> security.Credential | None:
        """What the health checks authenticate as (None while Mesos authentication is off)."""
        if not self.spec.security.authentication:
            return None
        creds = security.load_credentials(self.spec, self.state_dir)
        return creds.health if creds else None


def open_cluster(
    spec_path: Path | str, state_dir: Path | str | None = None, progress: Progress | None = None
) -> Cluster:
    spec = load_spec(spec_path)
    directory = (
        Path(state_dir).expanduser().resolve() / spec.name
        if state_dir
        else (default_state_dir(Path(spec_path), spec.name))
    )
    store = StateStore(directory, spec.name, spec.provider.kind)
    return Cluster(spec=spec, store=store, progress=progress or (lambda _m: None))


def plan(cluster: Cluster) -> Plan:
    """What `up` would do; checks the provider's tools first (a plan it cannot carry out lies)."""
    cluster.provider().preflight()
    return compute_plan(cluster.spec, cluster.store.load())


@dataclass
class RunResult:
    """What `up`/`scale` did, for the CLI's summary and `--json`."""

    cluster: str
    plan: Plan
    playbooks: list[dict[str, Any]] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    health: health.HealthReport | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "plan": self.plan.to_dict(),
            "playbooks": self.playbooks,
            "destroyed": self.destroyed,
            "healthy": self.health.healthy if self.health else None,
            "health": self.health.to_dict() if self.health else None,
            "seconds": round(self.seconds, 1),
        }


def _machines_in_order(spec: ClusterSpec, state: ClusterState) -> list[Machine]:
    order = [m.name for m in plan_machines(spec, state.machines)]
    known = [state.machines[n] for n in order if n in state.machines]
    extra = [m for n, m in sorted(state.machines.items()) if n not in order]
    return known + extra


def _write_inventory(cluster: Cluster, machines: list[Machine]) -> Path:
    return cluster.store.write_inventory(render_inventory(cluster.spec, machines))


def _run_playbook(
    cluster: Cluster, action: Action, machines: list[Machine], result: RunResult
) -> ansible.PlaybookResult:
    from . import ansible

    inventory = _write_inventory(cluster, machines)
    assert action.playbook
    cluster.progress(f"ansible: {action.playbook} on {', '.join(action.hosts)}")
    outcome = ansible.run_playbook(
        action.playbook,
        inventory=inventory,
        state_dir=cluster.state_dir,
        limit=list(action.hosts),
        on_event=cluster.on_ansible_event,
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


def up(
    cluster: Cluster,
    *,
    wait_timeout: float = 600,
    verify: bool = True,
    remove: tuple[str, ...] = (),
    workload: bool = True,
) -> RunResult:
    """Create what is missing, converge, verify health; safe to re-run after an interruption.

    `remove` names agents to drain and destroy instead of the newest (`scale --remove`).
    `workload` then runs one real task on the healthy cluster (not on the Mesos test
    stand-in, which runs none: there the report says so and the layer is left out).
    """
    started = time.monotonic()
    spec, store = cluster.spec, cluster.store
    with store.lock("up"):
        state = store.load()
        the_plan = compute_plan(spec, state, remove)
        result = RunResult(cluster=spec.name, plan=the_plan)
        provider = cluster.provider()
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
                cluster.progress(f"machines: creating {', '.join(action.hosts)}")
                # Only new machines: a recorded machine that is down is reported by the health
                # checks, never silently restarted or recreated (a dead host needs a human).
                wanted = (
                    keep if provider.declarative else [m for m in planned if m.name in action.hosts]
                )
                created = provider.create(wanted)
                for machine in created:
                    state.machines[machine.name] = machine
                state.record("create", hosts=list(action.hosts))
                store.save(state)
            elif action.kind == "remove_agents":
                machines = _machines_in_order(spec, state)
                _run_playbook(cluster, action, machines, result)
                state.record("remove_agents", hosts=list(action.hosts))
                store.save(state)
            elif action.kind == "destroy":
                cluster.progress(f"machines: destroying {', '.join(action.hosts)}")
                provider.destroy(list(action.hosts))
                for name in action.hosts:
                    state.machines.pop(name, None)
                    state.converged.pop(name, None)
                result.destroyed.extend(action.hosts)
                state.record("destroy", hosts=list(action.hosts))
                if resizing is not None:
                    finish_if_done(state, len(resizing.steps), resizing.leaving)
                store.save(state)
            elif action.kind == "resize":
                assert resizing is not None
                outcome, hosts = resize_run.run_step(cluster, state, resizing, steps.pop(0))
                result.playbooks.append(resize_run.playbook_record(outcome, hosts))
                store.save(state)
            elif action.kind == "converge":
                machines = [state.machines[m.name] for m in planned if m.name in state.machines]
                missing = [m.name for m in planned if m.name not in state.machines]
                if missing:
                    raise StateError(f"machines missing after create: {', '.join(missing)}")
                outcome = _run_playbook(cluster, action, machines, result)
                fingerprint = config_fingerprint(
                    spec, [m for m in machines if MASTER in m.roles or ZOOKEEPER in m.roles]
                )
                for host in outcome.stats:
                    if host in action.hosts:
                        state.converged[host] = fingerprint
                state.applied["mesos_version"] = spec.mesos.version
                state.record("converge", playbook=action.playbook, hosts=list(action.hosts))
                store.save(state)
            elif action.kind == "wait_healthy" and verify:
                from . import health

                cluster.progress("health: waiting for ZooKeeper, masters and agents")
                machines = _machines_in_order(spec, state)
                result.health = health.wait_healthy(
                    spec, machines, timeout_s=wait_timeout, credential=cluster.health_credential()
                )
                if workload:
                    result.health = _run_workload(cluster, machines, result.health)
        result.seconds = time.monotonic() - started
        return result


def _run_workload(
    cluster: Cluster, machines: list[Machine], healthy: health.HealthReport
) -> health.HealthReport:
    from . import health

    if (healthy.mesos or {}).get("kind") == "stand-in":
        cluster.progress("workload: skipped, the Mesos test stand-in runs no tasks")
        return healthy
    cluster.progress("workload: running one task through the scheduler API")
    return health.check_cluster(
        cluster.spec, machines, workload=True, credential=cluster.health_credential()
    )


def recorded_machines(cluster: Cluster) -> list[Machine]:
    state = cluster.store.load()
    if not state.machines:
        raise ProvisionError(
            f"cluster {cluster.spec.name!r} has no machines recorded in {cluster.state_dir}",
            hint="run `dcos-provision up` first (or pass the --state-dir it used)",
        )
    return _machines_in_order(cluster.spec, state)


def recorded_agents(cluster: Cluster) -> list[str]:
    return sorted(n for n, m in cluster.store.load().machines.items() if AGENT in m.roles)


def check_scale(cluster: Cluster, agents: int, remove: tuple[str, ...]) -> Plan:
    """The plan `scale` would run; raises (bad --remove, quorum) before anything changes."""
    spec = cluster.spec.model_copy(
        update={"agents": cluster.spec.agents.model_copy(update={"count": agents})}
    )
    return compute_plan(spec, cluster.store.load(), remove)


def known_machines(cluster: Cluster) -> list[Machine]:
    """Static hosts are checked before adoption; other providers' machines once created."""
    provider = cluster.provider()
    if not provider.deletes_machines:
        return provider.create(plan_machines(cluster.spec))
    return recorded_machines(cluster)


def status(
    cluster: Cluster, *, via_ssh: bool = False, workload: bool = False
) -> health.HealthReport:
    from . import health

    return health.check_cluster(
        cluster.spec,
        recorded_machines(cluster),
        via_ssh=via_ssh,
        workload=workload,
        credential=cluster.health_credential(),
        security=True,
    )


def down(cluster: Cluster) -> list[str]:
    """Destroy (or, for adopted hosts, reset) exactly the machines this tool recorded."""
    spec, store = cluster.spec, cluster.store
    with store.lock("down"):
        state = store.load()
        provider = cluster.provider()
        names = set(state.machines)
        try:
            names |= {m.name for m in provider.list()}
        except ProvisionError:
            if not names:
                return []  # nothing recorded and nothing the provider knows of
        if not names:
            return []
        ordered = sorted(names)
        if not provider.deletes_machines:
            machines = _machines_in_order(spec, state)
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
        cluster.progress(f"machines: destroying {', '.join(ordered)}")
        provider.destroy(ordered)
        state.machines.clear()
        state.converged.clear()
        state.record("down", hosts=ordered)
        store.save(state)
        store.remove_all()
        security.forget(store.directory)
        return ordered
