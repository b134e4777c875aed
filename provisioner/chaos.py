"""`verify --chaos`: stop one component at a time on a test cluster and measure how health sees it.

Faults, in turn: a ZooKeeper follower, the ZooKeeper leader, the leading Mesos master, one agent.
For each: seconds until health names the stopped host, until a new leader is elected (leader
faults), whether a real task still runs during the outage where the topology says it should,
and seconds from restoring it until the cluster is healthy again. Whatever was stopped is
started again in a `finally`, also on Ctrl-C or an error, and a health check ends the run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .cluster import Cluster, recorded_machines
from .domain import Layer, Machine, Role
from .errors import HealthTimeoutError, ProvisionError, RefusedError
from .roles import ROLE_AGENT, ROLE_MASTER, ROLE_ZOOKEEPER, SERVICES

if TYPE_CHECKING:
    from .health import HealthReport, SshProbes
    from .security import Credential
    from .spec import ClusterSpec

ZOOKEEPER_FOLLOWER = "zookeeper_follower"
ZOOKEEPER_LEADER = "zookeeper_leader"
MESOS_LEADER = "mesos_leader"
ONE_AGENT = "agent"
FAULTS = (ZOOKEEPER_FOLLOWER, ZOOKEEPER_LEADER, MESOS_LEADER, ONE_AGENT)
SERVICE = {
    ZOOKEEPER_FOLLOWER: SERVICES[ROLE_ZOOKEEPER],
    ZOOKEEPER_LEADER: SERVICES[ROLE_ZOOKEEPER],
    MESOS_LEADER: SERVICES[ROLE_MASTER],
    ONE_AGENT: SERVICES[ROLE_AGENT],
}


@dataclass(frozen=True)
class Fault:
    """One fault to inject: stop `service` on `host`; `skip` says why it is not injected."""

    kind: str
    host: str | None = None
    workload_expected: bool = False
    skip: str | None = None

    @property
    def service(self) -> str:
        return SERVICE[self.kind]


@dataclass
class FaultResult:
    """What one fault showed; seconds are measured from the stop (detection, new leader,
    workload) or from the restore (recovery)."""

    fault: str
    host: str | None
    service: str
    skipped: str | None = None
    detected_s: float | None = None
    detected_by: str | None = None
    new_leader: str | None = None
    new_leader_s: float | None = None
    workload_expected: bool = False
    workload_ok_during_outage: bool | None = None
    workload_detail: str | None = None
    recovered_s: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        if self.skipped:
            return True
        workload_fine = not self.workload_expected or self.workload_ok_during_outage is not False
        return (
            self.error is None
            and self.detected_s is not None
            and self.recovered_s is not None
            and workload_fine
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class ChaosReport:
    cluster: str
    faults: list[FaultResult] = field(default_factory=list)
    health: HealthReport | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.health and self.health.healthy) and all(f.ok for f in self.faults)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "ok": self.ok,
            "healthy": bool(self.health and self.health.healthy),
            "faults": [f.to_dict() for f in self.faults],
            "health": self.health.to_dict() if self.health else None,
            "seconds": round(self.seconds, 1),
        }


# ------------------------------------------------------------------- pure decisions


def zookeeper_roles(report: HealthReport) -> tuple[str | None, list[str]]:
    """(leader, followers) by the zookeeper layer's `srvr` modes."""
    modes = {
        c.host: c.detail.split("mode=", 1)[1].split(",", 1)[0]
        for c in report.layer_checks(Layer.ZOOKEEPER)
        if c.name == "mode" and c.ok and c.host and "mode=" in c.detail
    }
    leader = next((h for h, mode in modes.items() if mode == "leader"), None)
    return leader, [h for h, mode in modes.items() if mode == "follower"]


