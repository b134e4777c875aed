"""Mesos masters layer: all up, one elected leader that ZooKeeper agrees on, registry recovered.

Follows MESOS-FACTS §3-§5: `/master/health`, `/metrics/snapshot` (`master/elected`,
`registrar/log/recovered`), `/master/flags`, `/master/redirect`, the leader's `/master/state`
and the `json.info_*` members of the `/mesos` znode (lowest sequence = leader).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..domain import MESOS_ZNODE, Layer, Machine, Role
from ..ports import MESOS_MASTER_PORT, ZOOKEEPER_CLIENT_PORT
from ..remote.probes import (
    METRICS_PATH,
    HttpAnswer,
    ProbeError,
    Probes,
    get_json,
    header,
    parse_json,
)
from ..topology import mesos_quorum
from .parallel import checks_at_once, each
from .report import CheckResult
from .versions import check_version
from .view import ClusterView, Results, fmt, number

LAYER = Layer.MESOS_MASTERS

#: Checks the agents layer needs: a single leader everyone agrees on, with its registry.
GATE = ("elected", "leader", "registry")
_SEQUENCE = re.compile(r"(\d+)$")


@dataclass
class MasterFacts:
    """What the agents layer needs to know about the leader."""

    leader: Machine | None = None
    leader_pid: str | None = None
    leader_state: dict[str, Any] | None = None
    #: {"kind": "real" | "stand-in", "version": ...} from the leader's /version.
    mesos: dict[str, str] | None = None

    @property
    def leader_name(self) -> str | None:
        if self.leader is not None:
            return self.leader.name
        return self.leader_pid


@dataclass
class ZnodeView:
    members: dict[str, str | None]  # json.info_* name -> pid (None if unreadable)
    lowest: tuple[str, str | None] | None  # (name, pid) of the lowest sequence number
    error: str | None = None


def read_znodes(view: ClusterView, probes: Probes) -> ZnodeView:
    hosts = [f"{m.address}:{ZOOKEEPER_CLIENT_PORT}" for m in view.members(Role.ZOOKEEPER)]
    try:
        children = probes.zk_children(hosts, MESOS_ZNODE)
    except ProbeError as exc:
        return ZnodeView({}, None, f"cannot read {MESOS_ZNODE} in ZooKeeper: {exc}")
    except Exception as exc:  # a misbehaving probe must not end the whole pass
        return ZnodeView({}, None, f"cannot read {MESOS_ZNODE} in ZooKeeper: {exc!r}")
    members: dict[str, str | None] = {}
    numbered: list[tuple[int, str, str | None]] = []
    for name, data in children.items():
        match = _SEQUENCE.search(name)
        if not match:
            continue  # log_replicas and other unnumbered children take no part in elections
        pid = _znode_pid(name, data)
        numbered.append((int(match.group(1)), name, pid))
        if name.startswith("json.info_"):
            members[name] = pid
    numbered.sort()
    lowest = (numbered[0][1], numbered[0][2]) if numbered else None
    return ZnodeView(dict(sorted(members.items())), lowest)


def _znode_pid(name: str, data: bytes) -> str | None:
    if name.startswith("json.info_"):
        try:
            pid = json.loads(data.decode("utf-8")).get("pid")
        except (UnicodeDecodeError, ValueError, AttributeError):
            return None
        return pid if isinstance(pid, str) else None
    if name.startswith("info_"):
        return None  # binary MasterInfo written by Mesos < 0.24
    return data.decode("utf-8", "replace").strip() or None


def redirect_target(location: str | None) -> str | None:
    """ "//demo-master-1:5050/x" or "http://h:5050" -> "demo-master-1:5050"."""
    if not location:
        return None
    rest = location.split("//", 1)[1] if "//" in location else location
    return rest.split("/", 1)[0] or None


def check_mesos_masters(view: ClusterView, probes: Probes) -> tuple[list[CheckResult], MasterFacts]:
    results = Results(LAYER)
    facts = MasterFacts()
    count = len(view.expected(Role.MASTER))
    quorum = mesos_quorum(count)
    masters = view.members(Role.MASTER)
    version = view.spec.mesos.version
    metrics: dict[str, dict[str, Any]] = {}

    def running_checks(master: Machine) -> list[Callable[[Results], object]]:
        def read_metrics(found: Results) -> None:
            metrics[master.name] = _master_metrics(found, probes, master)

        return [
            read_metrics,
            lambda found: check_version(
                found, probes, master, MESOS_MASTER_PORT, version, "master"
            ),
            lambda found: _check_quorum_flag(found, probes, master, quorum, count),
        ]

    # Every master at once, then every running one's metrics, version and flags at once; the
    # /mesos znodes meanwhile.
    with ThreadPoolExecutor(max_workers=1) as side:
        reading = side.submit(read_znodes, view, probes)
        health = each(masters, lambda master: _check_health(probes, master))
        results.checks.extend(health)
        running = [master for master, check in zip(masters, health, strict=True) if check.ok]
        checks = [check for master in running for check in running_checks(master)]
        results.checks.extend(checks_at_once(LAYER, checks))
    znodes = reading.result()

    if len(running) >= quorum:
        results.add(
            "quorum", None, True, f"{len(running)} of {count} masters running, quorum {quorum}"
        )
    else:
        down = [m.name for m in masters if m not in running]
        results.add(
            "quorum",
            None,
            False,
            f"quorum lost: {len(running)} of {count} masters running, quorum {quorum}"
            + (f" (down: {', '.join(down)})" if down else ""),
        )

    elected = [m for m in running if number(metrics[m.name].get("master/elected")) == 1]
    if len(elected) == 1:
        facts.leader = elected[0]
        results.add("elected", elected[0].name, True, f"{elected[0].name} reports master/elected=1")
    elif not elected:
        results.add(
            "elected",
            None,
            False,
            "no master reports master/elected=1 (no leader elected"
            + (")" if running else "; no master is running)"),
        )
    else:
        results.add(
            "elected",
            None,
            False,
            f"{len(elected)} masters report master/elected=1: "
            + ", ".join(m.name for m in elected),
        )

    _check_registry(results, view, facts, metrics, len(running), quorum, count)
    # The leader's state and build, every running master's redirect: all at once.
    asked = [(m.address, "/master/redirect") for m in running]
    if facts.leader is not None:
        asked += [(facts.leader.address, "/master/state"), (facts.leader.address, "/version")]
    got = dict(zip(asked, each(asked, lambda request: _ask(probes, *request)), strict=True))
    _check_leader(results, view, facts, znodes, got)
    if facts.leader is not None:
        facts.mesos = mesos_build(got[(facts.leader.address, "/version")])
    _check_znodes(results, view, znodes, running)
    for master in running:
        _check_redirect(results, view, master, facts, got[(master.address, "/master/redirect")])
    return results.checks, facts


def _check_health(probes: Probes, master: Machine) -> CheckResult:
    """Its /master/health: ok (running) when it answers 200."""
    try:
        status, _headers, _body = probes.http_get(
            master.address, MESOS_MASTER_PORT, "/master/health"
        )
    except ProbeError as exc:
        return CheckResult(
            LAYER, "health", master.name, False, f"down: port {MESOS_MASTER_PORT} {exc}"
        )
    return CheckResult(
        LAYER,
        "health",
        master.name,
        status == 200,
        "/master/health 200"
        if status == 200
        else f"/master/health answered {status}, expected 200",
    )


def _ask(probes: Probes, address: str, path: str) -> HttpAnswer | ProbeError:
    """A master's answer to GET path, or what was observed instead."""
    try:
        return probes.http_get(address, MESOS_MASTER_PORT, path)
    except ProbeError as exc:
        return exc


