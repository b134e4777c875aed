"""Existing hosts (bare metal or VMs made elsewhere): adopted as they are, never deleted.

``destroy`` leaves the hosts alone: the CLI runs ``reset.yml`` on them first (stopping and
removing the cluster services), then drops them from state; the machines keep running.
"""

from __future__ import annotations

from pathlib import Path

from ..domain import Machine, PlannedMachine
from ..errors import ProviderError
from ..spec import StaticProviderSpec
from ..topology import plan_machines
from .base import Provider


def adopt(planned: PlannedMachine) -> Machine:
    """The Machine for a static host (its address and login come from the spec)."""
    if planned.address is None or planned.ssh_user is None:
        raise ProviderError(
            f"static host {planned.name} has no address or SSH user",
            hint="every provider.hosts entry needs `address`; set `ssh.user` or `ssh_user`",
        )
    return Machine(
        name=planned.name,
        roles=planned.roles,
        address=planned.address,
        ssh_user=planned.ssh_user,
        ssh_port=planned.ssh_port,
        ssh_private_key=planned.ssh_private_key,
        strict_host_keys=True,
        zookeeper_id=planned.zookeeper_id,
    )


class StaticProvider(Provider):
    """Adopts the spec's hosts; `destroy` only forgets them (see the module docstring)."""

    deletes_machines = False

    def preflight(self) -> None:
        """Each configured private key file exists (SSH itself is checked by `doctor`)."""
        if not isinstance(self.spec.provider, StaticProviderSpec):
            raise ProviderError(f"cluster {self.spec.name} does not use the static provider")
        for planned in plan_machines(self.spec):
            key = planned.ssh_private_key
            if key and not Path(key).is_file():
                raise ProviderError(
                    f"SSH private key {key} of host {planned.name} does not exist",
                    hint="fix ssh.private_key or the host's ssh_private_key (paths are "
                    "relative to the spec file)",
                )

    def create(self, machines: list[PlannedMachine]) -> list[Machine]:
        for planned in machines:
            self.progress(f"adopting {planned.name} ({planned.address})")
        return [adopt(planned) for planned in machines]

    def destroy(self, names: list[str]) -> None:
        """Nothing to delete: the hosts stay; the caller has already reset them."""
        for name in names:
            self.progress(f"releasing {name} (the host itself is left running)")

    def list(self) -> list[Machine]:
        """The spec's hosts: they exist whether or not the cluster was ever brought up."""
        return [adopt(planned) for planned in plan_machines(self.spec)]