def choose_fault(kind: str, machines: list[Machine], report: HealthReport) -> Fault:
    """Which host to stop for `kind` on this (healthy) cluster, or why the topology cannot
    survive it. A real task is expected to run through every fault the design tolerates."""
    ensemble = [m for m in machines if Role.ZOOKEEPER in m.roles]
    masters = [m for m in machines if Role.MASTER in m.roles]
    agents = [m for m in machines if Role.AGENT in m.roles]
    if kind in (ZOOKEEPER_FOLLOWER, ZOOKEEPER_LEADER):
        if len(ensemble) < 3:
            return Fault(kind, skip=f"a ZooKeeper ensemble of {len(ensemble)} has no spare member")
        leader, followers = zookeeper_roles(report)
        host = leader if kind == ZOOKEEPER_LEADER else (followers[0] if followers else None)
        if host is None:
            return Fault(kind, skip="health names no ZooKeeper " + kind.split("_")[1])
        return Fault(kind, host, workload_expected=bool(agents))
    if kind == MESOS_LEADER:
        if len(masters) < 3:
            return Fault(
                kind,
                skip=f"with {len(masters)} master(s) no other master could take over: "
                "the leader is not stopped",
            )
        if report.leader not in {m.name for m in masters}:
            return Fault(kind, skip=f"the leader {report.leader!r} is not a known master")
        return Fault(kind, report.leader, workload_expected=bool(agents))
    if kind == ONE_AGENT:
        if not agents:
            return Fault(kind, skip="the cluster has no agents")
        # With one agent no task can run while it is down: expected, so not attempted.
        return Fault(kind, agents[-1].name, workload_expected=len(agents) > 1)
    raise ValueError(f"unknown fault {kind!r}")


def names_host(report: HealthReport, host: str) -> str | None:
    """The first failing check that names `host` ("layer check: detail"), if any."""
    for check in report.failures():
        if check.host == host and not check.skipped:
            return f"{check.layer} {check.name}: {check.detail}"
    return None


def new_leader(kind: str, report: HealthReport, old: str) -> str | None:
    if kind == ZOOKEEPER_LEADER:
        leader, _ = zookeeper_roles(report)
    else:
        elected = [
            c for c in report.layer_checks(Layer.MESOS_MASTERS) if c.name == "leader" and c.ok
        ]
        leader = report.leader if elected else None
    return leader if leader and leader != old else None


# ------------------------------------------------------------------- running it


def _poll(
    spec: ClusterSpec,
    machines: list[Machine],
    until: Callable[[HealthReport], Any],
    timeout_s: float,
    *,
    workload: bool = False,
    interval_s: float = 0.5,
    credential: Credential | None = None,
) -> tuple[Any, HealthReport]:
    """Run health passes until `until(report)` is truthy; (its value or None, last report)."""
    from . import health

    deadline = time.monotonic() + timeout_s
    while True:
        report = health.check_cluster(spec, machines, workload=workload, credential=credential)
        value = until(report)
        if value or time.monotonic() >= deadline:
            return value, report
        time.sleep(interval_s)


def _systemctl(ssh: SshProbes, machine: Machine, verb: str, service: str) -> None:
    rc, _out, err = ssh.run(machine, f"sudo -n systemctl {verb} {service}", timeout_s=90)
    if rc != 0:
        raise ProvisionError(
            f"{machine.name}: systemctl {verb} {service} failed (exit {rc}): {err.strip()[:300]}"
        )


@dataclass
class _Stopped:
    """Services stopped and not yet started again (what the `finally` restores)."""

    ssh: SshProbes
    services: list[tuple[Machine, str]] = field(default_factory=list)

    def stop(self, machine: Machine, service: str) -> None:
        self.services.append((machine, service))
        _systemctl(self.ssh, machine, "stop", service)

    def start(self, machine: Machine, service: str) -> None:
        _systemctl(self.ssh, machine, "start", service)
        self.services.remove((machine, service))

    def restore_all(self) -> list[str]:
        errors = []
        for machine, service in list(self.services):
            try:
                self.start(machine, service)
            except Exception as exc:
                errors.append(f"{machine.name} {service}: {exc}")
        return errors


