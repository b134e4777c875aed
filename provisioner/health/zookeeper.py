"""ZooKeeper layer: every member serves, one leader, followers in sync, members as in the spec.

Uses the four-letter words `ruok`, `srvr` and `mntr` (the ZooKeeper role must list them in
`4lw.commands.whitelist`; ZooKeeper 3.5+ allows only `srvr` by default).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import Layer, Machine, Role
from ..ports import ZOOKEEPER_CLIENT_PORT
from ..remote.probes import ProbeError, Probes
from ..topology import majority
from .parallel import each
from .report import CheckResult
from .view import ClusterView, Results

LAYER = Layer.ZOOKEEPER

#: Checks the Mesos layers need to pass before they can mean anything.
GATE = ("leader", "quorum")
ENSEMBLE_MODES = ("leader", "follower")


@dataclass
class MemberAnswer:
    """What one member said to `srvr` (mode) or why it said nothing useful (observation)."""

    mode: str | None
    observation: str


def four_letter_problem(command: str, answer: str) -> str | None:
    """The observation for an answer that is not data (not whitelisted, not serving, empty)."""
    text = answer.strip()
    if not text:
        return f"empty answer to '{command}'"
    if "not in the whitelist" in text:
        return f"'{command}' is not in 4lw.commands.whitelist on this member"
    if "not currently serving requests" in text:
        return "not serving requests (no quorum: it cannot reach enough members)"
    return None


def parse_srvr(answer: str) -> MemberAnswer:
    problem = four_letter_problem("srvr", answer)
    if problem:
        return MemberAnswer(None, problem)
    for line in answer.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Mode":
            mode = value.strip()
            return MemberAnswer(mode, f"mode={mode}")
    return MemberAnswer(None, f"no Mode line in the answer to 'srvr': {answer.strip()[:80]!r}")


def parse_mntr(answer: str) -> dict[str, str]:
    problem = four_letter_problem("mntr", answer)
    if problem:
        raise ProbeError(problem)
    values = {}
    for line in answer.splitlines():
        key, _, value = line.partition("\t")
        if key:
            values[key.strip()] = value.strip()
    return values


def _int(values: dict[str, str], *keys: str) -> int | None:
    """The first of `keys` present (3.8 says zk_learners where 3.4 said zk_followers)."""
    for key in keys:
        if key in values:
            try:
                return int(float(values[key]))
            except ValueError:
                return None
    return None


def check_zookeeper(view: ClusterView, probes: Probes) -> list[CheckResult]:
    results = Results(LAYER)
    expected = view.expected(Role.ZOOKEEPER)
    members = view.members(Role.ZOOKEEPER)
    size = len(expected)
    answers: dict[str, MemberAnswer] = {}
    asked = each(members, lambda member: _ask(probes, member))  # every member at once
    for member, (ruok, answer) in zip(members, asked, strict=True):
        results.checks.append(ruok)
        answers[member.name] = answer

    leaders = [name for name, answer in answers.items() if answer.mode == "leader"]
    for member in members:
        answer = answers[member.name]
        if size == 1:
            results.add(
                "mode",
                member.name,
                answer.mode == "standalone",
                answer.observation
                if answer.mode == "standalone"
                else f"{answer.observation}, expected standalone (ensemble of 1)",
            )
            continue
        ok = answer.mode in ENSEMBLE_MODES
        wanted = "follower" if leaders and member.name not in leaders else "leader or follower"
        results.add(
            "mode",
            member.name,
            ok,
            answer.observation if ok else f"{answer.observation}, expected {wanted}",
        )

    serving_mode = ("standalone",) if size == 1 else ENSEMBLE_MODES
    serving = [name for name, answer in answers.items() if answer.mode in serving_mode]
    _check_leader(results, answers, leaders, size)
    need = majority(size)
    if len(serving) >= need:
        results.add(
            "quorum", None, True, f"{len(serving)} of {size} members serving, quorum {need}"
        )
    else:
        results.add(
            "quorum",
            None,
            False,
            f"quorum lost: {len(serving)} of {size} members serving, quorum {need}",
        )

    leader_metrics: dict[str, str] | None = None
    leader_error = "no single leader to ask"
    if size > 1 and len(leaders) == 1:
        leader = view.by_name[leaders[0]]
        try:
            leader_metrics = parse_mntr(probes.four_letter(leader.address, "mntr"))
        except ProbeError as exc:
            leader_error = f"'mntr' on the leader: {exc}"
        synced = _int(leader_metrics or {}, "zk_synced_followers")
        if leader_metrics is None:
            results.add("synced_followers", leader.name, False, leader_error)
        else:
            results.add(
                "synced_followers",
                leader.name,
                synced == size - 1,
                f"zk_synced_followers={synced if synced is not None else 'absent'}"
                + ("" if synced == size - 1 else f", expected {size - 1}"),
            )
    _check_membership(results, view, answers, serving, leader_metrics, leader_error)
    return results.checks


def _ask(probes: Probes, member: Machine) -> tuple[CheckResult, MemberAnswer]:
    """The member's `ruok` check and its answer to `srvr`."""
    found = Results(LAYER)
    try:
        ruok = probes.four_letter(member.address, "ruok").strip()
        problem = four_letter_problem("ruok", ruok)
        detail = problem or (
            "imok" if ruok == "imok" else f"answered {ruok[:40]!r}, expected 'imok'"
        )
        found.add("ruok", member.name, ruok == "imok", detail)
    except ProbeError as exc:
        found.add("ruok", member.name, False, f"down: port {ZOOKEEPER_CLIENT_PORT} {exc}")
    try:
        answer = parse_srvr(probes.four_letter(member.address, "srvr"))
    except ProbeError as exc:
        answer = MemberAnswer(None, f"down: port {ZOOKEEPER_CLIENT_PORT} {exc}")
    return found.checks[0], answer


