"""`rotate-credentials`: new secrets and certificates, rolled out one node at a time.

Mesos keeps one secret per principal (the masters' `--credentials`, the agents'
`--http_credentials`), read at start: a new secret under the same principal cannot roll (an
agent not yet changed fails to register with a master that was). So the operator, health and
agent principals change *generation* (`dcos-agent` -> `dcos-agent-20261204T201500Z`) in three
passes of playbooks/rotate.yml, each over the masters one at a time (leader last, gated on
health) and then the agents one at a time:

1. accept: the controller still uses the current principals; every node learns to accept
   the next generation as well (and takes its renewed node and executor certificates);
2. switch: secrets.json makes the next generation current and keeps the old one accepted;
   agents register as the new agent principal; the exporters use the new health principal;
3. retire: the old generation is dropped everywhere; from now on its secrets get 401 and an
   agent presenting it cannot register.

Between passes (and before the first) the whole cluster must pass its health checks. The
state of a rotation lives in secrets.json (`accepted`, written atomically, 0600), so an
interrupted run resumes where it stopped. Not rotated: the ZooKeeper digest identity and the
cluster CA (docs/security.md).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from . import backup, pki, security
from .cluster import Cluster, recorded_machines
from .domain import Machine, Role, with_role
from .errors import CredentialsError, HealthTimeoutError, UsageError
from .phases import PhaseTiming, RunPhase
from .plan import Action, ActionKind, Plan
from .plays import PlayRecord
from .security import ClusterCredentials, Generation

if TYPE_CHECKING:
    from .health import HealthReport

PLAYBOOK = "rotate.yml"
OPERATION = "rotate-credentials"


class RotationPass(StrEnum):
    """A pass of the rotation; the values are what `--json` shows."""

    ACCEPT = "accept"
    SWITCH = "switch"
    RETIRE = "retire"


PASS_REASONS = {
    RotationPass.ACCEPT: "every node accepts the new principals too; renewed certificates",
    RotationPass.SWITCH: "the new principals become current: agents register as the new "
    "agent principal, exporters and health checks use the new health principal",
    RotationPass.RETIRE: "the old principals are removed: their secrets are rejected",
}


@dataclass(frozen=True)
class RotationPlan:
    """What `rotate-credentials` will do, known before anything changes."""

    cluster: str
    #: Masters, then agents, in the order the passes visit them (leader last: decided live).
    masters: tuple[str, ...]
    agents: tuple[str, ...]
    #: identity -> (old principal, new principal); the new ones exist once a rotation started.
    principals: dict[str, tuple[str, str | None]]
    #: Nodes whose node and executor certificates are renewed (from the same cluster CA).
    certificates: tuple[str, ...]
    #: The passes still to run, in order (all three unless an interrupted run is resumed).
    passes: tuple[RotationPass, ...]
    #: Identities and files this command leaves alone (said in the plan and the docs).
    not_rotated: tuple[str, ...]

    @property
    def resuming(self) -> bool:
        return len(self.passes) < len(RotationPass)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "masters": list(self.masters),
            "agents": list(self.agents),
            "principals": {k: {"old": o, "new": n} for k, (o, n) in self.principals.items()},
            "certificates": list(self.certificates),
            "passes": [{"pass": str(p), "does": PASS_REASONS[p]} for p in self.passes],
            "resuming": self.resuming,
            "not_rotated": list(self.not_rotated),
        }


def pending_passes(creds: ClusterCredentials | None) -> tuple[RotationPass, ...]:
    """The passes still to run, read from secrets.json: no `accepted` generation means a new
    rotation; a newer one accepted means the accept pass did not finish; an older one means
    the switch happened (the switch pass may not have finished: it is run again)."""
    if creds is None or creds.accepted is None:
        return tuple(RotationPass)
    if creds.accepted.operator.principal > creds.operator.principal:
        return tuple(RotationPass)
    return (RotationPass.SWITCH, RotationPass.RETIRE)


def credentials_at(
    creds: ClusterCredentials, rotation: RotationPass, new: Generation, old: Generation
) -> ClusterCredentials:
    """secrets.json during a pass: which generation is current and which is also accepted
    (after the last pass: only the new one)."""
    current, accepted = {
        RotationPass.ACCEPT: (old, new),
        RotationPass.SWITCH: (new, old),
        RotationPass.RETIRE: (new, None),
    }[rotation]
    return ClusterCredentials(
        operator=current.operator,
        health=current.health,
        agent=current.agent,
        zookeeper=creds.zookeeper,
        accepted=accepted,
    )


def generations(creds: ClusterCredentials) -> tuple[Generation | None, Generation | None]:
    """(old, new) generation of a rotation in progress; (current, None) when none runs."""
    if creds.accepted is None:
        return creds.generation, None
    if creds.accepted.operator.principal > creds.operator.principal:
        return creds.generation, creds.accepted
    return creds.accepted, creds.generation


def make_plan(
    cluster_name: str,
    machines: list[Machine],
    creds: ClusterCredentials | None,
    tls: bool,
    zookeeper_acl: bool,
) -> RotationPlan:
    """The plan of a rotation (pure: spec facts, recorded machines, the secrets file)."""
    masters = tuple(m.name for m in with_role(machines, Role.MASTER))
    agents = tuple(m.name for m in with_role(machines, Role.AGENT))
    principals: dict[str, tuple[str, str | None]] = {}
    if creds is not None:
        old, new = generations(creds)
        assert old is not None
        for name in security.ROTATED:
            principals[name] = (
                getattr(old, name).principal,
                getattr(new, name).principal if new is not None else None,
            )
    passes = pending_passes(creds)
    renewing = tls and passes[0] is RotationPass.ACCEPT
    certificates = tuple(
        m.name for m in machines if Role.MASTER in m.roles or Role.AGENT in m.roles
    )
    not_rotated = ["the cluster CA (certificates it signed stay valid until they expire)"]
    if zookeeper_acl:
        not_rotated.append("the ZooKeeper digest identity (znode ACLs and quorum SASL)")
    return RotationPlan(
        cluster=cluster_name,
        masters=masters,
        agents=agents,
        principals=principals,
        certificates=certificates if renewing else (),
        passes=passes,
        not_rotated=tuple(not_rotated),
    )


@dataclass
class RotationResult:
    """What a rotation did, for the CLI's summary and `--json`."""

    plan: RotationPlan
    playbooks: list[PlayRecord] = field(default_factory=list)
    #: One record per health check between passes (and before the first): the proof that
    #: the cluster stayed healthy. The playbooks gate each node besides.
    checks: list[dict[str, Any]] = field(default_factory=list)
    health: HealthReport | None = None
    seconds: float = 0.0
    phases: list[PhaseTiming] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.plan.cluster,
            "plan": self.plan.to_dict(),
            "playbooks": [record.to_dict() for record in self.playbooks],
            "checks": self.checks,
            "healthy": self.health.healthy if self.health else None,
            "health": self.health.to_dict() if self.health else None,
            "seconds": round(self.seconds, 1),
            "phases": [phase.to_dict() for phase in self.phases],
        }


