"""Recorded machines that no longer exist or are stopped: what `up` does about them.

A machine the provider says is gone (vagrant: `not_created`) is forgotten, so the plan creates
it again: this is how a cluster that lost every master (or its whole ZooKeeper ensemble) comes
back. A machine the provider says is stopped (vagrant: `stopped`, e.g. after the lab host
rebooted) is started again by the plan's `start` step, as `vagrant up` would. A host that is
merely unreachable, or that the provider cannot account for (static hosts, Pulumi), is left to
the health report and a human. Only hosts whose SSH port does not answer are asked about, so a
healthy `up` pays one TCP connect per host.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from .domain import Machine
from .providers.base import Provider
from .state import ClusterState

#: Seconds a recorded host's SSH port gets to answer before the provider is asked about it.
CONNECT_TIMEOUT_S = 2.0


def ssh_port_answers(machine: Machine) -> bool:
    try:
        socket.create_connection((machine.address, machine.ssh_port), CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Absent:
    """Recorded machines whose SSH port did not answer, as the provider accounts for them."""

    #: Deleted outside this tool: forgotten from state, so the plan creates them again.
    gone: list[str] = field(default_factory=list)
    #: Existing but stopped: the plan starts them again.
    stopped: list[str] = field(default_factory=list)


def account_for_silent(
    state: ClusterState,
    provider: Provider,
    answers: Callable[[Machine], bool] = ssh_port_answers,
) -> Absent:
    """Ask the provider about the recorded machines that do not answer: forget those it no
    longer has (in `state`), name those it has stopped."""
    if not provider.detects_vanished or provider.declarative or not state.machines:
        return Absent()
    silent = [name for name, machine in sorted(state.machines.items()) if not answers(machine)]
    if not silent:
        return Absent()
    gone = _forget(state, provider.vanished(silent))
    stopped = provider.stopped([name for name in silent if name not in gone])
    return Absent(gone, stopped)


def forget_vanished(
    state: ClusterState,
    provider: Provider,
    answers: Callable[[Machine], bool] = ssh_port_answers,
) -> list[str]:
    """Drop recorded machines the provider no longer has from `state`; their names."""
    return account_for_silent(state, provider, answers).gone


def _forget(state: ClusterState, gone: list[str]) -> list[str]:
    for name in gone:
        state.machines.pop(name, None)
        state.converged.pop(name, None)
        state.observed.pop(name, None)
    if gone:
        state.record("vanished", hosts=gone)
    return gone
