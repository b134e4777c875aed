"""The records every layer shares: roles, the machines the spec asks for, the machines that exist.

Plain values with no behaviour beyond their own fields, so health checks, plans, inventories
and state need no machine backend to get a machine. Imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar


class Role(StrEnum):
    """What a machine runs. The values are those of the spec, state.json and `--json`."""

    MASTER = "master"
    AGENT = "agent"
    ZOOKEEPER = "zookeeper"


class Layer(StrEnum):
    """A layer of the health checks. The values are those of `status --json`."""

    REACHABILITY = "reachability"
    ZOOKEEPER = "zookeeper"
    MESOS_MASTERS = "mesos_masters"
    MESOS_AGENTS = "mesos_agents"
    WORKLOAD = "workload"
    SECURITY = "security"


#: The znode the masters register under; also the path of the cluster's `zk://` URL.
MESOS_ZNODE = "/mesos"


class MachineRecord(Protocol):
    """What planned and existing machines have in common."""

    @property
    def name(self) -> str: ...

    @property
    def roles(self) -> tuple[str, ...]: ...


MachineT = TypeVar("MachineT", bound=MachineRecord)


def is_core(machine: MachineRecord) -> bool:
    """A master or a ZooKeeper member: the part of the cluster whose change needs a quorum
    (and is in every host's configuration); agents come and go."""
    return Role.MASTER in machine.roles or Role.ZOOKEEPER in machine.roles


def core_names(machines: Iterable[MachineRecord]) -> list[str]:
    """The names of the core machines, sorted."""
    return sorted(m.name for m in machines if is_core(m))


def with_role(machines: Iterable[MachineT], role: Role) -> list[MachineT]:
    """The machines (planned or real) that carry this role, in order."""
    return [m for m in machines if role in m.roles]


@dataclass(frozen=True)
class PlannedMachine:
    """A machine the spec asks for (it may or may not exist yet)."""

    name: str
    roles: tuple[Role, ...]
    cpus: int
    memory_mb: int
    zookeeper_id: int | None = None
    #: Known up front only for static hosts; other providers learn it on create.
    address: str | None = None
    ssh_user: str | None = None
    ssh_port: int = 22
    ssh_private_key: str | None = None

    @property
    def primary_role(self) -> Role:
        for role in (Role.MASTER, Role.AGENT, Role.ZOOKEEPER):
            if role in self.roles:
                return role
        raise ValueError(f"{self.name} has no role")


@dataclass(frozen=True)
class Machine:
    """A machine that exists and can be reached over SSH."""

    name: str
    #: Role values as recorded (plain text in state.json; compare with `Role` members).
    roles: tuple[str, ...]
    address: str
    ssh_user: str
    ssh_port: int = 22
    ssh_private_key: str | None = None
    #: False for throw-away machines (vagrant) whose host keys change on every create.
    strict_host_keys: bool = True
    #: ZooKeeper `myid` when the machine carries the zookeeper role (stable for its lifetime).
    zookeeper_id: int | None = None
    # Extra provider facts worth keeping in state.json (e.g. the vagrant machine id).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cluster_address(self) -> str:
        """The address services bind to and peers use: the private IP where one is recorded
        (cloud VMs reached through a public IP), else the SSH address."""
        return str(self.extra.get("private_ip") or self.address)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["roles"] = [str(role) for role in self.roles]  # plain text, also for YAML
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Machine:
        return cls(
            name=data["name"],
            roles=tuple(data["roles"]),
            address=data["address"],
            ssh_user=data["ssh_user"],
            ssh_port=int(data.get("ssh_port", 22)),
            ssh_private_key=data.get("ssh_private_key"),
            strict_host_keys=bool(data.get("strict_host_keys", True)),
            zookeeper_id=data.get("zookeeper_id"),
            extra=dict(data.get("extra") or {}),
        )
