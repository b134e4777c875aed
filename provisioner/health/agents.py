"""Mesos agents layer: the spec's agents are active on the current leader with the resources
the spec asks for, and each agent itself agrees.

Agent ids are not compared by prefix (real Mesos keeps an agent's id across failovers); the
leader listing the agent as active, from the agent's address, with the id the agent reports,
is the proof that it follows the current leader. `slave/registered=1` alone is not (it only
means a master was detected, MESOS-FACTS §8.8).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..domain import Layer, Machine, Role
from ..ports import MESOS_AGENT_PORT
from ..remote.probes import METRICS_PATH, ProbeError, Probes, get_json
from .masters import MasterFacts
from .parallel import checks_at_once
from .report import CheckResult
from .versions import check_version
from .view import ClusterView, Results, fmt, number, pid_address

LAYER = Layer.MESOS_AGENTS

AGENT_STATE_PATHS = ("/slave(1)/state", "/state")


def check_mesos_agents(view: ClusterView, probes: Probes, facts: MasterFacts) -> list[CheckResult]:
    results = Results(LAYER)
    leader = facts.leader_name or "the leader"
    state = facts.leader_state
    if state is None:
        results.add("active_agents", None, False, f"/master/state of {leader} is unknown")
        return results.checks
    slaves = [s for s in state.get("slaves") or [] if isinstance(s, dict)]
    listed = agents_by_machine(view, slaves)
    recovered = {
        _machine_name(view, None, s.get("hostname"))
        for s in state.get("recovered_slaves") or []
        if isinstance(s, dict)
    }
    expected = [p.name for p in view.expected(Role.AGENT)]
    _check_active(results, state, listed, expected, leader)
    version = view.spec.mesos.version

    def agent_checks(agent: Machine) -> list[Callable[[Results], object]]:
        entry = listed.get(agent.name)
        return [
            lambda found: _check_registered(found, agent, entry, agent.name in recovered, leader),
            lambda found: _check_agent_state(found, probes, agent, entry),
            lambda found: _check_agent_metrics(found, probes, agent),
            lambda found: check_version(found, probes, agent, MESOS_AGENT_PORT, version, "agent"),
            lambda found: _check_resources(found, view, agent, entry),
        ]

    # every agent's probes at once
    checks = [check for agent in view.members(Role.AGENT) for check in agent_checks(agent)]
    results.checks.extend(checks_at_once(LAYER, checks))
    return results.checks


def _machine_name(view: ClusterView, pid: object, hostname: object) -> str:
    """The machine an agent entry belongs to: by the address in its PID (always the agent's
    `--ip`), else by its hostname (whatever `--hostname` or Mesos' own lookup gave, e.g.
    "localhost"); unknown agents keep their hostname."""
    address = pid_address(pid if isinstance(pid, str) else None)
    machine = (view.by_address(address) if address else None) or view.by_host(str(hostname))
    return machine.name if machine else str(hostname)


def agents_by_machine(view: ClusterView, slaves: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Machine name -> the leader's `slaves[]` entry for it."""
    listed: dict[str, dict[str, Any]] = {}
    for entry in slaves:
        listed.setdefault(_machine_name(view, entry.get("pid"), entry.get("hostname")), entry)
    return listed


def _check_active(
    results: Results,
    state: dict[str, Any],
    listed: dict[str, dict[str, Any]],
    expected: list[str],
    leader: str,
) -> None:
    active = sorted(name for name, s in listed.items() if s.get("active") is True)
    inactive = sorted(name for name, s in listed.items() if s.get("active") is not True)
    missing = [name for name in expected if name not in active]
    unexpected = [name for name in active if name not in expected]
    activated = number(state.get("activated_slaves"))
    counted = activated is None or activated == len(expected)
    if not missing and not unexpected and counted:
        results.add(
            "active_agents",
            None,
            True,
            f"{len(active)} active agent(s) on {leader} as in the spec"
            + (f": {', '.join(active)}" if active else ""),
        )
        return
    detail = f"{len(active)} of {len(expected)} agent(s) active on {leader}"
    if missing:
        detail += f"; missing or inactive: {', '.join(missing)}"
    if inactive:
        detail += f"; listed inactive: {', '.join(inactive)}"
    if unexpected:
        detail += f"; not in the spec: {', '.join(unexpected)}"
    if not counted:
        detail += f"; activated_slaves={fmt(activated)}"
    results.add("active_agents", None, False, detail)