def _check_leader(
    results: Results, answers: dict[str, MemberAnswer], leaders: list[str], size: int
) -> None:
    modes = ", ".join(f"{name}: {answer.observation}" for name, answer in answers.items())
    if size == 1:
        ok = any(answer.mode == "standalone" for answer in answers.values())
        results.add(
            "leader",
            next(iter(answers), None),
            ok,
            "standalone (ensemble of 1)" if ok else f"no standalone server ({modes})",
        )
    elif len(leaders) == 1:
        results.add("leader", leaders[0], True, f"{leaders[0]} leads the ensemble")
    elif not leaders:
        results.add("leader", None, False, f"no leader ({modes or 'no member answered'})")
    else:
        results.add(
            "leader", None, False, f"{len(leaders)} leaders: {', '.join(leaders)} (split ensemble)"
        )


def _check_membership(
    results: Results,
    view: ClusterView,
    answers: dict[str, MemberAnswer],
    serving: list[str],
    leader_metrics: dict[str, str] | None,
    leader_error: str,
) -> None:
    """Members answering (and the leader's counts) equal the spec's ensemble."""
    expected = view.expected(Role.ZOOKEEPER)
    size = len(expected)
    problems = []
    for planned in expected:
        machine = view.by_name.get(planned.name)
        if machine is None:
            problems.append(f"{planned.name} (id {planned.zookeeper_id}) does not exist")
        elif machine.zookeeper_id != planned.zookeeper_id:
            problems.append(
                f"{planned.name} has id {machine.zookeeper_id}, spec says {planned.zookeeper_id}"
            )
    silent = [p.name for p in expected if p.name in answers and p.name not in serving]
    if silent:
        problems.append("not serving: " + ", ".join(silent))
    if size > 1:
        if leader_metrics is None:
            problems.append(f"leader view unknown ({leader_error})")
        else:
            voting = _int(leader_metrics, "zk_quorum_size")
            learners = _int(leader_metrics, "zk_learners", "zk_followers")
            if voting is not None and voting != size:
                problems.append(
                    f"the leader counts {voting} voting members (zk_quorum_size), spec has {size}"
                )
            if learners is not None and learners != size - 1:
                problems.append(
                    f"{learners} followers connected to the leader, expected {size - 1}"
                )
    ids = ",".join(str(p.zookeeper_id) for p in expected)
    if problems:
        results.add("membership", None, False, "; ".join(problems))
    else:
        results.add(
            "membership",
            None,
            True,
            f"{size} member(s) as in the spec (ids {ids}): " + ", ".join(p.name for p in expected),
        )
