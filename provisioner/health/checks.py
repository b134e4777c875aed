"""One pass of the layered checks: reachability -> zookeeper -> mesos_masters -> mesos_agents.

A layer runs only when the checks the next layer depends on (its gate) passed; otherwise its
result is one failed "skipped: <layer> failed" check. Gates are narrower than "every check
ok" so that, e.g., one dead ZooKeeper member or one stopped master is reported while the
layers above still show whether the cluster works on the quorum that is left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..domain import Layer, Machine
from ..remote.probes import DirectProbes, ProbeError, Probes, StreamProbes
from ..security import Credential
from ..spec import ClusterSpec
from . import masters, zookeeper
from .agents import check_mesos_agents
from .masters import MasterFacts, check_mesos_masters
from .parallel import each
from .report import LAYERS, SKIPPED_PREFIX, CheckResult, HealthReport
from .security import FirewallReads, HostCommands, check_security
from .view import ClusterView, Results
from .workload import TASK_USER, check_workload
from .zookeeper import check_zookeeper

#: Names of the checks in each layer that must pass for the next layer to run (None: all).
GATES: dict[Layer, Sequence[str] | None] = {
    Layer.REACHABILITY: None,
    Layer.ZOOKEEPER: zookeeper.GATE,
    Layer.MESOS_MASTERS: masters.GATE,
    Layer.MESOS_AGENTS: None,
}
#: The layer each layer needs (default: the one before it in LAYERS).
NEEDS: dict[Layer, Layer] = {
    Layer.WORKLOAD: Layer.MESOS_MASTERS,
    Layer.SECURITY: Layer.MESOS_MASTERS,
}


def workload_user(spec: ClusterSpec) -> str:
    """The workload task's user: `nobody` unless the spec's run_tasks ACL leaves it out."""
    users = spec.security.task_users
    if not spec.security.acls or TASK_USER in users:
        return TASK_USER
    return users[0]


def make_probes(
    machines: list[Machine],
    via_ssh: bool,
    credential: Credential | None = None,
    known_hosts_file: str | None = None,
) -> Probes:
    """Direct or SSH probes; HTTP requests authenticate as `credential` when given. SSH
    checks strict machines' host keys against ``known_hosts_file`` (the state directory's)."""
    probes: StreamProbes
    if via_ssh:
        from ..remote.ssh import SshProbes

        probes = SshProbes(machines, known_hosts_file=known_hosts_file)
    else:
        probes = DirectProbes()
    probes.http_auth = credential.basic_auth() if credential and credential.principal else None
    probes.tls = credential.tls if credential else None
    return probes


def check_cluster(
    spec: ClusterSpec,
    machines: list[Machine],
    *,
    via_ssh: bool = False,
    probes: Probes | None = None,
    workload: bool = False,
    credential: Credential | None = None,
    security: bool = False,
    hosts: HostCommands | None = None,
    known_hosts_file: str | None = None,
    view: ClusterView | None = None,
) -> HealthReport:
    """Run every layer once; probe failures become failed checks, never exceptions.
    `workload` adds the workload layer (a real task through the scheduler API), `security`
    the security layer (`hosts` reads each host's firewall over SSH); `credential`
    authenticates the HTTP requests and the task. `view` is the spec matched to `machines`
    when the caller has it already."""
    own_probes = probes is None
    active = (
        probes
        if probes is not None
        else make_probes(machines, via_ssh, credential, known_hosts_file)
    )
    try:
        return run_checks(
            spec,
            machines,
            active,
            workload=workload,
            credential=credential,
            security=security,
            hosts=hosts,
            view=view,
        )
    finally:
        if own_probes:
            active.close()


def run_checks(
    spec: ClusterSpec,
    machines: list[Machine],
    probes: Probes,
    *,
    workload: bool = False,
    credential: Credential | None = None,
    security: bool = False,
    hosts: HostCommands | None = None,
    view: ClusterView | None = None,
) -> HealthReport:
    """One pass of the layers with these probes; `view` (built from `spec` and `machines`
    when not given) is what a health wait builds once for all its polls."""
    if view is None:
        view = ClusterView(spec, list(machines))
    report = HealthReport(cluster=spec.name)
    facts = MasterFacts()
    # The firewall reads (an SSH login per host, the slowest probes) run while the layers
    # before security do; a skipped security layer leaves them unread.
    firewall = FirewallReads(view, hosts) if security and hosts is not None else None

    def masters_layer() -> list[CheckResult]:
        checks, found = check_mesos_masters(view, probes)
        facts.leader, facts.leader_pid = found.leader, found.leader_pid
        facts.leader_state = found.leader_state
        facts.mesos = found.mesos
        return checks

    def workload_layer() -> list[CheckResult]:
        return check_workload(
            facts.leader.address if facts.leader else None,
            probes.open_stream,
            standin=(facts.mesos or {}).get("kind") == "stand-in",
            agent_name=view.name_of_host,
            credential=credential,
            user=workload_user(spec),
        )

    runners: dict[Layer, Callable[[], list[CheckResult]]] = {
        Layer.REACHABILITY: lambda: check_reachability(view, probes),
        Layer.ZOOKEEPER: lambda: check_zookeeper(view, probes),
        Layer.MESOS_MASTERS: masters_layer,
        Layer.MESOS_AGENTS: lambda: check_mesos_agents(view, probes, facts),
        Layer.WORKLOAD: workload_layer,
        Layer.SECURITY: lambda: check_security(view, probes, facts, hosts, firewall),
    }
    layers = (
        LAYERS + ((Layer.WORKLOAD,) if workload else ()) + ((Layer.SECURITY,) if security else ())
    )
    try:
        run_layers(report, layers, runners)
    finally:
        if firewall is not None:
            firewall.close()
    report.leader = facts.leader_name
    report.mesos = facts.mesos
    return report


def run_layers(
    report: HealthReport,
    layers: Sequence[Layer],
    runners: dict[Layer, Callable[[], list[CheckResult]]],
) -> None:
    """Each layer in turn, into `report`; one whose needed layer failed is skipped."""
    blocked: dict[Layer, Layer] = {}  # layer -> the layer whose failure blocks what needs it
    for number, layer in enumerate(layers):
        needed = NEEDS.get(layer, layers[number - 1] if number else None)
        if needed is not None and needed in blocked:
            report.checks.append(
                CheckResult(
                    layer, "skipped", None, False, f"{SKIPPED_PREFIX}{blocked[needed]} failed"
                )
            )
            blocked[layer] = blocked[needed]
            continue
        try:
            checks = runners[layer]()
        except Exception as exc:  # a bug or an odd answer must still give a report
            checks = [
                CheckResult(
                    layer, "internal", None, False, f"check crashed: {type(exc).__name__}: {exc}"
                )
            ]
        report.checks.extend(checks)
        if not gate_passes(layer, checks):
            blocked[layer] = layer


def gate_passes(layer: Layer, checks: list[CheckResult]) -> bool:
    gate = GATES.get(layer)
    chosen = [c for c in checks if gate is None or c.name in gate or c.name == "internal"]
    return bool(chosen) and all(c.ok for c in chosen)


def check_reachability(view: ClusterView, probes: Probes) -> list[CheckResult]:
    """Every machine of the spec exists and answers on its SSH port (in parallel)."""
    results = Results(Layer.REACHABILITY)

    def probe(machine: Machine) -> str | None:
        try:
            probes.tcp(machine.address, machine.ssh_port)
        except ProbeError as exc:
            return str(exc)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    existing = [view.by_name[p.name] for p in view.planned if p.name in view.by_name]
    errors = dict(zip([m.name for m in existing], each(existing, probe), strict=True))
    for planned in view.planned:
        machine = view.by_name.get(planned.name)
        if machine is None:
            results.add(
                "ssh", planned.name, False, "not among the cluster's machines (not created yet?)"
            )
            continue
        error = errors[machine.name]
        where = f"{machine.address}:{machine.ssh_port}"
        results.add(
            "ssh",
            machine.name,
            error is None,
            f"{where} answers" if error is None else f"{where} {error}",
        )
    return results.checks
