"""`repair`: re-converge exactly the hosts and roles that health (or a drift probe) names.

Health names the failing layer and host; each layer belongs to one Ansible role (zookeeper,
mesos_master, mesos_agent). A cheap SSH probe adds what health cannot see while the old process
keeps running: a role's managed file deleted, or its service stopped or disabled. Only those
hosts run `repair.yml`, each with only those roles; then health must pass again.

It refuses where a human must decide: a recorded machine gone or unreachable, lost ZooKeeper
or Mesos quorum, a spec that changed since the last `up`, or failures that name no host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .backup import AutoBackup, before
from .cluster import Cluster, machines_in_order
from .domain import Layer, Machine, Role, is_core
from .drift import probe_drift
from .errors import HealthTimeoutError, QuorumError, RefusedError
from .plan import config_fingerprint
from .plays import PlayRecord, run_play
from .roles import ROLE_AGENT, ROLE_MASTER, ROLE_ORDER, ROLE_ZOOKEEPER
from .spec import ClusterSpec
from .state import ClusterState
from .topology import plan_machines

if TYPE_CHECKING:
    from .health import HealthReport
    from .security import Credential

PLAYBOOK = "repair.yml"
#: Health layer -> the Ansible role that converges it, and the machine role it needs.
LAYER_ROLES: dict[Layer, tuple[str, Role]] = {
    Layer.ZOOKEEPER: (ROLE_ZOOKEEPER, Role.ZOOKEEPER),
    Layer.MESOS_MASTERS: (ROLE_MASTER, Role.MASTER),
    Layer.MESOS_AGENTS: (ROLE_AGENT, Role.AGENT),
}
#: Checks about the cluster as a whole: their `host` (if any) is where it was observed, not
#: what is broken (the ZooKeeper leader counts too few synced followers; every master redirects
#: to a dead leader during an election).
CLUSTER_WIDE: dict[Layer, set[str]] = {
    Layer.ZOOKEEPER: {"leader", "quorum", "synced_followers", "membership"},
    Layer.MESOS_MASTERS: {"quorum", "elected", "leader", "registry", "znodes", "redirect"},
    Layer.MESOS_AGENTS: {"active_agents"},
}


#: host -> role -> why it is repaired.
Targets = dict[str, dict[str, list[str]]]


@dataclass
class RepairResult:
    """What `repair` saw, chose and did (for the CLI's summary and `--json`)."""

    cluster: str
    plan_only: bool
    before: HealthReport | None = None
    targets: Targets = field(default_factory=dict)
    rounds: list[Targets] = field(default_factory=list)
    playbooks: list[PlayRecord] = field(default_factory=list)
    health: HealthReport | None = None
    seconds: float = 0.0

    @property
    def healthy(self) -> bool | None:
        report = self.health or self.before
        return report.healthy if report else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "plan_only": self.plan_only,
            "targets": [
                {"host": host, "roles": list(roles), "reasons": roles}
                for host, roles in self.targets.items()
            ],
            "rounds": len(self.rounds),
            "playbooks": [record.to_dict() for record in self.playbooks],
            "healthy": self.healthy,
            "health_before": self.before.to_dict() if self.before else None,
            "health": self.health.to_dict() if self.health else None,
            "seconds": round(self.seconds, 1),
        }


# ------------------------------------------------------------------- pure decisions


def check_spec_unchanged(spec: ClusterSpec, state: ClusterState) -> None:
    """Refuse when `up` has something to do: machines to add or remove, a new configuration or
    version, or hosts never converged. Repair restores the last `up`, it does not apply specs."""
    if not state.machines:
        raise RefusedError(
            f"cluster {spec.name!r} has no machines recorded",
            hint="run `dcos-provision up` first (or pass the --state-dir it used)",
        )
    planned = [m.name for m in plan_machines(spec, state.machines)]
    problems = []
    missing = [n for n in planned if n not in state.machines]
    extra = sorted(set(state.machines) - set(planned))
    if missing:
        problems.append(f"machines to create: {', '.join(missing)}")
    if extra:
        problems.append(f"machines no longer in the spec: {', '.join(extra)}")
    if not missing:
        core = [state.machines[n] for n in planned if is_core(state.machines[n])]
        fingerprint = config_fingerprint(spec, core)
        stale = [n for n in planned if state.converged.get(n) != fingerprint]
        if stale:
            problems.append(f"configuration not applied to {', '.join(stale)}")
    applied = state.applied.get("mesos_version")
    if applied and applied != spec.mesos.version:
        problems.append(f"mesos.version {applied} -> {spec.mesos.version}")
    if problems:
        raise RefusedError(
            f"the spec of {spec.name!r} changed since the last `up` ({'; '.join(problems)}): "
            "repair only restores what `up` last applied",
            hint="run `dcos-provision plan` to see the changes, then `up` (or `scale`/`upgrade`)",
        )