def mesos_build(answer: HttpAnswer | ProbeError) -> dict[str, str] | None:
    """What a master runs, from its `/version` answer: the stand-in adds a "standin" key (not
    Mesos)."""
    if isinstance(answer, ProbeError) or answer[0] != 200:
        return None
    try:
        data = parse_json(answer[2], "/version")
    except ProbeError:
        return None
    if not isinstance(data, dict):
        return None
    kind = "stand-in" if "standin" in data else "real"
    return {"kind": kind, "version": str(data.get("version", "unknown"))}


def _master_metrics(results: Results, probes: Probes, master: Machine) -> dict[str, Any]:
    try:
        status, data = get_json(probes, master.address, MESOS_MASTER_PORT, METRICS_PATH)
    except ProbeError as exc:
        results.add("metrics", master.name, False, f"/metrics/snapshot: {exc}")
        return {}
    if status != 200 or not isinstance(data, dict):
        results.add("metrics", master.name, False, f"/metrics/snapshot answered {status}")
        return {}
    results.add(
        "metrics",
        master.name,
        True,
        f"master/elected={fmt(number(data.get('master/elected')))}, "
        f"registrar/log/recovered={fmt(number(data.get('registrar/log/recovered')))}",
    )
    return data


def _check_quorum_flag(
    results: Results, probes: Probes, master: Machine, quorum: int, count: int
) -> None:
    try:
        status, data = get_json(probes, master.address, MESOS_MASTER_PORT, "/master/flags")
    except ProbeError as exc:
        results.add("quorum_flag", master.name, False, f"/master/flags: {exc}")
        return
    flags = data.get("flags", {}) if isinstance(data, dict) else {}
    value = flags.get("quorum")
    if status != 200:
        results.add("quorum_flag", master.name, False, f"/master/flags answered {status}")
    elif value == str(quorum):
        results.add("quorum_flag", master.name, True, f"--quorum={value}")
    else:
        results.add(
            "quorum_flag",
            master.name,
            False,
            f"--quorum={value or 'unset'}, expected {quorum} for {count} masters",
        )