def inject(
    cluster: Cluster,
    machines: list[Machine],
    fault: Fault,
    stopped: _Stopped,
    *,
    standin: bool,
    detect_timeout: float = 60,
    outage_timeout: float = 120,
    recover_timeout: float = 300,
) -> FaultResult:
    """Stop, measure detection / new leader / workload, restore, measure recovery."""
    from . import health

    assert fault.host is not None
    spec, victim = cluster.spec, next(m for m in machines if m.name == fault.host)
    credential = cluster.health_credential()
    result = FaultResult(
        fault.kind, fault.host, fault.service, workload_expected=fault.workload_expected
    )
    cluster.progress(f"chaos: {fault.kind}: stopping {fault.service} on {fault.host}")
    start = time.monotonic()
    stopped.stop(victim, fault.service)
    try:
        seen, _ = _poll(
            spec,
            machines,
            lambda r: names_host(r, victim.name),
            detect_timeout,
            credential=credential,
        )
        if not seen:
            result.error = f"health did not name {victim.name} within {detect_timeout:g}s"
            return result
        result.detected_s, result.detected_by = round(time.monotonic() - start, 1), seen
        cluster.progress(f"chaos: detected after {result.detected_s}s ({seen})")
        if fault.kind in (ZOOKEEPER_LEADER, MESOS_LEADER):
            leader, _ = _poll(
                spec,
                machines,
                lambda r: new_leader(fault.kind, r, victim.name),
                outage_timeout,
                credential=credential,
            )
            if leader:
                result.new_leader, result.new_leader_s = leader, round(time.monotonic() - start, 1)
                cluster.progress(f"chaos: new leader {leader} after {result.new_leader_s}s")
        if fault.workload_expected and standin:
            result.workload_detail = "not run: the Mesos test stand-in runs no tasks"
        elif fault.workload_expected:
            task_ran, last = _poll(
                spec,
                machines,
                lambda r: any(c.ok for c in r.layer_checks(Layer.WORKLOAD)),
                outage_timeout,
                workload=True,
                interval_s=1.0,
                credential=credential,
            )
            result.workload_ok_during_outage = bool(task_ran)
            checks = last.layer_checks(Layer.WORKLOAD)
            result.workload_detail = checks[0].detail if checks else "no workload check ran"
            cluster.progress(
                f"chaos: workload during the outage: {'ok' if task_ran else 'FAILED'} "
                f"({result.workload_detail})"
            )
    finally:
        cluster.progress(f"chaos: restoring {fault.service} on {fault.host}")
        stopped.start(victim, fault.service)
    restored = time.monotonic()
    try:
        health.wait_healthy(
            spec, machines, timeout_s=recover_timeout, interval_s=1.0, credential=credential
        )
        result.recovered_s = round(time.monotonic() - restored, 1)
        cluster.progress(f"chaos: healthy again {result.recovered_s}s after the restore")
    except HealthTimeoutError as exc:
        result.error = f"not healthy {recover_timeout:g}s after the restore: {exc.message}"
    return result


def run_chaos(cluster: Cluster, *, recover_timeout: float = 300) -> ChaosReport:
    """Every fault in turn on a healthy cluster; restores in `finally`; ends with health."""
    from . import health

    started = time.monotonic()
    spec = cluster.spec
    with cluster.store.lock("verify --chaos"):
        machines = recorded_machines(cluster)
        credential = cluster.health_credential()
        report = health.check_cluster(spec, machines, credential=credential)
        if not report.healthy:
            first = report.failures()[0]
            where = " ".join(filter(None, (first.layer, first.host, first.name)))
            raise RefusedError(
                f"cluster {spec.name} is not healthy ({where}: {first.detail}): chaos runs "
                "only on a healthy cluster",
                hint="see `dcos-provision status`; `repair` fixes what it names",
            )
        standin = (report.mesos or {}).get("kind") == "stand-in"
        chaos = ChaosReport(cluster=spec.name)
        ssh = health.SshProbes(machines, known_hosts_file=cluster.known_hosts_file)
        stopped = _Stopped(ssh)
        try:
            for kind in FAULTS:
                fault = choose_fault(kind, machines, report)
                if fault.skip:
                    cluster.progress(f"chaos: {kind}: skipped, {fault.skip}")
                    chaos.faults.append(FaultResult(kind, None, fault.service, skipped=fault.skip))
                    continue
                outcome = inject(
                    cluster,
                    machines,
                    fault,
                    stopped,
                    standin=standin,
                    recover_timeout=recover_timeout,
                )
                chaos.faults.append(outcome)
                if outcome.error:
                    break  # the cluster is not as the next fault expects: stop here
                # leaders may have moved
                report = health.check_cluster(spec, machines, credential=credential)
        finally:
            errors = stopped.restore_all()
            ssh.close()
            if errors:
                cluster.progress("chaos: could NOT restore: " + "; ".join(errors))
            if sys.exc_info()[0] is not None:  # interrupted or failed: still say where we are
                try:
                    health.wait_healthy(
                        spec, machines, timeout_s=45, interval_s=1.0, credential=credential
                    )
                    cluster.progress("health after restoring: healthy")
                except HealthTimeoutError as exc:
                    cluster.progress(f"health after restoring: NOT healthy yet: {exc.message}")
        cluster.progress("health: final check")
        try:
            chaos.health = health.wait_healthy(
                spec, machines, timeout_s=recover_timeout, credential=credential
            )
        except health.HealthWaitTimeout as exc:
            chaos.health = exc.report
        chaos.seconds = time.monotonic() - started
        return chaos