def check_repairable(report: HealthReport, machines: list[Machine]) -> None:
    """Refuse on a machine that is gone or unreachable, and on lost quorum."""
    check_reachable(report, machines)
    check_quorum(report)


def check_reachable(report: HealthReport, machines: list[Machine]) -> None:
    """Refuse when a recorded machine is gone or unreachable (a human brings it back)."""
    roles = {m.name: m.roles for m in machines}
    unreachable = [c for c in report.failures() if c.layer == Layer.REACHABILITY and not c.skipped]
    if unreachable:
        names = [c.host or "?" for c in unreachable]
        agents = [n for n in names if roles.get(n) == (Role.AGENT,)]
        others = [n for n in names if n not in agents]
        hints = []
        if agents:
            hints.append(f"for agents: `dcos-provision scale SPEC --remove {agents[0]}`")
        if others:
            hints.append(
                "for masters/ZooKeeper: bring the machine back (same address), then `repair`"
            )
        raise RefusedError(
            "repair needs every recorded machine reachable; gone or unreachable: "
            + "; ".join(f"{c.host}: {c.detail}" for c in unreachable),
            hint="; ".join(hints),
        )


def check_quorum(report: HealthReport) -> None:
    """Refuse when ZooKeeper or the Mesos masters lost their quorum."""
    for layer, what in ((Layer.ZOOKEEPER, "ZooKeeper"), (Layer.MESOS_MASTERS, "Mesos master")):
        lost = [c for c in report.layer_checks(layer) if c.name == "quorum" and not c.ok]
        if lost:
            raise QuorumError(
                f"{what} quorum lost ({lost[0].detail}): restarting members without a human "
                "deciding which copy of the data is current could lose data, so repair refuses",
                hint="find out why the members stopped (their logs), start a majority by hand, "
                "then run `repair` for the rest",
            )


#: How long `repair` checks again a cluster that looks leaderless before it refuses. Right
#: after a leader stops, ZooKeeper elects a new one within seconds and the Mesos masters within
#: about ten (`verify --chaos` measures both); meanwhile the quorum looks lost and the failures
#: name no host.
ELECTION_GRACE_S = 30.0


def settled_health(
    check: Callable[[], HealthReport],
    machines: list[Machine],
    progress: Callable[[str], None],
    grace_s: float = ELECTION_GRACE_S,
    poll_s: float = 2.0,
) -> tuple[HealthReport, Targets]:
    """The health report and what it asks to repair, once any election is over.

    An unreachable machine is refused at once; lost quorum and failures that name no host are
    checked again every `poll_s` for up to `grace_s`, then refused."""
    deadline = time.monotonic() + grace_s
    told = False
    while True:
        report = check()
        check_reachable(report, machines)
        try:
            check_quorum(report)
            return report, ({} if report.healthy else targets_from_health(report, machines))
        except (QuorumError, RefusedError) as exc:
            if time.monotonic() + poll_s > deadline:
                raise
            if not told:
                progress(
                    f"health: {exc.message.split(':')[0]}; checking again for up to "
                    f"{grace_s:g}s in case an election is under way"
                )
                told = True
            time.sleep(poll_s)


def targets_from_health(report: HealthReport, machines: list[Machine]) -> Targets:
    """Failing checks -> host -> role -> reasons. Cluster-wide checks name a host only when no
    per-host check of the same layer failed (then they cannot be attributed: refused)."""
    by_name = {m.name: m for m in machines}
    targets: Targets = {}
    unattributed = []
    for layer, (role, machine_role) in LAYER_ROLES.items():
        failing = [c for c in report.layer_checks(layer) if not c.ok and not c.skipped]
        per_host = [
            c
            for c in failing
            if c.name not in CLUSTER_WIDE[layer]
            and c.host in by_name
            and machine_role in by_name[c.host].roles
        ]
        for check in per_host:
            reasons = targets.setdefault(check.host or "", {}).setdefault(role, [])
            reasons.append(f"{layer} {check.name}: {check.detail}")
        if failing and not per_host:
            unattributed.extend(failing)
    if unattributed and not targets:
        raise RefusedError(
            "health names no host to repair: "
            + "; ".join(f"{c.layer} {c.name}: {c.detail}" for c in unattributed),
            hint="an election may be in progress: wait a minute and run `status`; if it "
            "persists, see the logs of the hosts named",
        )
    return targets


def merge(targets: Targets, more: Targets) -> Targets:
    merged = {h: {r: list(v) for r, v in roles.items()} for h, roles in targets.items()}
    for host, roles in more.items():
        for role, reasons in roles.items():
            merged.setdefault(host, {}).setdefault(role, []).extend(reasons)
    return merged


