"""The small interface every machine provider implements (one module per backend)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..topology import PlannedMachine

ProgressCallback = Callable[[str], None]


@dataclass(frozen=True)
class Machine:
    """A machine that exists and can be reached over SSH."""

    name: str
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
        data["roles"] = list(self.roles)
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


class Provider(ABC):
    """Creates, lists and destroys the machines of one cluster.

    Providers only touch machines they created for this cluster (names carry the cluster name);
    the static provider adopts existing hosts and never deletes them.
    """

    #: True when ``destroy`` really deletes machines (vagrant, pulumi); False for adopted hosts.
    deletes_machines: bool = True
    #: True when `create` must be given every machine of the cluster (a Pulumi program
    #: declares the whole desired set); otherwise it is given only the machines to create.
    declarative: bool = False

    def __init__(self, spec: Any, state_dir: Path, progress: ProgressCallback | None = None):
        self.spec = spec
        self.state_dir = Path(state_dir)
        self.progress: ProgressCallback = progress or (lambda _msg: None)

    @abstractmethod
    def create(self, machines: list[PlannedMachine]) -> list[Machine]:
        """Create (or adopt) these machines, reusing ones that already exist; return them all."""

    @abstractmethod
    def destroy(self, names: list[str]) -> None:
        """Destroy exactly these machines of this cluster (no-op for names that do not exist)."""

    @abstractmethod
    def list(self) -> list[Machine]:
        """The machines of this cluster that exist now."""

    def preflight(self) -> None:  # noqa: B027 - optional hook
        """Raise ToolMissingError when a tool the backend needs is absent (cheap, no changes)."""
