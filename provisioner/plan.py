"""Spec vs recorded state -> the ordered actions `up` would take (pure; `plan` prints it).

Rules (what an operator of kubespray/dcos-ansible expects):
- machines in the spec but not in state are created; agents in state but no longer in the spec
  are drained through the maintenance API (`remove_agents.yml`), then destroyed;
- a fresh cluster, or a changed configuration fingerprint, converges every host (`site.yml`);
- when only agents were added to a converged cluster, `firewall.yml` lets them through every
  other host's allow-lists (the rules file only, all hosts at once), then `scale.yml` runs on
  the new agents only;
- otherwise a fast drift check (drift.py: one SSH round trip per host comparing managed files,
  links and services with the last converge) runs `site.yml` on the drifted hosts only;
  `converge=True` (`up --converge`) runs `site.yml` on every host instead;
- a new `mesos.version` on a converged cluster runs `upgrade.yml` (rolling, quorum-safe)
  instead of `site.yml`, which would restart every master at once;
- a new `masters.count` (with `zookeeper.placement: masters`) is a quorum-safe resize: new
  masters are created, then one `resize` action per step of resize_masters.yml (ZooKeeper one
  member at a time, Mesos quorum one at a time, agents last), then leaving masters are
  destroyed (resize.py); resizes of dedicated ZooKeeper or static clusters are refused;
- after agents are destroyed, `firewall.yml` drops their addresses from the allow-lists of
  every host that stays; in a shrink the resize's finish step does that (role common with the
  final host list on every remaining host), for departed masters and removed agents alike;
- after agents joined (scale.yml) or left, `monitoring_targets.yml` rewrites Prometheus'
  targets and rules on the masters (with monitoring on; a full converge or a resize does it
  anyway).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from .domain import Machine, PlannedMachine, Role, core_names, is_core
from .errors import UsageError
from .resize import PLAYBOOK as RESIZE_PLAYBOOK
from .resize import Resize, plan_resize
from .spec import ClusterSpec
from .state import ClusterState
from .topology import plan_machines


class ActionKind(StrEnum):
    """What a step of a plan does; the values are what `plan --json` and `up --json` show."""

    CREATE = "create"
    #: Start recorded machines the provider reports stopped (vagrant: after a host reboot).
    START = "start"
    REMOVE_AGENTS = "remove_agents"
    DESTROY = "destroy"
    CONVERGE = "converge"
    DRIFT_CHECK = "drift_check"
    RESIZE = "resize"
    WAIT_HEALTHY = "wait_healthy"
    #: Rewrite the other hosts' firewall rules when agents join or machines left
    #: (firewall.yml).
    FIREWALL = "firewall"
    #: Point Prometheus (on the masters) at the agents after some joined or left
    #: (monitoring_targets.yml).
    MONITORING = "monitoring"
    #: `down` on adopted hosts (reset.yml); never part of a plan.
    RESET = "reset"


#: Kinds that create or delete machines (the provider's tools are needed).
MACHINE_KINDS = frozenset(
    {ActionKind.CREATE, ActionKind.START, ActionKind.DESTROY, ActionKind.REMOVE_AGENTS}
)
UPGRADE_PLAYBOOK = "upgrade.yml"
MONITORING_PLAYBOOK = "monitoring_targets.yml"
SCALE_PLAYBOOK = "scale.yml"
FIREWALL_PLAYBOOK = "firewall.yml"


@dataclass(frozen=True)
class Action:
    """One step of a plan."""

    kind: ActionKind
    hosts: tuple[str, ...] = ()
    playbook: str | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hosts"] = list(self.hosts)
        return data

    def describe(self) -> str:
        target = ", ".join(self.hosts) if self.hosts else "-"
        book = f" [{self.playbook}]" if self.playbook else ""
        return f"{self.kind}{book}: {target} ({self.reason})"


@dataclass(frozen=True)
class Plan:
    """The actions, in order, and the master-count change they carry out (if any)."""

    cluster: str
    actions: tuple[Action, ...] = field(default_factory=tuple)
    #: The resize the `resize` actions are steps of (not part of the JSON: the actions are).
    resize: Resize | None = field(default=None, compare=False, repr=False)
    #: The spec's machines as `up` will leave them, in order, computed once with the plan:
    #: every step downstream takes them from here (not part of the JSON).
    planned: tuple[PlannedMachine, ...] = field(default=(), compare=False, repr=False)

    @property
    def changes_machines(self) -> bool:
        return any(a.kind in MACHINE_KINDS for a in self.actions)

    @property
    def upgrades(self) -> bool:
        """A rolling upgrade of Mesos (a new `mesos.version` on a converged cluster)."""
        return any(a.playbook == UPGRADE_PLAYBOOK for a in self.actions)

    def of_kind(self, kind: ActionKind) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "changes_machines": self.changes_machines,
            "actions": [a.to_dict() for a in self.actions],
        }


def config_fingerprint(spec: ClusterSpec, machines: list[Machine] | list[PlannedMachine]) -> str:
    """Hash of everything that shapes a host's configuration, except the list of agents.

    Adding or removing agents does not change it, so scaling never reconverges old hosts
    (Prometheus on the masters follows the agents through `monitoring_targets.yml`). The
    `monitoring` section is in it: a changed retention or threshold reconverges.
    """
    core = sorted(
        (m.name, getattr(m, "address", None), m.zookeeper_id, tuple(m.roles))
        for m in machines
        if is_core(m)
    )
    payload = {
        "mesos": spec.mesos.model_dump(mode="json"),
        "agent_resources": spec.agents.effective_resources.model_dump(mode="json"),
        "agent_attributes": spec.agents.attributes,
        "core": core,
        "ssh_user": spec.ssh.user,
        "security": spec.security.model_dump(mode="json"),
        "monitoring": spec.monitoring.model_dump(mode="json"),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compute_plan(
    spec: ClusterSpec,
    state: ClusterState,
    remove: tuple[str, ...] = (),
    converge: bool = False,
    stopped: tuple[str, ...] = (),
) -> Plan:
    """The actions that bring the recorded cluster to the spec (no I/O).

    `remove` names agents to drop first instead of the newest ones (`scale --remove`);
    `converge` replaces the fast drift check with `site.yml` on every host; `stopped` names
    recorded machines the provider reports stopped (started first, when the spec keeps them).
    """
    unknown = [
        n for n in remove if n not in state.machines or Role.AGENT not in state.machines[n].roles
    ]
    if unknown:
        agents = sorted(n for n, m in state.machines.items() if Role.AGENT in m.roles)
        raise UsageError(
            f"--remove names no agent of cluster {spec.name!r}: {', '.join(unknown)}",
            hint=f"its agents are: {', '.join(agents) or 'none'}",
        )
    planned = plan_machines(spec, state.machines, remove)
    planned_names = [m.name for m in planned]
    existing = state.machines
    to_create = [n for n in planned_names if n not in existing]
    gone = [n for n in sorted(existing) if n not in set(planned_names)]
    actions: list[Action] = []
    resize = plan_resize(spec, state, planned)

    to_start = [n for n in planned_names if n in stopped and n in existing]
    if to_start:
        actions.append(
            Action(
                ActionKind.START,
                tuple(to_start),
                reason="recorded, but the provider reports the machine stopped; its disk is "
                "kept (a changed address makes every host converge again)",
            )
        )
    if to_create:
        actions.append(
            Action(ActionKind.CREATE, tuple(to_create), reason="in the spec, not created yet")
        )
    removed_agents = [n for n in gone if Role.AGENT in existing[n].roles]
    # Masters leaving in a shrink run (ZooKeeper, replicated log) until its retire steps, so no
    # allow-list may drop them before: the resize's finish step rewrites every remaining
    # host's rules (role common, the final host list) for the agents removed with it too.
    masters_leave = resize is not None and resize.new < resize.old
    if removed_agents:
        actions.append(
            Action(
                ActionKind.REMOVE_AGENTS,
                tuple(removed_agents),
                "remove_agents.yml",
                "drain through the maintenance API and stop before destroying",
            )
        )
        actions.append(
            Action(ActionKind.DESTROY, tuple(removed_agents), reason="no longer in the spec")
        )
        remaining = tuple(n for n in planned_names if n in existing)
        if spec.security.firewall.enabled and remaining and not masters_leave:
            actions.append(
                Action(
                    ActionKind.FIREWALL,
                    remaining,
                    FIREWALL_PLAYBOOK,
                    "drop the removed hosts from every remaining host's firewall allow-lists "
                    "(the rules file only)",
                )
            )
    if resize is not None:
        actions.extend(_resize_actions(resize, existing))
    else:
        converge_action = _converge_action(spec, state, planned, to_create, converge)
        scaling = converge_action.playbook == SCALE_PLAYBOOK
        if scaling and spec.security.firewall.enabled:
            actions.append(_let_in_action(planned_names, converge_action.hosts, existing))
        actions.append(converge_action)
        agents_changed = bool(removed_agents) or scaling
        if spec.monitoring.enabled and agents_changed:
            actions.extend(_monitoring_action(spec, existing, planned_names))
    actions.append(
        Action(
            ActionKind.WAIT_HEALTHY,
            tuple(planned_names),
            reason="verify ZooKeeper, masters and agents against the spec",
        )
    )
    return Plan(spec.name, tuple(actions), resize, tuple(planned))


def _let_in_action(
    planned_names: list[str], new_agents: tuple[str, ...], existing: dict[str, Machine]
) -> Action:
    """Before scale.yml starts the new agents: every other host's allow-lists take them in,
    one parallel run of the rules file alone (the hosts' cost, not the controller's, grows
    with the cluster)."""
    others = tuple(n for n in planned_names if n in existing and n not in new_agents)
    return Action(
        ActionKind.FIREWALL,
        others,
        FIREWALL_PLAYBOOK,
        "let the new agents through every other host's firewall before they start "
        "(the rules file only)",
    )


def _monitoring_action(
    spec: ClusterSpec, existing: dict[str, Machine], planned_names: list[str]
) -> list[Action]:
    """After agents joined or left without a full converge (scale.yml, or removal then the
    drift check): Prometheus on the masters scrapes the agents as they are now and its
    agents-below-spec rule expects the spec's count. The configuration fingerprint leaves the
    agent list out, so nothing else would tell the masters."""
    masters = tuple(n for n in planned_names if n in existing and Role.MASTER in existing[n].roles)
    if not masters:
        return []
    return [
        Action(
            ActionKind.MONITORING,
            masters,
            MONITORING_PLAYBOOK,
            f"Prometheus follows the agents (its agents-below-spec rule expects "
            f"{spec.agents.count}); Prometheus' configuration and rules only",
        )
    ]


def _resize_actions(resize: Resize, existing: dict[str, Machine]) -> list[Action]:
    """One action per pending step of the resize, then the leaving masters are destroyed."""
    total = len(resize.steps)
    actions = [
        Action(
            ActionKind.RESIZE,
            step.hosts,
            RESIZE_PLAYBOOK,
            f"step {step.index + 1}/{total}: {step.reason}",
        )
        for step in resize.pending
    ]
    leaving = [name for name in resize.leaving if name in existing]
    if leaving:
        actions.append(
            Action(
                ActionKind.DESTROY,
                tuple(leaving),
                reason=f"left the cluster (masters {resize.old} -> {resize.new}); their "
                "mesos-master and ZooKeeper were stopped and disabled first",
            )
        )
    return actions


def _converge_action(
    spec: ClusterSpec,
    state: ClusterState,
    planned: list[PlannedMachine],
    to_create: list[str],
    converge: bool = False,
) -> Action:
    """Which playbook brings the (unresized) cluster to the spec: upgrade, scale or site."""
    planned_names = [m.name for m in planned]
    existing = state.machines
    core_after = core_names(planned)
    converged_before = [n for n in planned_names if n in state.converged]
    new_agents = [m.name for m in planned if m.name in to_create and m.roles == (Role.AGENT,)]
    core_converged = bool(core_after) and all(n in state.converged for n in core_after)
    config_changed = False
    if core_converged and all(n in existing for n in core_after):
        fingerprint = config_fingerprint(spec, [existing[n] for n in core_after])
        config_changed = any(state.converged[n] != fingerprint for n in converged_before)
    others_converged = all(n in state.converged for n in planned_names if n not in new_agents)
    applied_version = state.applied.get("mesos_version")
    if core_converged and applied_version and applied_version != spec.mesos.version:
        return Action(
            ActionKind.CONVERGE,
            tuple(planned_names),
            UPGRADE_PLAYBOOK,
            f"mesos.version {applied_version} -> {spec.mesos.version}: masters one at a time "
            "(followers first, leader last), each gated on health, then agents in batches",
        )
    if core_converged and others_converged and new_agents and not config_changed:
        return Action(
            ActionKind.CONVERGE,
            tuple(new_agents),
            SCALE_PLAYBOOK,
            "new agents only; ZooKeeper, masters and other agents untouched",
        )
    if not converged_before:
        return Action(ActionKind.CONVERGE, tuple(planned_names), "site.yml", "new cluster")
    unconverged = [n for n in planned_names if n not in state.converged]
    if unconverged:
        reason = "configuration not yet applied to " + ", ".join(unconverged)
    elif config_changed:
        reason = "configuration changed"
    elif converge:
        reason = "full converge on request (--converge); no change expected"
    else:
        return Action(
            ActionKind.DRIFT_CHECK,
            tuple(planned_names),
            "site.yml",
            "compare each host's managed files, links and services with its last converge "
            "(one SSH round trip); site.yml runs on the hosts that drifted, if any",
        )
    return Action(ActionKind.CONVERGE, tuple(planned_names), "site.yml", reason)