def ordered(targets: Targets, machines: list[Machine]) -> Targets:
    """Hosts in cluster order, each host's roles in converge order."""
    order = [m.name for m in machines]
    return {
        host: {r: targets[host][r] for r in ROLE_ORDER if r in targets[host]}
        for host in sorted(targets, key=lambda h: order.index(h) if h in order else len(order))
        if targets[host]
    }


# ------------------------------------------------------------------- running it


def find_targets(
    spec: ClusterSpec,
    machines: list[Machine],
    progress: Callable[[str], None],
    known_hosts: str | None = None,
    credential: Credential | None = None,
) -> tuple[HealthReport, Targets]:
    """Health plus the drift probe -> what to repair (raises RefusedError/QuorumError)."""
    from . import health

    report, targets = settled_health(
        lambda: health.check_cluster(spec, machines, credential=credential), machines, progress
    )
    drift, errors = probe_drift(machines, known_hosts)
    if errors:
        raise RefusedError(
            "the drift probe could not run on every host: " + "; ".join(errors),
            hint="repair needs SSH with passwordless sudo on every host (see `doctor`)",
        )
    for host, roles in drift.items():
        progress(f"drift on {host}: " + "; ".join(r for v in roles.values() for r in v))
    return report, ordered(merge(targets, drift), machines)


def roles_only(targets: Targets) -> dict[str, list[str]]:
    return {host: list(roles) for host, roles in targets.items()}


def run_repair_playbook(cluster: Cluster, machines: list[Machine], targets: Targets) -> PlayRecord:
    """repair.yml limited to the target hosts, each with its roles; returns the run's record."""
    cluster.progress(
        f"ansible: {PLAYBOOK} on " + "; ".join(f"{h} ({', '.join(r)})" for h, r in targets.items())
    )
    roles = roles_only(targets)
    return run_play(
        cluster,
        PLAYBOOK,
        list(targets),
        {"repair_roles": roles},
        machines=machines,
        roles=roles,
    )


def repair(
    cluster: Cluster,
    *,
    plan_only: bool = False,
    wait_timeout: float = 300,
    max_rounds: int = 3,
    auto_backup: AutoBackup | None = None,
) -> RepairResult:
    """Find what is broken, re-converge just that, verify; repeat while a round reveals more
    (a layer health skipped until the one below it was fixed). With `auto_backup`, a repair
    that touches a master or ZooKeeper member backs up what can still be read first."""
    from . import health

    started = time.monotonic()
    spec, store = cluster.spec, cluster.store
    with store.lock("repair"):
        state = store.load()
        check_spec_unchanged(spec, state)
        machines = machines_in_order(spec, state)
        result = RepairResult(cluster=spec.name, plan_only=plan_only)
        cluster.progress("health: checking every layer, then the roles' files and services")
        report, targets = find_targets(
            spec,
            machines,
            cluster.progress,
            cluster.known_hosts_file,
            cluster.health_credential(),
        )
        result.before, result.targets = report, targets
        if plan_only or not targets:
            result.health = None if plan_only else report
            result.seconds = time.monotonic() - started
            return result
        if any(ROLE_MASTER in roles or ROLE_ZOOKEEPER in roles for roles in targets.values()):
            before(cluster, "master repair", auto_backup, partial_ok=True)
        for _round in range(max_rounds):
            result.rounds.append(targets)
            result.playbooks.append(run_repair_playbook(cluster, machines, targets))
            state.record("repair", hosts=list(targets), roles=roles_only(targets))
            store.save(state)
            cluster.progress("health: waiting for the repaired cluster")
            try:
                result.health = health.wait_healthy(
                    spec, machines, timeout_s=wait_timeout, credential=cluster.health_credential()
                )
                break
            except HealthTimeoutError as exc:
                last = getattr(exc, "report", None)
                if last is None:
                    raise
                check_repairable(last, machines)
                try:
                    more = targets_from_health(last, machines)
                except RefusedError:
                    raise exc from None
                done = {(h, r) for t in result.rounds for h in t for r in t[h]}
                new = {(h, r) for h in more for r in more[h]} - done
                if not new:
                    raise HealthTimeoutError(
                        f"still not healthy after repairing {', '.join(result.targets)}: "
                        + exc.message,
                        hint=exc.hint,
                    ) from None
                targets = ordered(more, machines)
                result.targets = ordered(merge(result.targets, targets), machines)
        else:
            raise HealthTimeoutError(
                f"not healthy after {max_rounds} repair rounds on {', '.join(result.targets)}",
                hint="see `dcos-provision status` and the Ansible logs in the state directory",
            )
        result.seconds = time.monotonic() - started
        return result
