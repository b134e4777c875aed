"""The operations behind the CLI commands: plan, up, scale, upgrade, status, metrics, down,
credentials, doctor, diagnose, repair and verify --chaos (library; no printing). Every command goes
through this layer; the longer ones live in their own modules (repair.py, chaos.py, doctor/,
diagnose/) and are entered here.

`up` and `down` take the cluster's lock, read state.json, act, and save state after every step
that changed something, so an interrupted run (Ctrl-C, a failed host) can simply be re-run.
`scale` and `upgrade` check their request, then run `up`; `plan` and `status` only read.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import pki, resize_run, security, up_steps
from .cluster import (
    Cluster,
    known_machines,
    machines_in_order,
    recorded_agents,
    recorded_machines,
)
from .errors import ProvisionError, UsageError
from .phases import RunPhase
from .plan import Action, ActionKind, Plan, compute_plan
from .spec.file import set_agent_count
from .up_steps import STEPS, RunResult, UpRun
from .vanished import account_for_silent

if TYPE_CHECKING:
    from . import backup, health
    from .browser_bundle import BrowserBundle
    from .chaos import ChaosReport
    from .diagnose import DiagnoseResult
    from .doctor import DoctorReport
    from .metrics import Figures
    from .repair import RepairResult


def plan(cluster: Cluster, converge: bool = False) -> Plan:
    """What `up` would do; checks the provider's tools first (a plan it cannot carry out lies).
    Machines that vanished are planned for creation and stopped ones for a start, as `up`
    would (state is not changed)."""
    provider = cluster.provider()
    provider.preflight()
    state = cluster.store.load()
    absent = account_for_silent(state, provider)  # in memory only
    return compute_plan(cluster.spec, state, converge=converge, stopped=tuple(absent.stopped))


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
    auto_backup: backup.AutoBackup | None = None,
    upgrade_only: bool = False,
) -> RunResult:
    """Create what is missing, converge, verify health; safe to re-run after an interruption.

    `remove` names agents to drain and destroy instead of the newest (`scale --remove`).
    `workload` then runs one real task on the healthy cluster (not on the Mesos test
    stand-in, which runs none: there the report says so and the layer is left out).
    `converge` runs site.yml on every host instead of the fast drift check (drift.py).
    `auto_backup` (the CLI's default) backs the cluster up before an upgrade or master resize.
    `upgrade_only` (`upgrade`) raises UsageError before anything changes unless the plan
    rolls out a new `mesos.version`.
    """
    started = time.monotonic()
    spec, store = cluster.spec, cluster.store
    cluster.phase_log = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(store.lock("up"))
        state = store.load()
        provider = cluster.provider()
        absent = account_for_silent(state, provider)
        gone = absent.gone
        the_plan = compute_plan(spec, state, remove, converge, tuple(absent.stopped))
        if upgrade_only and not the_plan.upgrades:
            raise _nothing_to_upgrade(spec.mesos.version)  # before anything is written
        stack.enter_context(_remembering_phases(cluster))
        if not state.cluster_id:
            state.ensure_cluster_id()
            if state.machines and not gone:  # a new cluster saves it with its first machines
                store.save(state)
        if gone:
            cluster.progress(
                f"recorded machines no longer exist: {', '.join(gone)}; creating them again "
                "(`restore` brings back their ZooKeeper and registry state)"
            )
            store.save(state)
        result = RunResult(cluster=spec.name, plan=the_plan, phases=cluster.phase_log)
        if the_plan.changes_machines:
            # The provider's tools are only needed to create or destroy machines; checking
            # them costs seconds (two `vagrant` runs), which a no-op `up` need not pay.
            provider.preflight()
        if the_plan.upgrades or the_plan.resize is not None:
            from . import backup  # not with this module: `status` has no use for it

            operation = "upgrade" if the_plan.upgrades else "master resize"
            backup.before(cluster, operation, auto_backup)
        # Generated on the first run (or the operator's own): the roles read secrets.json.
        security.ensure_credentials(spec, store.directory)
        for warning in spec.security.warnings():
            cluster.progress(warning)
        planned = list(the_plan.planned)
        keep, pending = planned, []
        resize = the_plan.resize
        if resize is not None:
            resize_run.start(cluster, state, resize)  # health first; QuorumError if not
            store.save(state)
            # Leaving masters stay until the last step retired them (Pulumi drops the rest).
            keep = planned + resize_run.leaving_planned(spec, resize)
            pending = list(resize.pending)
        run = UpRun(
            cluster=cluster,
            state=state,
            plan=the_plan,
            provider=provider,
            result=result,
            planned=planned,
            keep=keep,
            resize_steps=pending,
            verify=verify,
            workload=workload,
            wait_timeout=wait_timeout,
        )
        for action in the_plan.actions:
            STEPS[action.kind](run, action)
        result.seconds = time.monotonic() - started
        return result


@dataclass(frozen=True)
class ScaleChange:
    """What `scale` is about to do, known before anything changes."""

    agents: int
    remove: tuple[str, ...]
    #: The agents it drains and destroys (the CLI asks before).
    doomed: tuple[str, ...]


def check_scale_request(agents: int | None, remove: tuple[str, ...]) -> None:
    """UsageError unless `scale` was told a new count or agents to remove."""
    if agents is None and not remove:
        raise UsageError("say how to scale: --agents N and/or --remove NAME")
    if agents is not None and agents < 0:
        raise UsageError(f"--agents must be 0 or more: got {agents}")


def plan_scale(cluster: Cluster, agents: int | None, remove: tuple[str, ...]) -> ScaleChange:
    """The new agent count (default: the recorded agents minus `remove`) and the agents it
    removes; raises (bad --remove, quorum) before anything changes."""
    check_scale_request(agents, remove)
    count = agents if agents is not None else max(0, len(recorded_agents(cluster)) - len(remove))
    spec = cluster.spec.model_copy(
        update={"agents": cluster.spec.agents.model_copy(update={"count": count})}
    )
    steps = compute_plan(spec, cluster.store.load(), remove)
    doomed = sorted({h for a in steps.of_kind(ActionKind.REMOVE_AGENTS) for h in a.hosts})
    return ScaleChange(count, remove, tuple(doomed))


def record_agent_count(spec_file: Path, change: ScaleChange) -> bool:
    """Write the new `agents.count` into the spec file before the run, so the file stays the
    single source of truth and a later `up` does not undo the scale; False if unchanged."""
    return set_agent_count(spec_file, change.agents)


def scale(cluster: Cluster, change: ScaleChange, *, wait_timeout: float = 600) -> RunResult:
    """`up` with the new agent count: new agents are configured alone, removed ones (the
    newest, or `change.remove`) drained first. The spec must already say the new count."""
    if cluster.spec.agents.count != change.agents:
        raise UsageError(
            f"the spec says agents.count {cluster.spec.agents.count}, the scale is to "
            f"{change.agents}",
            hint="record the new count in the spec file first (record_agent_count)",
        )
    return up(cluster, wait_timeout=wait_timeout, remove=change.remove)


def upgrade(
    cluster: Cluster, *, wait_timeout: float = 600, auto_backup: backup.AutoBackup | None = None
) -> RunResult:
    """`up` when it would roll out a new `mesos.version`; UsageError when there is none (the
    check reads the plan `up` computes, so the plan is made once)."""
    return up(cluster, wait_timeout=wait_timeout, auto_backup=auto_backup, upgrade_only=True)


def _nothing_to_upgrade(version: str) -> UsageError:
    return UsageError(
        f"nothing to upgrade: mesos.version {version} is what the "
        "cluster last converged with (or the cluster is not created yet)",
        hint="edit mesos.version in the spec, then run `upgrade` (or `up`)",
    )


def status(
    cluster: Cluster, *, via_ssh: bool = False, workload: bool = False
) -> health.HealthReport:
    from . import health

    machines = recorded_machines(cluster)
    credential = cluster.health_credential()
    # Host keys accepted by `doctor --accept-new-host-keys` live in the state directory. The
    # SSH sessions also read each host's live firewall for the security layer.
    ssh = health.SshProbes(machines, known_hosts_file=cluster.known_hosts_file)
    ssh.http_auth = credential.basic_auth() if credential and credential.principal else None
    ssh.tls = credential.tls if credential else None
    try:
        return health.check_cluster(
            cluster.spec,
            machines,
            probes=ssh if via_ssh else None,
            workload=workload,
            credential=credential,
            security=True,
            hosts=ssh,
        )
    finally:
        ssh.close()


def metrics(cluster: Cluster) -> Figures:
    """The figures an operator checks first, from Prometheus when it runs, else the endpoints."""
    from .health.checks import make_probes
    from .metrics import cluster_figures

    machines = recorded_machines(cluster)
    probes = make_probes(machines, via_ssh=False, credential=cluster.health_credential())
    try:
        return cluster_figures(cluster.spec, machines, probes)
    finally:
        probes.close()


def browser_bundle(cluster: Cluster, output: Path, passphrase: str) -> BrowserBundle:
    """A PKCS#12 operator certificate for a browser to open the Mesos UI over mutual TLS."""
    from .browser_bundle import write_browser_bundle

    tls = cluster.spec.security.tls
    if not tls.enabled:
        raise UsageError(
            f"{cluster.spec.name}: security.tls.enabled is false, so the Mesos UI is plain "
            "http:// and a browser needs no certificate"
        )
    return write_browser_bundle(
        cluster.state_dir, cluster.spec.name, tls.certificate_days, output, passphrase
    )


def down(cluster: Cluster, auto_backup: backup.AutoBackup | None = None) -> list[str]:
    """Destroy (or, for adopted hosts, reset) exactly the machines this tool recorded.

    With `auto_backup`, a backup is taken first into the state directory's backups/ (kept
    after `down`); on a broken cluster it holds what could be read and `down` goes on."""
    spec, store = cluster.spec, cluster.store
    with store.lock("down"):
        state = store.load()
        if state.machines:
            from . import backup

            backup.before(cluster, "down", auto_backup, partial_ok=True)
            state = store.load()  # the backup may have recorded the cluster's identity
        provider = cluster.provider()
        names = set(state.machines)
        # Adopted hosts exist whether or not `up` ever ran: only recorded ones are ours.
        if provider.deletes_machines:
            try:
                names |= set(provider.names())
            except ProvisionError:
                if not names:
                    return []  # nothing recorded and nothing the provider knows of
        if not names:
            return []
        ordered = sorted(names)
        if not provider.deletes_machines:
            machines = machines_in_order(spec, state)
            if machines:
                up_steps.run_playbook(
                    cluster,
                    Action(
                        ActionKind.RESET,
                        tuple(m.name for m in machines),
                        "reset.yml",
                        "adopted hosts are reset, not deleted",
                    ),
                    machines,
                    RunResult(cluster=spec.name, plan=Plan(spec.name)),
                )
        with cluster.phase(RunPhase.MACHINES, f"destroying {', '.join(ordered)}", tuple(ordered)):
            provider.destroy(ordered)
        state.machines.clear()
        state.converged.clear()
        state.record("down", hosts=ordered)
        store.save(state)
        store.remove_all()
        security.forget(store.directory)
        pki.forget(store.directory)
        return ordered


def doctor(cluster: Cluster, *, accept_new_host_keys: bool = False) -> DoctorReport:
    """The SSH preflight of every host (static hosts before adoption); new host keys are
    recorded in the state directory's known_hosts when accepted."""
    from .doctor import run_doctor

    return run_doctor(
        cluster.spec,
        known_machines(cluster),
        accept_new_host_keys=accept_new_host_keys,
        known_hosts=cluster.state_dir / "known_hosts",
    )


def diagnose(
    cluster: Cluster,
    *,
    spec_file: Path | None = None,
    output: Path | None = None,
    journal_lines: int = 500,
    via_ssh: bool = False,
) -> DiagnoseResult:
    """Write the support bundle (diagnose/); host problems are recorded, never raised."""
    from .diagnose import collect_bundle

    return collect_bundle(
        cluster, spec_file=spec_file, output=output, journal_lines=journal_lines, via_ssh=via_ssh
    )


def repair(
    cluster: Cluster,
    *,
    plan_only: bool = False,
    wait_timeout: float = 300,
    auto_backup: backup.AutoBackup | None = None,
) -> RepairResult:
    """Re-converge only what health and the roles' manifests name, then verify (repair.py)."""
    from . import repair as repair_module

    return repair_module.repair(
        cluster, plan_only=plan_only, wait_timeout=wait_timeout, auto_backup=auto_backup
    )


def chaos(cluster: Cluster) -> ChaosReport:
    """`verify --chaos`: each fault in turn on a healthy cluster, measured (chaos.py)."""
    from .chaos import run_chaos

    return run_chaos(cluster)
