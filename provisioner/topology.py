"""Pure rules from the spec: which machines exist, their roles, ZooKeeper ids and quorum sizes."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .domain import PlannedMachine, Role
from .spec import ClusterSpec, StaticProviderSpec


def majority(members: int) -> int:
    """A strict majority: the quorum of a ZooKeeper ensemble or of Mesos' replicated log."""
    return members // 2 + 1


def mesos_quorum(masters: int) -> int:
    """Mesos `--quorum` for the replicated log: a strict majority of the masters."""
    if masters < 1:
        raise ValueError(f"a cluster needs at least one master: got {masters}")
    return majority(masters)


def machine_name(cluster: str, role: str, index: int) -> str:
    """`<cluster>-master-1`, `<cluster>-agent-3`, `<cluster>-zk-2`: unique per host."""
    short = "zk" if role == Role.ZOOKEEPER else role
    return f"{cluster}-{short}-{index}"


def agent_indices(
    cluster: str, count: int, existing: Iterable[str] = (), remove: Iterable[str] = ()
) -> list[int]:
    """Which `<cluster>-agent-N` exist after the change: existing ones stay (minus `remove`),
    the newest go first when shrinking, new ones get indices never used by this cluster."""
    pattern = re.compile(rf"^{re.escape(cluster)}-agent-(\d+)$")
    seen = sorted({int(m.group(1)) for n in existing if (m := pattern.match(n))})
    removed = {int(m.group(1)) for n in remove if (m := pattern.match(n))}
    kept = [i for i in seen if i not in removed]
    if len(kept) >= count:
        return kept[:count]
    next_index = max([*seen, *removed, 0]) + 1
    return kept + list(range(next_index, next_index + count - len(kept)))


def plan_machines(
    spec: ClusterSpec, existing: Iterable[str] = (), remove: Iterable[str] = ()
) -> list[PlannedMachine]:
    """Every machine of the cluster, masters first, then dedicated ZooKeeper, then agents.

    `existing` (names recorded in state) keeps agent names stable across scaling; `remove`
    names agents to drop first (`scale --remove`).
    """
    if isinstance(spec.provider, StaticProviderSpec):
        return _static_machines(spec, spec.provider)
    machines: list[PlannedMachine] = []
    zk_on_masters = spec.zookeeper.placement == "masters"
    for index in range(1, spec.masters.count + 1):
        roles = (Role.MASTER, Role.ZOOKEEPER) if zk_on_masters else (Role.MASTER,)
        machines.append(
            PlannedMachine(
                name=machine_name(spec.name, Role.MASTER, index),
                roles=roles,
                cpus=spec.masters.cpus,
                memory_mb=spec.masters.memory_mb,
                zookeeper_id=index if zk_on_masters else None,
            )
        )
    if not zk_on_masters:
        for index in range(1, (spec.zookeeper.count or 0) + 1):
            machines.append(
                PlannedMachine(
                    name=machine_name(spec.name, Role.ZOOKEEPER, index),
                    roles=(Role.ZOOKEEPER,),
                    cpus=spec.zookeeper.cpus,
                    memory_mb=spec.zookeeper.memory_mb,
                    zookeeper_id=index,
                )
            )
    for index in agent_indices(spec.name, spec.agents.count, existing, remove):
        machines.append(
            PlannedMachine(
                name=machine_name(spec.name, Role.AGENT, index),
                roles=(Role.AGENT,),
                cpus=spec.agents.cpus,
                memory_mb=spec.agents.memory_mb,
            )
        )
    return machines


def _static_machines(spec: ClusterSpec, provider: StaticProviderSpec) -> list[PlannedMachine]:
    taken = {h.zookeeper_id for h in provider.hosts if h.zookeeper_id is not None}
    next_id = 1
    machines = []
    for host in provider.hosts:
        zk_id = None
        if Role.ZOOKEEPER in host.roles:
            zk_id = host.zookeeper_id
            if zk_id is None:
                while next_id in taken:
                    next_id += 1
                zk_id = next_id
                taken.add(zk_id)
        ordered = tuple(r for r in (Role.MASTER, Role.ZOOKEEPER, Role.AGENT) if r in host.roles)
        machines.append(
            PlannedMachine(
                name=host.name,
                roles=ordered,
                cpus=0,
                memory_mb=0,
                zookeeper_id=zk_id,
                address=host.address,
                ssh_user=host.ssh_user or spec.ssh.user,
                ssh_port=host.ssh_port,
                ssh_private_key=(
                    str(spec.resolve_path(host.ssh_private_key))
                    if host.ssh_private_key
                    else (
                        str(spec.resolve_path(spec.ssh.private_key))
                        if spec.ssh.private_key
                        else None
                    )
                ),
            )
        )
    return machines