def _check_registry(
    results: Results,
    view: ClusterView,
    facts: MasterFacts,
    metrics: dict[str, dict[str, Any]],
    running: int,
    quorum: int,
    count: int,
) -> None:
    if facts.leader is None:
        results.add("registry", None, False, "no single elected master to ask")
        return
    if view.spec.mesos.master_flags.get("registry") == "in_memory":
        results.add("registry", facts.leader.name, True, "in_memory registry (no log)")
        return
    recovered = number(metrics[facts.leader.name].get("registrar/log/recovered"))
    if recovered == 1:
        results.add("registry", facts.leader.name, True, "registrar/log/recovered=1")
        return
    why = (
        f"; the replicated log needs {quorum} of {count} masters, {running} running"
        if running < quorum
        else ""
    )
    results.add(
        "registry",
        facts.leader.name,
        False,
        f"registrar/log/recovered={fmt(recovered)}: the leader has not recovered the registry{why}",
    )


def _check_leader(
    results: Results,
    view: ClusterView,
    facts: MasterFacts,
    znodes: ZnodeView,
    got: dict[tuple[str, str], HttpAnswer | ProbeError],
) -> None:
    """The elected master, its own /master/state (in `got`) and ZooKeeper's lowest member
    agree."""
    leader = facts.leader
    if leader is None:
        seen = ""
        if znodes.lowest:
            name, pid = znodes.lowest
            seen = f"; ZooKeeper's lowest {MESOS_ZNODE}/{name} is {pid} ({view.name_of_pid(pid)})"
        results.add("leader", None, False, "no single elected master" + seen)
        return
    facts.leader_pid = f"master@{leader.cluster_address}:{MESOS_MASTER_PORT}"
    problems = []
    answer = got[(leader.address, "/master/state")]
    if isinstance(answer, ProbeError):
        problems.append(f"its /master/state: {answer}")
    else:
        problems += _read_state(facts, answer)
    state = facts.leader_state or {}
    if state:
        facts.leader_pid = state.get("pid") or facts.leader_pid
        if state.get("leader") != state.get("pid"):
            problems.append(
                f"its /master/state names leader {state.get('leader')}, itself {state.get('pid')}"
            )
    if znodes.error:
        problems.append(znodes.error)
    elif znodes.lowest is None:
        problems.append(f"no master member (json.info_*) in ZooKeeper {MESOS_ZNODE}")
    elif znodes.lowest[1] != facts.leader_pid:
        name, pid = znodes.lowest
        problems.append(
            f"ZooKeeper's lowest {MESOS_ZNODE}/{name} is {pid} "
            f"({view.name_of_pid(pid) or 'unknown machine'}), "
            f"not the elected {leader.name}"
        )
    if problems:
        results.add(
            "leader",
            leader.name,
            False,
            f"elected {leader.name} ({facts.leader_pid}), but " + "; ".join(problems),
        )
    else:
        assert znodes.lowest is not None  # no problems: ZooKeeper named the elected leader
        results.add(
            "leader",
            leader.name,
            True,
            f"{facts.leader_pid}: master/elected, /master/state and "
            f"ZooKeeper {MESOS_ZNODE}/{znodes.lowest[0]} agree",
        )


