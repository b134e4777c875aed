"""The one way a command runs a playbook: write the inventory, run it with the cluster's
progress listeners, and return a typed record of what it did (`up --json` lists them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ansible import PlaybookResult
    from .cluster import Cluster
    from .domain import Machine


@dataclass(frozen=True)
class PlayRecord:
    """One finished playbook run: which playbook, on which hosts, what it changed, its log."""

    playbook: str
    limit: list[str]
    #: host -> number of changed tasks.
    changed: dict[str, int]
    log: str
    #: The ansible-runner outcome (stats, failures, play hosts); not part of `--json`.
    outcome: PlaybookResult
    #: host -> roles it re-converged (`repair` only; its records also list the play hosts).
    roles: dict[str, list[str]] | None = None

    @property
    def hosts_in_plays(self) -> list[str]:
        """Every host a play of the run touched (sorted)."""
        return sorted({host for hosts in self.outcome.play_hosts.values() for host in hosts})

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"playbook": self.playbook, "limit": self.limit}
        if self.roles is not None:
            record["roles"] = self.roles
            record["hosts_in_plays"] = self.hosts_in_plays
        record["changed"] = self.changed
        record["log"] = self.log
        return record


def run_play(
    cluster: Cluster,
    playbook: str,
    limit: Sequence[str],
    extravars: dict[str, Any] | None = None,
    *,
    machines: list[Machine],
    inventory: str | None = None,
    roles: dict[str, list[str]] | None = None,
) -> PlayRecord:
    """Issue the machines' certificates, write the inventory (`inventory`, or the one
    rendered from the spec and `machines`), run `playbook` limited to `limit`, streaming its
    events and output to the cluster's listeners. Raises AnsibleError when a host failed."""
    from . import ansible
    from .inventory import render_inventory

    cluster.issue_certificates(machines)
    path = cluster.store.write_inventory(
        inventory if inventory is not None else render_inventory(cluster.spec, machines)
    )
    hosts = list(limit)
    outcome = ansible.run_playbook(
        playbook,
        inventory=path,
        state_dir=cluster.state_dir,
        limit=hosts,
        extravars=extravars,
        on_event=cluster.on_ansible_event,
        on_output=cluster.on_ansible_output,
    )
    return PlayRecord(
        playbook=playbook,
        limit=hosts,
        changed={host: stats.changed for host, stats in outcome.stats.items()},
        log=str(outcome.log_path),
        outcome=outcome,
        roles=roles,
    )
