"""What the checks compare against: the spec's machines matched to the machines that exist."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain import Layer, Machine, PlannedMachine, Role
from ..spec import ClusterSpec
from ..topology import plan_machines
from .report import CheckResult


@dataclass
class ClusterView:
    spec: ClusterSpec
    machines: list[Machine]
    planned: list[PlannedMachine] = field(init=False)
    by_name: dict[str, Machine] = field(init=False)

    def __post_init__(self) -> None:
        self.planned = plan_machines(self.spec, [m.name for m in self.machines])
        self.by_name = {m.name: m for m in self.machines}

    def expected(self, role: Role) -> list[PlannedMachine]:
        """The spec's machines with this role (ZooKeeper ones in myid order)."""
        planned = [p for p in self.planned if role in p.roles]
        if role == Role.ZOOKEEPER:
            planned.sort(key=lambda p: p.zookeeper_id or 0)
        return planned

    def members(self, role: Role) -> list[Machine]:
        """The existing machines the spec gives this role, in the spec's order."""
        return [self.by_name[p.name] for p in self.expected(role) if p.name in self.by_name]

    def missing(self) -> list[str]:
        return [p.name for p in self.planned if p.name not in self.by_name]

    def by_address(self, address: str) -> Machine | None:
        """The machine with this SSH address or cluster (service) address."""
        for machine in self.machines:
            if address in (machine.address, machine.cluster_address):
                return machine
        return None

    def by_host(self, host: str) -> Machine | None:
        """A machine from a Mesos hostname (its name, or its address without hostname lookup)."""
        return self.by_name.get(host) or self.by_address(host)

    def name_of_host(self, host: str) -> str:
        """Machine name for a Mesos hostname; the hostname itself when it is no machine of ours."""
        machine = self.by_host(host)
        return machine.name if machine else host

    def label(self, host: str | None) -> str:
        """ "demo-master-2 (10.0.3.12)" for messages; the bare name for unknown hosts."""
        if host is None:
            return "cluster"
        machine = self.by_name.get(host)
        return f"{host} ({machine.address})" if machine else host

    def name_of_pid(self, pid: str | None) -> str | None:
        """Machine name for a libprocess pid like "master@10.0.3.11:5050"."""
        address = pid_address(pid)
        machine = self.by_address(address) if address else None
        return machine.name if machine else None


def pid_address(pid: str | None) -> str | None:
    """ "master@10.0.3.11:5050" -> "10.0.3.11"."""
    if not pid or "@" not in pid:
        return None
    return pid.split("@", 1)[1].rsplit(":", 1)[0]


class Results:
    """Collects the checks of one layer."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.checks: list[CheckResult] = []

    def add(self, name: str, host: str | None, ok: bool, detail: str) -> bool:
        self.checks.append(CheckResult(self.layer, name, host, ok, detail))
        return ok

    def ok(self, *names: str) -> bool:
        """True when every check with one of these names passed (and at least one ran)."""
        chosen = [c for c in self.checks if c.name in names]
        return bool(chosen) and all(c.ok for c in chosen)


def number(value: object) -> float | None:
    """A metric value as float (Mesos prints doubles), None when absent or not numeric."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def fmt(value: float | None) -> str:
    if value is None:
        return "absent"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
