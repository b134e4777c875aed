"""Phases of a run (machines, converge, health, ...): timed, and announced to a listener.

The library only records and announces; the CLI decides how a phase looks on the terminal.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class RunPhase(StrEnum):
    """A phase of `up` or `down`; the values are the names in `--json` and state.json."""

    MACHINES = "machines"
    DRIFT = "drift check"
    CONVERGE = "converge"
    DRAIN = "drain"
    RESIZE = "resize"
    RESET = "reset"
    HEALTH = "health"
    WORKLOAD = "workload"


@dataclass(frozen=True)
class PhaseTiming:
    """One finished phase: its name, what it did (`detail`), how long, and whether it failed."""

    name: str
    seconds: float
    detail: str = ""
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 1)}


@dataclass(frozen=True)
class PhaseEvent:
    """A phase starts (`kind="start"`) or ends (`kind="end"`, with seconds and ok)."""

    kind: str
    name: str
    detail: str = ""
    hosts: tuple[str, ...] = ()
    seconds: float = 0.0
    ok: bool = True


PhaseListener = Callable[[PhaseEvent], None]


@contextlib.contextmanager
def timed_phase(
    log: list[PhaseTiming],
    listener: PhaseListener | None,
    name: str,
    detail: str = "",
    hosts: tuple[str, ...] = (),
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Time the body as phase `name`, append it to `log` (also when it raises), tell `listener`."""
    if listener is not None:
        listener(PhaseEvent("start", name, detail, hosts))
    started = clock()
    ok = False
    try:
        yield
        ok = True
    finally:
        seconds = clock() - started
        log.append(PhaseTiming(name, seconds, detail, ok))
        if listener is not None:
            listener(PhaseEvent("end", name, detail, hosts, seconds, ok))
