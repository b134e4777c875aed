"""Probes of a cluster's nodes at once: a bounded thread pool whose answers keep their order.

Each probe waits on the network (a TLS handshake, an HTTP answer, an SSH login); asked one
after another, eight nodes cost eight round trips. Checks built from the answers are added in
the nodes' order afterwards, so a report reads the same however the probes were scheduled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..domain import Layer
from .report import CheckResult
from .view import Results

Item = TypeVar("Item")
Answer = TypeVar("Answer")

#: At most this many probes at once.
MAX_AT_ONCE = 16


def each(items: Iterable[Item], probe: Callable[[Item], Answer]) -> list[Answer]:
    """`probe(item)` for every item at once; the answers in the items' order. An exception
    a probe raises is raised here (the first in that order) when the probes still running
    have ended; those not started yet are dropped, as a loop would not have reached them."""
    todo = list(items)
    if len(todo) <= 1:
        return [probe(item) for item in todo]
    with ThreadPoolExecutor(max_workers=min(MAX_AT_ONCE, len(todo))) as pool:
        return list(pool.map(probe, todo))


def checks_at_once(
    layer: Layer, checks: Iterable[Callable[[Results], object]]
) -> list[CheckResult]:
    """Every check at once, each adding to its own Results of `layer`; what they added, in
    the order of `checks`."""

    def run(check: Callable[[Results], object]) -> list[CheckResult]:
        results = Results(layer)
        check(results)
        return results.checks

    return [result for found in each(checks, run) for result in found]