def _refuse_unsupported(cluster: Cluster) -> None:
    security_spec = cluster.spec.security
    if not security_spec.authentication and not security_spec.tls.enabled:
        raise UsageError(
            f"{cluster.spec.name}: nothing to rotate: security.authentication and "
            "security.tls are both off",
        )
    if security_spec.credentials_file and security_spec.authentication:
        raise UsageError(
            f"security.credentials_file: {security_spec.credentials_file} holds the cluster's "
            "credentials, so the tool does not generate new ones",
            hint="drop security.credentials_file to let rotate-credentials generate them, or "
            "change that file yourself (new principals; docs/security.md)",
        )


def plan(cluster: Cluster) -> RotationPlan:
    """The rotation `rotate(cluster)` would run; refuses what it cannot rotate."""
    _refuse_unsupported(cluster)
    spec = cluster.spec
    machines = recorded_machines(cluster)
    creds = (
        security.load_credentials(spec, cluster.state_dir) if spec.security.authentication else None
    )
    if spec.security.authentication and creds is None:
        raise CredentialsError(
            f"{security.secrets_path(cluster.state_dir)}: the cluster's secrets are missing",
            hint="`dcos-provision restore` brings them back from a backup",
        )
    return make_plan(
        spec.name, machines, creds, spec.security.tls.enabled, spec.security.zookeeper_acl
    )


