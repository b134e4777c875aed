"""Recorded machines that no longer exist: `up` forgets them so its plan creates them again.

This is how a cluster that lost every master (or its whole ZooKeeper ensemble) comes back:
the provider must say the machine is gone (vagrant: `not_created`), not merely stopped or
unreachable; a stopped host is left to the health report and a human, as before. Only hosts
whose SSH port does not answer are asked about, so a healthy `up` pays one TCP connect per host.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

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


def forget_vanished(
    state: ClusterState,
    provider: Provider,
    answers: Callable[[Machine], bool] = ssh_port_answers,
) -> list[str]:
    """Drop recorded machines the provider no longer has from `state`; their names."""
    if not provider.detects_vanished or provider.declarative or not state.machines:
        return []
    silent = [name for name, machine in sorted(state.machines.items()) if not answers(machine)]
    gone = provider.vanished(silent) if silent else []
    for name in gone:
        state.machines.pop(name, None)
        state.converged.pop(name, None)
        state.observed.pop(name, None)
    if gone:
        state.record("vanished", hosts=gone)
    return gone
