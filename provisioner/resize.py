"""Quorum-safe change of the master count (pure: steps, refusals, per-step inventories).

With `zookeeper.placement: masters` every master is also a ZooKeeper member, so a new count
changes both the ensemble and the Mesos replicated log. Neither may be changed all at once:

- Mesos quorums change by one at a time (operational guide, "Changing the master quorum"), so
  1 -> 5 runs as the stages 1 -> 3 -> 5 and 5 -> 1 as 5 -> 3 -> 1;
- each stage is a few steps of `resize_masters.yml` (its header documents the sequence), run
  one by one by `resize_run.py`, which gates on health in between and records in state.json
  how many steps are done, so an interrupted `up` continues where it stopped.

Growth: prepare (base system everywhere), then per stage ZooKeeper and Mesos, then finish
(agents). Shrink: per stage one retire step per leaving master (highest id first: stop it for
good), ZooKeeper and Mesos, then finish, then the leaving machines are destroyed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, NamedTuple

from .domain import Machine, PlannedMachine, Role, core_names
from .errors import QuorumError
from .spec import ClusterSpec, StaticProviderSpec
from .state import ClusterState
from .topology import machine_name, majority, mesos_quorum, plan_machines

PLAYBOOK = "resize_masters.yml"
MESOS_GATE = "gated on an elected leader and registrar/log/recovered 1"
#: Keys of state.applied that record a resize in progress.
FROM, TO, DONE = "resize_from", "resize_to", "resize_done"


class ResizePhase(StrEnum):
    """What one step of a resize does (see the module docstring); recorded in state.json."""

    PREPARE = "prepare"
    RETIRE = "retire"
    ZOOKEEPER = "zookeeper"
    MASTERS = "masters"
    FINISH = "finish"


@dataclass(frozen=True)
class ResizeStep:
    """One run of resize_masters.yml; `before`/`after` are the master counts of its stage."""

    index: int
    phase: ResizePhase
    before: int
    after: int
    hosts: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Resize:
    """A master-count change: all its steps and how many of them are done."""

    cluster: str
    old: int
    new: int
    steps: tuple[ResizeStep, ...]
    done: int = 0

    @property
    def pending(self) -> tuple[ResizeStep, ...]:
        return self.steps[self.done :]

    @property
    def leaving(self) -> list[str]:
        """Masters that leave the cluster, highest id first (destroyed at the end)."""
        return masters(self.cluster, self.old)[self.new :][::-1]


def masters(cluster: str, count: int) -> list[str]:
    return [machine_name(cluster, Role.MASTER, i) for i in range(1, count + 1)]


def stages(old: int, new: int) -> list[tuple[int, int]]:
    """Quorum changes by one per stage: two masters join or leave each time."""
    step = 2 if new > old else -2
    return [(count, count + step) for count in range(old, new, step)]


def _names(names: list[str]) -> str:
    return ", ".join(names)


class UnnumberedStep(NamedTuple):
    """A ResizeStep before `resize_steps` numbers them all."""

    phase: ResizePhase
    before: int
    after: int
    hosts: list[str]
    reason: str


def resize_steps(cluster: str, old: int, new: int, final_hosts: list[str]) -> list[ResizeStep]:
    """Every step of the change old -> new masters, in order (see the module docstring)."""
    steps: list[UnnumberedStep] = []
    if new > old:
        prepare = f"masters {old} -> {new}: base system and /etc/hosts on every host first"
        steps.append(UnnumberedStep(ResizePhase.PREPARE, old, new, final_hosts, prepare))
    for before, after in stages(old, new):
        steps += (
            _grow(cluster, before, after) if after > before else _shrink(cluster, before, after)
        )
    finish = (
        f"masters {old} -> {new}: /etc/hosts everywhere, then the agents in batches with the "
        "new --master zk:// URL (they keep their ids)"
    )
    steps.append(UnnumberedStep(ResizePhase.FINISH, old, new, final_hosts, finish))
    return [
        ResizeStep(index, phase, before, after, tuple(hosts), reason)
        for index, (phase, before, after, hosts, reason) in enumerate(steps)
    ]


def _grow(cluster: str, before: int, after: int) -> list[UnnumberedStep]:
    """ZooKeeper, then Mesos, for one stage of growth (two new masters)."""
    stage, quorum = f"masters {before} -> {after}", mesos_quorum(after)
    staying, joining = masters(cluster, before), masters(cluster, after)[before:]
    if before == 1:
        zk = (
            f"{staying[0]} restarted with the {after}-server list together with {joining[0]} "
            f"(one member is no quorum of {after}), then {joining[1]}"
        )
        mesos = (
            f"stop {staying[0]} and delete its replicated log (one master's log cannot grow: "
            f"the registry is lost, agents re-register), then start "
            f"{_names(staying + joining)} together with --quorum={quorum}"
        )
    else:
        zk = (
            f"{_names(joining)} started one by one with the {after}-server list (each joins "
            f"the running ensemble and syncs), then {_names(staying)} restarted with it "
            "(followers first, leader last)"
        )
        mesos = (
            f"restart {_names(staying)} one at a time with --quorum={quorum} (followers "
            f"first, leader last), then start {_names(joining)} one by one"
        )
    members = staying + joining
    return [
        UnnumberedStep(
            ResizePhase.ZOOKEEPER,
            before,
            after,
            members,
            f"{stage}, ZooKeeper one member at a time: {zk}; each gated on a leader with every "
            "running member a synced follower",
        ),
        UnnumberedStep(
            ResizePhase.MASTERS, before, after, members, f"{stage}, Mesos: {mesos}; {MESOS_GATE}"
        ),
    ]


def _shrink(cluster: str, before: int, after: int) -> list[UnnumberedStep]:
    """One retire step per leaving master (highest id first), then ZooKeeper, then Mesos."""
    stage, quorum = f"masters {before} -> {after}", mesos_quorum(after)
    staying, leaving = masters(cluster, after), masters(cluster, before)[after:][::-1]
    steps: list[UnnumberedStep] = []
    for position, leaver in enumerate(leaving):
        remaining = staying + leaving[position + 1 :][::-1]
        gate = (
            f"then gated on {_names(remaining)} keeping a leader with synced followers"
            if len(remaining) >= majority(before)
            else f"no gate: {_names(remaining)} alone is no quorum of {before} (it was synced "
            "by the previous step)"
        )
        retire = f"{stage}: stop and disable mesos-master and ZooKeeper on {leaver} for good, "
        steps.append(UnnumberedStep(ResizePhase.RETIRE, before, after, [leaver], retire + gate))
    if len(staying) == 1:
        zk = (
            f"{staying[0]} restarted alone with the 1-server list (the ensemble it was in "
            "synced it last, so it holds every committed transaction)"
        )
        mesos = f"restart {staying[0]} with --quorum={quorum} and the new --zk"
    else:
        zk = (
            f"{_names(staying)} restarted with the {after}-server list one at a time "
            "(followers first, leader last), each gated on a leader with synced followers"
        )
        mesos = (
            f"restart {_names(staying)} one at a time with --quorum={quorum} and the new --zk "
            "(followers first, leader last)"
        )
    steps.append(
        UnnumberedStep(ResizePhase.ZOOKEEPER, before, after, staying, f"{stage}, ZooKeeper: {zk}")
    )
    steps.append(
        UnnumberedStep(
            ResizePhase.MASTERS, before, after, staying, f"{stage}, Mesos: {mesos}; {MESOS_GATE}"
        )
    )
    return steps


def plan_resize(
    spec: ClusterSpec, state: ClusterState, planned: list[PlannedMachine] | None = None
) -> Resize | None:
    """The master-count change `up` must make (or finish), None when there is none.

    `planned` is the cluster after the change (default: plan_machines of the spec). Raises
    QuorumError for changes it cannot make safely.
    """
    if planned is None:
        planned = plan_machines(spec, state.machines)
    final_hosts = [m.name for m in planned]
    if TO in state.applied:
        old, new, done = (int(state.applied[key]) for key in (FROM, TO, DONE))
        if spec.masters.count != new:
            total = len(resize_steps(spec.name, old, new, final_hosts))
            raise QuorumError(
                f"a resize of the masters {old} -> {new} is in progress ({done} of {total} "
                f"steps done); the spec now asks for {spec.masters.count}",
                hint=f"set masters.count back to {new} and run `up` to finish it first",
            )
        steps = resize_steps(spec.name, old, new, final_hosts)
        return Resize(spec.name, old, new, tuple(steps), min(done, len(steps)))
    before = core_names(state.machines.values())
    after = core_names(planned)
    if not before or before == after:
        return None
    old = len([n for n in before if Role.MASTER in state.machines[n].roles])
    _refuse_unsafe(spec, state, before, after, old)
    steps = resize_steps(spec.name, old, spec.masters.count, final_hosts)
    return Resize(spec.name, old, spec.masters.count, tuple(steps))


def _refuse_unsafe(
    spec: ClusterSpec, state: ClusterState, before: list[str], after: list[str], old: int
) -> None:
    change = f"{len(before)} -> {len(after)}"
    if isinstance(spec.provider, StaticProviderSpec):
        raise QuorumError(
            f"changing the masters/ZooKeeper members of static hosts ({change} core machines) "
            "is not done by `up`",
            hint="adopted hosts are not resized; run `down` (which resets them) and `up` with "
            "the new hosts",
        )
    if spec.zookeeper.placement != "masters":
        raise QuorumError(
            f"changing the masters of a cluster with a dedicated ZooKeeper ensemble ({change} "
            "core machines) is not done by `up`",
            hint="only `zookeeper.placement: masters` clusters are resized in place; run `down` "
            "and `up` with the new counts",
        )
    expected = masters(spec.name, old)
    shaped = before == sorted(expected) and all(
        state.machines[name].roles == (Role.MASTER, Role.ZOOKEEPER)
        and state.machines[name].zookeeper_id == index
        for index, name in enumerate(expected, 1)
    )
    if not shaped:
        raise QuorumError(
            f"the core machines of {spec.name!r} ({_names(before)}) are not one ZooKeeper member "
            "per master, so the master count cannot change in place",
            hint="the spec's zookeeper.placement changed since the cluster was created: restore "
            "it, or run `down` and `up`",
        )
    unconverged = [name for name in expected if name not in state.converged]
    if unconverged:
        raise QuorumError(
            f"the masters {old} -> {spec.masters.count} cannot be resized: "
            f"{_names(unconverged)} never finished converging",
            hint=f"run `up` with masters.count {old} first (or `down` and `up`)",
        )
    applied = state.applied.get("mesos_version")
    if applied and applied != spec.mesos.version:
        raise QuorumError(
            f"mesos.version {applied} -> {spec.mesos.version} and masters {old} -> "
            f"{spec.masters.count} in one run: change one thing at a time",
            hint=f"run `up` with masters.count {old} to upgrade first, then resize",
        )


def begin(state: ClusterState, resize: Resize) -> None:
    """Record the resize in state (before any machine or service changes)."""
    state.applied.update({FROM: str(resize.old), TO: str(resize.new), DONE: str(resize.done)})


def step_done(state: ClusterState, step: ResizeStep) -> None:
    state.applied[DONE] = str(step.index + 1)


def finish_if_done(state: ClusterState, total_steps: int, leaving: list[str]) -> bool:
    """Forget the resize record once every step ran and the leaving machines are gone."""
    if TO not in state.applied or int(state.applied[DONE]) < total_steps:
        return False
    if any(name in state.machines for name in leaving):
        return False
    for key in (FROM, TO, DONE):
        state.applied.pop(key, None)
    return True


def _stripped(machine: Machine) -> Machine:
    return replace(machine, roles=(), zookeeper_id=None)


def step_machines(
    step: ResizeStep, cluster: str, machines: dict[str, Machine], final_hosts: list[str]
) -> tuple[list[Machine], dict[str, list[str]]]:
    """The machines the step's inventory lists (roles as in the step) and its resize groups."""
    if step.phase in (ResizePhase.PREPARE, ResizePhase.FINISH):
        chosen = [machines[n] for n in final_hosts]
        group = "resize_prepare" if step.phase == ResizePhase.PREPARE else "resize_finish"
        return chosen, {group: list(final_hosts)}
    members = masters(cluster, step.after)
    agents = [machines[n] for n in final_hosts if n in machines and Role.AGENT in machines[n].roles]
    chosen = [machines[n] for n in members] + agents
    groups: dict[str, list[str]] = {}
    if step.phase == ResizePhase.RETIRE:
        # All leaving masters of the stage stay listed: those not retired yet still run and
        # count for the gate (resize_retire_later); the ensemble still has `before` members.
        leaving = masters(cluster, step.before)[step.after :][::-1]
        chosen += [_stripped(machines[n]) for n in leaving]
        groups["resize_retire"] = list(step.hosts)
        groups["resize_retire_later"] = leaving[leaving.index(step.hosts[0]) + 1 :]
    elif step.phase == ResizePhase.ZOOKEEPER:
        groups["resize_zookeeper_staying"] = members[: step.before]
        groups["resize_zookeeper_joining"] = members[step.before :]
    elif step.before == 1 and step.after > 1:
        groups["resize_masters_fresh"] = members[:1]
        groups["resize_masters_together"] = members
    else:
        groups["resize_masters_staying"] = members[: step.before]
        groups["resize_masters_joining"] = members[step.before :]
    return chosen, groups


def step_inventory(
    spec: ClusterSpec, step: ResizeStep, machines: dict[str, Machine], final_hosts: list[str]
) -> dict[str, Any]:
    """build_inventory for the step's topology plus the groups resize_masters.yml acts on."""
    from .inventory import build_inventory

    chosen, groups = step_machines(step, spec.name, machines, final_hosts)
    inventory = build_inventory(spec, chosen)
    children = inventory["all"]["children"]
    for name, hosts in groups.items():
        children[name] = {"hosts": {host: {} for host in hosts}}
    if step.phase == ResizePhase.RETIRE:
        children["resize_retire"]["vars"] = {"resize_ensemble_size": step.before}
    return inventory


def stage_spec(
    spec: ClusterSpec, masters_count: int, agents_count: int | None = None
) -> ClusterSpec:
    """The spec as it stands at one point of the resize (for the health checks)."""
    update: dict[str, Any] = {"masters": spec.masters.model_copy(update={"count": masters_count})}
    if agents_count is not None:
        update["agents"] = spec.agents.model_copy(update={"count": agents_count})
    return spec.model_copy(update=update)