def _read_state(facts: MasterFacts, answer: HttpAnswer) -> list[str]:
    """Keeps the leader's /master/state in `facts`; the problems with its answer."""
    status, headers, body = answer
    if status != 200:
        target = redirect_target(header(headers, "location"))
        return [
            f"its /master/state answered {status}" + (f" pointing to {target}" if target else "")
        ]
    try:
        state = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [f"its /master/state is not JSON ({exc})"]
    if not isinstance(state, dict):
        return ["its /master/state is not a JSON object"]
    facts.leader_state = state
    return []


def _check_znodes(
    results: Results, view: ClusterView, znodes: ZnodeView, running: list[Machine]
) -> None:
    """One json.info_* member per running master: no stale (dead) or missing contenders."""
    if znodes.error:
        results.add("znodes", None, False, znodes.error)
        return
    owners = {name: view.name_of_pid(pid) or str(pid) for name, pid in znodes.members.items()}
    listed = ", ".join(f"{name}={owner}" for name, owner in owners.items()) or "none"
    running_names = {m.name for m in running}
    stale = sorted(set(owners.values()) - running_names)
    absent = sorted(running_names - set(owners.values()))
    ok = len(owners) == len(running) and not stale and not absent
    detail = f"{len(owners)} json.info_* member(s) for {len(running)} running master(s): {listed}"
    if stale:
        detail += f"; not running: {', '.join(stale)}"
    if absent:
        detail += f"; running but not contending: {', '.join(absent)}"
    results.add("znodes", None, ok, detail)


def _check_redirect(
    results: Results,
    view: ClusterView,
    master: Machine,
    facts: MasterFacts,
    answer: HttpAnswer | ProbeError,
) -> None:
    if isinstance(answer, ProbeError):
        results.add("redirect", master.name, False, f"/master/redirect: {answer}")
        return
    status, headers, _body = answer
    target = redirect_target(header(headers, "location"))
    if status == 503:
        results.add("redirect", master.name, False, "/master/redirect 503: no leader elected")
        return
    if status != 307 or not target:
        results.add(
            "redirect",
            master.name,
            False,
            f"/master/redirect answered {status}, expected 307 with a Location",
        )
        return
    if facts.leader is None:
        results.add(
            "redirect",
            master.name,
            False,
            f"redirects to //{target}, but no single master is elected",
        )
        return
    info = (facts.leader_state or {}).get("leader_info") or {}
    expected = (
        f"{info.get('hostname') or facts.leader.name}:{info.get('port') or MESOS_MASTER_PORT}"
    )
    host, _, port = target.rpartition(":")
    same_machine = view.by_host(host) == facts.leader and port == str(MESOS_MASTER_PORT)
    ok = target == expected or same_machine
    results.add(
        "redirect",
        master.name,
        ok,
        f"redirects to //{target}"
        if ok
        else f"redirects to //{target}, but {facts.leader.name} leads ({expected})",
    )
