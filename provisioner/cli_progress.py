"""How a run looks on stderr: one line per phase, per-host task counts and elapsed time.

On a terminal a rich Live display; elsewhere (CI, pipes, --verbose) plain lines, one per phase
or host event, with no spinners or control codes. Imported only by cli.py: the library just
emits events (phases, Ansible progress events, Ansible output lines, messages).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from .phases import PhaseEvent, PhaseTiming

#: Hosts shown under a running phase on a terminal; the rest are counted in one line.
MAX_LIVE_HOSTS = 12


@dataclass
class HostTally:
    """Task results of one host in the running phase (ok counts changed too, as Ansible does)."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    task: str = ""

    @property
    def seen(self) -> bool:
        return bool(self.ok or self.failed or self.unreachable or self.skipped)

    def counts(self) -> str:
        text = f"ok={self.ok} changed={self.changed} failed={self.failed}"
        return text + (f" unreachable={self.unreachable}" if self.unreachable else "")

    def count(self, kind: str) -> None:
        if kind in ("host_ok", "host_changed"):
            self.ok += 1
            self.changed += kind == "host_changed"
        elif kind == "host_failed":
            self.failed += 1
        elif kind == "host_unreachable":
            self.unreachable += 1
        elif kind == "host_skipped":
            self.skipped += 1


class ProgressView:
    """Receives the library's events for one command and renders them on `console`."""

    def __init__(self, console: Console, *, verbose: bool = False, live: bool | None = None):
        self.console = console
        self.verbose = verbose
        self.live = (console.is_terminal and not verbose) if live is None else live
        self._lock = threading.RLock()
        self._display: Live | None = None
        self._phase: PhaseEvent | None = None
        self._started = 0.0
        self._hosts: dict[str, HostTally] = {}
        self._note = ""
        self._spinner = Spinner("dots")

    def __enter__(self) -> ProgressView:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._display is not None:
                self._display.stop()
                self._display = None

    # ------------------------------------------------------------------ events
    def message(self, text: str) -> None:
        """A line from the library or a provider (e.g. vagrant's output)."""
        with self._lock:
            if self.verbose:
                self._print(f"  {text}")
            elif self._phase is None:
                self._print(f"> {text}")
            else:
                self._note = text  # shown under the running phase on a terminal only

    def phase(self, event: PhaseEvent) -> None:
        with self._lock:
            if event.kind == "start":
                self.close()  # a phase inside another one replaces its live line
                self._phase = event
                self._started = time.monotonic()
                self._hosts = {host: HostTally() for host in event.hosts}
                self._note = ""
                if self.live:
                    self._display = Live(
                        self, console=self.console, transient=True, refresh_per_second=8
                    )
                    self._display.start()
                else:
                    self._print(f"{event.name}: started: {_describe(event)}")
                return
            self.close()
            verdict = "done" if event.ok else "FAILED"
            self._print(f"{event.name}: {verdict} in {event.seconds:.1f}s ({event.detail})")
            for host, tally in self._hosts.items():
                if tally.seen:
                    self._print(f"{event.name}: {host:<24} {tally.counts()}")
            self._phase = None
            self._hosts = {}

    def ansible_event(self, event: dict[str, Any]) -> None:
        """A progress event from provisioner.ansible (host_ok, host_failed, ...)."""
        kind, host = event.get("event", ""), event.get("host")
        if not host or not kind.startswith("host_") or kind == "host_retry":
            return
        with self._lock:
            tally = self._hosts.setdefault(host, HostTally())
            tally.count(kind)
            tally.task = str(event.get("task", ""))
            if kind in ("host_failed", "host_unreachable"):
                what = "failed" if kind == "host_failed" else "unreachable"
                name = self._phase.name if self._phase else "ansible"
                self._print(f"{name}: {host} {what} at '{tally.task}': {event.get('msg', '')}")

    def ansible_output(self, line: str) -> None:
        """One line of the Ansible stream: shown with --verbose (it always goes to logs/)."""
        if self.verbose:
            with self._lock:
                self._print(line)

    # ------------------------------------------------------------------ rendering
    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def __rich__(self) -> RenderableType:
        with self._lock:
            phase = self._phase
            if phase is None:
                return Text("")
            elapsed = time.monotonic() - self._started
            self._spinner.text = Text.from_markup(
                f"[bold]{escape(phase.name)}[/] {escape(_describe(phase))}  [cyan]{elapsed:.0f}s[/]"
            )
            rows: list[RenderableType] = [self._spinner]
            # hosts appear once Ansible reports on them (a machines phase shows its output)
            active = [(h, t) for h, t in self._hosts.items() if t.seen]
            shown = active[:MAX_LIVE_HOSTS]
            hosts = Table.grid(padding=(0, 2))
            host_width = max((len(host) for host, _ in shown), default=0) + 2
            hosts.add_column(no_wrap=True, min_width=host_width)
            hosts.add_column(no_wrap=True, min_width=28)  # the counts never shrink
            hosts.add_column(no_wrap=True, overflow="ellipsis", max_width=60)  # current task
            for host, tally in shown:
                failures = tally.failed + tally.unreachable
                failed = f"[red]failed={failures}[/]" if failures else "failed=0"
                hosts.add_row(
                    f"  {escape(host)}",
                    f"ok={tally.ok} [yellow]changed={tally.changed}[/] {failed}",
                    f"[dim]{escape(tally.task)}[/]",
                )
            if shown:
                rows.append(hosts)
            if len(active) > MAX_LIVE_HOSTS:
                rows.append(Text(f"  ... and {len(active) - MAX_LIVE_HOSTS} more hosts"))
            if self._note and not shown:
                rows.append(Text(f"  {self._note}"[:200], style="dim"))
            return Group(*rows)


def _describe(event: PhaseEvent) -> str:
    if event.hosts and event.detail.endswith(".yml"):
        return f"{event.detail} on {len(event.hosts)} host(s)"
    return event.detail


def phase_table(phases: list[PhaseTiming], total_seconds: float) -> Table:
    """The end-of-run summary: each phase, what it did, its time and result."""
    table = Table(title="phases", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("phase", "left"),
        ("detail", "left"),
        ("seconds", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    table.add_column("result")
    for phase in phases:
        result = "[green]ok[/]" if phase.ok else "[red]FAILED[/]"
        detail = phase.detail if len(phase.detail) <= 60 else phase.detail[:57] + "..."
        table.add_row(phase.name, escape(detail), f"{phase.seconds:.1f}", result)
    table.add_row("[bold]total[/]", "", f"[bold]{total_seconds:.1f}[/]", "")
    return table
