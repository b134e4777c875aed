"""Spec vs recorded state -> the ordered actions `up` would take (pure; `plan` prints it).

Rules (what an operator of kubespray/dcos-ansible expects):
- machines in the spec but not in state are created; agents in state but no longer in the spec
  are drained through the maintenance API (`remove_agents.yml`), then destroyed;
- a fresh cluster, or a changed configuration fingerprint, converges every host (`site.yml`);
- when only agents were added to a converged cluster, `scale.yml` runs on the new agents only;
- otherwise `site.yml` runs everywhere as a drift check (expected: changed=0);
- a new `mesos.version` on a converged cluster runs `upgrade.yml` (rolling, quorum-safe)
  instead of `site.yml`, which would restart every master at once;
- changing the set of masters or ZooKeeper members of an existing cluster is refused here
  (quorum-safe resizing is a separate, one-at-a-time operation).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import QuorumError, UsageError
from .providers.base import Machine
from .spec import ClusterSpec
from .state import ClusterState
from .topology import AGENT, MASTER, ZOOKEEPER, PlannedMachine, plan_machines


@dataclass(frozen=True)
class Action:
    """One step of a plan."""

    kind: str  # create | remove_agents | destroy | converge | wait_healthy
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
    cluster: str
    actions: tuple[Action, ...] = field(default_factory=tuple)

    @property
    def changes_machines(self) -> bool:
        return any(a.kind in ("create", "destroy", "remove_agents") for a in self.actions)

    def of_kind(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "changes_machines": self.changes_machines,
            "actions": [a.to_dict() for a in self.actions],
        }


def config_fingerprint(spec: ClusterSpec, machines: list[Machine] | list[PlannedMachine]) -> str:
    """Hash of everything that shapes a host's configuration, except the list of agents.

    Adding or removing agents does not change it, so scaling never reconverges old hosts.
    """
    core = sorted(
        (m.name, getattr(m, "address", None), m.zookeeper_id, tuple(m.roles))
        for m in machines
        if MASTER in m.roles or ZOOKEEPER in m.roles
    )
    payload = {
        "mesos": spec.mesos.model_dump(mode="json"),
        "agent_resources": spec.agents.effective_resources.model_dump(mode="json"),
        "agent_attributes": spec.agents.attributes,
        "core": core,
        "ssh_user": spec.ssh.user,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _core_names(machines: list) -> set[str]:
    return {m.name for m in machines if MASTER in m.roles or ZOOKEEPER in m.roles}


def compute_plan(spec: ClusterSpec, state: ClusterState, remove: tuple[str, ...] = ()) -> Plan:
    """The actions that bring the recorded cluster to the spec (no I/O).

    `remove` names agents to drop first instead of the newest ones (`scale --remove`).
    """
    unknown = [n for n in remove if n not in state.machines or AGENT not in state.machines[n].roles]
    if unknown:
        agents = sorted(n for n, m in state.machines.items() if AGENT in m.roles)
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

    core_before = _core_names(list(existing.values()))
    core_after = _core_names(planned)
    if existing and core_before and core_before != core_after:
        raise QuorumError(
            f"changing the masters/ZooKeeper members of an existing cluster "
            f"({len(core_before)} -> {len(core_after)} core machines) is not done by `up`",
            hint="masters are resized one at a time to keep quorum; this release refuses it "
            "instead of risking the replicated log: run `down` and `up` with the new count",
        )

    if to_create:
        actions.append(Action("create", tuple(to_create), reason="in the spec, not created yet"))
    removed_agents = [n for n in gone if AGENT in existing[n].roles]
    if removed_agents:
        actions.append(
            Action(
                "remove_agents",
                tuple(removed_agents),
                "remove_agents.yml",
                "drain through the maintenance API and stop before destroying",
            )
        )
        actions.append(Action("destroy", tuple(removed_agents), reason="no longer in the spec"))

    converged_before = [n for n in planned_names if n in state.converged]
    new_agents = [m.name for m in planned if m.name in to_create and m.roles == (AGENT,)]
    core_converged = bool(core_after) and all(n in state.converged for n in core_after)
    config_changed = False
    if core_converged and all(n in existing for n in core_after):
        fingerprint = config_fingerprint(spec, [existing[n] for n in sorted(core_after)])
        config_changed = any(state.converged[n] != fingerprint for n in converged_before)
    others_converged = all(n in state.converged for n in planned_names if n not in new_agents)
    applied_version = state.applied.get("mesos_version")
    if core_converged and applied_version and applied_version != spec.mesos.version:
        actions.append(
            Action(
                "converge",
                tuple(planned_names),
                "upgrade.yml",
                f"mesos.version {applied_version} -> {spec.mesos.version}: masters one at a time "
                "(followers first, leader last), each gated on health, then agents in batches",
            )
        )
    elif core_converged and others_converged and new_agents and not config_changed:
        actions.append(
            Action(
                "converge",
                tuple(new_agents),
                "scale.yml",
                "new agents only; ZooKeeper, masters and other agents untouched",
            )
        )
    elif not converged_before:
        actions.append(Action("converge", tuple(planned_names), "site.yml", "new cluster"))
    else:
        unconverged = [n for n in planned_names if n not in state.converged]
        reason = (
            "configuration not yet applied to " + ", ".join(unconverged)
            if unconverged
            else "drift check; no change expected"
        )
        actions.append(Action("converge", tuple(planned_names), "site.yml", reason))
    actions.append(
        Action(
            "wait_healthy",
            tuple(planned_names),
            reason="verify ZooKeeper, masters and agents against the spec",
        )
    )
    return Plan(spec.name, tuple(actions))