def _check(cluster: Cluster, result: RotationResult, after: str, timeout_s: float) -> None:
    """Wait for a healthy cluster (the gate between passes); record it; stop if it is not."""
    from . import health

    machines = recorded_machines(cluster)
    started = time.monotonic()
    with cluster.phase(RunPhase.HEALTH, f"after {after}"):
        try:
            report = health.wait_healthy(
                cluster.spec,
                machines,
                timeout_s=timeout_s,
                credential=cluster.health_credential(),
            )
        except HealthTimeoutError as exc:
            result.checks.append({"after": after, "healthy": False, "error": exc.message})
            raise HealthTimeoutError(
                f"rotate-credentials stopped after {after}: {exc.message}",
                hint="the secrets file records how far the rotation got; fix the named host "
                "and run rotate-credentials again to resume",
            ) from None
    result.checks.append(
        {
            "after": after,
            "healthy": report.healthy,
            "leader": report.leader,
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    result.health = report


def rotate(
    cluster: Cluster,
    *,
    wait_timeout: float = 300,
    workload: bool = True,
    auto_backup: backup.AutoBackup | None = None,
    now: datetime.datetime | None = None,
) -> RotationResult:
    """Run (or resume) the rotation; raises at the first unhealthy check, naming it."""
    from . import up_steps

    started = time.monotonic()
    spec, store = cluster.spec, cluster.store
    cluster.phase_log = []
    with store.lock(OPERATION):
        the_plan = plan(cluster)
        result = RotationResult(plan=the_plan, phases=cluster.phase_log)
        _check(cluster, result, "nothing yet (before the first pass)", wait_timeout)
        if not the_plan.resuming:
            backup.before(cluster, OPERATION, auto_backup)
        machines = recorded_machines(cluster)
        creds = security.load_credentials(spec, cluster.state_dir)
        old = new = None
        if creds is not None:
            old, new = generations(creds)
            assert old is not None
            if new is None:
                new = security.next_generation(old, now or datetime.datetime.now(datetime.UTC))
        if the_plan.certificates:
            _renew_certificates(cluster, machines)
        for rotation in the_plan.passes:
            if creds is not None and old is not None and new is not None:
                security.write_credentials(
                    cluster.state_dir, credentials_at(creds, rotation, new, old)
                )
            action = Action(
                ActionKind.CONVERGE,
                tuple(m.name for m in machines),
                PLAYBOOK,
                f"rotate-credentials, {rotation} pass: {PASS_REASONS[rotation]}",
            )
            cluster.progress(f"rotate-credentials: {rotation} pass: {PASS_REASONS[rotation]}")
            record = up_steps.RunResult(cluster=spec.name, plan=Plan(spec.name))
            # The switch changes no master's files (generations are listed oldest first):
            # only the agents and the exporters need that pass.
            extravars = {"rotate_masters": rotation is not RotationPass.SWITCH}
            up_steps.run_playbook(cluster, action, machines, record, extravars)
            result.playbooks.extend(record.playbooks)
            _check(cluster, result, f"the {rotation} pass", wait_timeout)
        state = store.load()
        up_steps.record_observed(cluster, state, [m.name for m in machines])
        state.record(OPERATION, hosts=[m.name for m in machines])
        store.save(state)
        if workload:
            _workload(cluster, result, machines)
        result.seconds = time.monotonic() - started
        return result


def _renew_certificates(cluster: Cluster, machines: list[Machine]) -> None:
    tls = cluster.spec.security.tls
    nodes = [pki.NodeIdentity(m.name, m.cluster_address) for m in machines]
    written = pki.ensure_certificates(
        cluster.state_dir, cluster.spec.name, nodes, tls.certificate_days, renew=True
    )
    pki.renew_controller(cluster.state_dir, cluster.spec.name, tls.certificate_days)
    cluster.progress(
        f"tls: renewed {len(written) // 2} node and executor certificate(s) and the "
        "controller's, from the cluster CA"
    )


def _workload(cluster: Cluster, result: RotationResult, machines: list[Machine]) -> None:
    """One real task as the new health principal (not on the Mesos test stand-in)."""
    from . import health

    report = result.health
    if report is not None and (report.mesos or {}).get("kind") == "stand-in":
        cluster.progress("workload: skipped, the Mesos test stand-in runs no tasks")
        return
    with cluster.phase(RunPhase.WORKLOAD, "one task as the new health principal"):
        result.health = health.check_cluster(
            cluster.spec, machines, workload=True, credential=cluster.health_credential()
        )
    if not result.health.healthy:
        failed = "; ".join(
            f"{c.layer} {c.name}{' on ' + c.host if c.host else ''}: {c.detail}"
            for c in result.health.failures()
        )
        raise HealthTimeoutError(
            f"rotate-credentials finished, but the cluster is not healthy: {failed}",
            hint="`dcos-provision status --workload` shows every check",
        )