def _check_registered(
    results: Results, agent: Machine, entry: dict[str, Any] | None, recovered: bool, leader: str
) -> None:
    if entry is None:
        results.add(
            "registered",
            agent.name,
            False,
            f"not re-registered with {leader} yet (listed in recovered_slaves)"
            if recovered
            else f"not registered with {leader}",
        )
        return
    if entry.get("active") is not True:
        results.add(
            "registered",
            agent.name,
            False,
            f"registered with {leader} but inactive (active={entry.get('active')})",
        )
        return
    address = pid_address(entry.get("pid"))
    if address != agent.cluster_address:
        results.add(
            "registered",
            agent.name,
            False,
            f"{leader} lists it from {address} ({entry.get('pid')}), "
            f"expected {agent.cluster_address}",
        )
        return
    results.add("registered", agent.name, True, f"active on {leader} as {entry.get('id')}")


def _check_agent_state(
    results: Results, probes: Probes, agent: Machine, entry: dict[str, Any] | None
) -> None:
    status, data = 0, None
    try:
        for path in AGENT_STATE_PATHS:
            status, data = get_json(probes, agent.address, MESOS_AGENT_PORT, path)
            if status != 404:
                break
    except ProbeError as exc:
        results.add("state", agent.name, False, f"down: port {MESOS_AGENT_PORT} {exc}")
        return
    if status == 503:
        results.add("state", agent.name, False, "/state 503: agent has not finished recovery")
        return
    if status != 200 or not isinstance(data, dict):
        results.add("state", agent.name, False, f"/state answered {status}")
        return
    agent_id = data.get("id") or ""
    master = data.get("master_hostname")
    seen = f" (master_hostname {master})" if master else ""
    if not agent_id:
        results.add("state", agent.name, False, f"agent id is empty: not registered yet{seen}")
    elif entry is not None and entry.get("id") != agent_id:
        results.add(
            "state",
            agent.name,
            False,
            f"agent id {agent_id}, but the leader lists {entry.get('id')}{seen}",
        )
    else:
        results.add("state", agent.name, True, f"id {agent_id}{seen}")


def _check_agent_metrics(results: Results, probes: Probes, agent: Machine) -> None:
    try:
        status, data = get_json(probes, agent.address, MESOS_AGENT_PORT, METRICS_PATH)
    except ProbeError as exc:
        results.add("slave_registered", agent.name, False, f"/metrics/snapshot: {exc}")
        return
    if status != 200 or not isinstance(data, dict):
        results.add("slave_registered", agent.name, False, f"/metrics/snapshot answered {status}")
        return
    registered = number(data.get("slave/registered"))
    results.add(
        "slave_registered",
        agent.name,
        registered == 1,
        f"slave/registered={fmt(registered)}"
        + ("" if registered == 1 else ", expected 1 (no leading master detected)"),
    )


def _check_resources(
    results: Results, view: ClusterView, agent: Machine, entry: dict[str, Any] | None
) -> None:
    if entry is None:
        results.add("resources", agent.name, False, "unknown: the leader does not list it")
        return
    want = view.spec.agents.effective_resources
    have = entry.get("resources") or {}
    shown, wrong = [], []
    for key, wanted in (("cpus", want.cpus), ("mem", want.mem), ("disk", want.disk)):
        got = number(have.get(key))
        shown.append(f"{key}={fmt(got)}")
        if got is None or abs(got - float(wanted)) > 1e-6:
            wrong.append(f"{key}={fmt(got)}, expected {fmt(float(wanted))}")
    ports = have.get("ports")
    if isinstance(ports, str) and ports.replace(" ", "") != want.ports.replace(" ", ""):
        wrong.append(f"ports={ports}, expected {want.ports}")
    results.add(
        "resources",
        agent.name,
        not wrong,
        "; ".join(wrong) if wrong else " ".join(shown) + " as in the spec",
    )
