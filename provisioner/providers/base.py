"""The small interface every machine provider implements (one module per backend)."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from ..domain import Machine, PlannedMachine
from ..spec import ClusterSpec

ProgressCallback = Callable[[str], None]


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
    #: True when `vanished` can tell a deleted machine from a stopped one (vagrant).
    detects_vanished: bool = False

    def __init__(
        self, spec: ClusterSpec, state_dir: Path, progress: ProgressCallback | None = None
    ) -> None:
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

    def names(self) -> builtins.list[str]:
        """The machines this provider holds for the cluster, running or not: what `down`
        destroys beside the recorded ones. Default: those `list` returns."""
        return [m.name for m in self.list()]

    def vanished(self, names: builtins.list[str]) -> builtins.list[str]:
        """Of these recorded machines, those that no longer exist at all (deleted outside this
        tool), as opposed to stopped or unreachable; `up` recreates them. Default: none (the
        backend cannot tell, so nothing is ever recreated behind the operator's back)."""
        return []

    def stopped(self, names: builtins.list[str]) -> builtins.list[str]:
        """Of these recorded machines, those that exist but are stopped (vagrant: after the
        host rebooted), which `start` brings back. Default: none (never started behind the
        operator's back)."""
        return []

    def start(self, machines: builtins.list[Machine]) -> builtins.list[Machine]:
        """Start these stopped machines; return them as they are now (the address may differ).
        Only called with names `stopped` returned."""
        raise NotImplementedError(f"{type(self).__name__} cannot start machines")

    def preflight(self) -> None:  # noqa: B027 - optional hook
        """Raise ToolMissingError when a tool the backend needs is absent (cheap, no changes)."""
