"""Run the playbooks through ansible-runner and turn the outcome into values or AnsibleError.

ansible-runner never raises for a failed play: it returns a status, an rc and per-host stats.
This module checks all three, names every failed or unreachable host with the failing task
and the module's message, and keeps the full output in ``<state_dir>/logs/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .errors import AnsibleError, StateError
from .paths import playbooks_dir

EventCallback = Callable[[dict[str, Any]], None]
OutputCallback = Callable[[str], None]

#: Runner events that end a task on one host, and what the progress display calls them.
_HOST_EVENTS = {
    "runner_on_ok": "host_ok",
    "runner_on_failed": "host_failed",
    "runner_on_unreachable": "host_unreachable",
    "runner_on_skipped": "host_skipped",
    "runner_retry": "host_retry",
}
#: Unix socket paths are limited to 107 bytes; ansible's socket name (10 chars) plus ssh's
#: temporary suffix (17) must fit after the directory.
_MAX_CONTROL_DIR = 64
_MESSAGE_LIMIT = 400


@dataclass(frozen=True)
class HostStats:
    """The PLAY RECAP line of one host."""

    ok: int = 0
    changed: int = 0
    failures: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class HostFailure:
    """One failed or unreachable host: where it stopped and what the module said."""

    host: str
    task: str
    message: str
    unreachable: bool = False
    play: str = ""


@dataclass
class PlaybookResult:
    """What a finished run did; `ok` is False exactly when run_playbook would raise."""

    playbook: str
    status: str
    rc: int
    stats: dict[str, HostStats]
    log_path: Path
    failures: list[HostFailure] = field(default_factory=list)
    #: play name -> hosts that had at least one task result in that play (in first-seen order).
    play_hosts: dict[str, list[str]] = field(default_factory=dict)
    #: Hosts a play with `ignore_unreachable` could not reach and went on without (sorted).
    left_out: list[str] = field(default_factory=list)
    #: Last lines of output, for errors that happen before any task (syntax, missing file).
    output_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0 and not self.failed_hosts()

    def failed_hosts(self) -> list[str]:
        """Hosts the recap counts as failed or unreachable (rescued failures do not count)."""
        if not self.stats:
            return sorted({f.host for f in self.failures})
        return sorted(h for h, s in self.stats.items() if s.failures or s.unreachable)

    def changed_hosts(self) -> list[str]:
        """Hosts where at least one task changed something (sorted)."""
        return sorted(host for host, stats in self.stats.items() if stats.changed)


def hosts_in_play(result: PlaybookResult, play: str | None = None) -> set[str]:
    """Hosts a play touched (any task result); all plays when `play` is None."""
    if play is not None:
        return set(result.play_hosts.get(play, []))
    return {host for hosts in result.play_hosts.values() for host in hosts}


def progress_event(raw: dict[str, Any]) -> dict[str, Any] | None:
    """A runner event as the progress display needs it, or None when it is not worth showing.

    Keys: ``event`` (play_start, task_start, host_ok, host_changed, host_failed,
    host_unreachable, host_skipped, host_retry, stats), ``play``, ``task``, ``host``, ``msg``
    and ``raw`` (the runner event itself).
    """
    name = raw.get("event", "")
    data = raw.get("event_data") or {}
    base = {
        "play": data.get("play", ""),
        "task": data.get("task", ""),
        "host": data.get("host"),
        "msg": "",
        "raw": raw,
    }
    if name == "playbook_on_play_start":
        return {**base, "event": "play_start", "host": None}
    if name == "playbook_on_task_start":
        return {**base, "event": "task_start", "host": None}
    if name == "playbook_on_stats":
        return {**base, "event": "stats", "host": None}
    if name not in _HOST_EVENTS:
        return None
    result = data.get("res") or {}
    kind = _HOST_EVENTS[name]
    if kind == "host_ok" and result.get("changed"):
        kind = "host_changed"
    if kind == "host_failed" and data.get("ignore_errors"):
        kind = "host_ok"
    msg = _module_message(result) if kind in ("host_failed", "host_unreachable") else ""
    if kind == "host_retry":
        msg = f"retrying ({result.get('retries', '?')} left)"
    return {**base, "event": kind, "msg": msg}


def _module_message(result: dict[str, Any]) -> str:
    """The module's own words: msg, plus stderr (or the reason) for commands that failed."""
    parts: list[str] = []
    msg = result.get("msg")
    if isinstance(msg, str) and msg:
        parts.append(msg.strip())
    for key in ("stderr", "reason", "stdout"):
        value = result.get(key)
        if isinstance(value, str) and value.strip():
            lines = [line for line in value.strip().splitlines() if line.strip()]
            parts.append(" | ".join(lines[-3:]))
            break
    if not parts and result.get("results"):
        failed = [r for r in result["results"] if isinstance(r, dict) and r.get("failed")]
        if failed:
            return f"item {failed[0].get('item')!r}: {_module_message(failed[0])}"
    text = ": ".join(parts) if parts else "failed (no message)"
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


class _Collector:
    """Folds runner events into failures, per-play hosts and the output log."""

    def __init__(
        self,
        log: TextIO | None = None,
        on_event: EventCallback | None = None,
        on_output: OutputCallback | None = None,
    ):
        self.log = log
        self.on_event = on_event
        self.on_output = on_output
        self.failures: dict[str, HostFailure] = {}
        self.play_hosts: dict[str, list[str]] = {}
        self.unreached: set[str] = set()
        self.stats: dict[str, HostStats] | None = None
        self.tail: list[str] = []

    def __call__(self, raw: dict[str, Any]) -> bool:
        self.consume(raw)
        return True  # keep the event in the artifacts too

    def consume(self, raw: dict[str, Any]) -> None:
        stdout = raw.get("stdout") or ""
        if stdout:
            if self.log is not None:
                self.log.write(stdout + "\n")
                self.log.flush()
            if self.on_output is not None:
                for line in stdout.splitlines():
                    self.on_output(line)
            self.tail = (self.tail + stdout.splitlines())[-20:]
        data = raw.get("event_data") or {}
        name = raw.get("event", "")
        host = data.get("host")
        if name in _HOST_EVENTS and host and name != "runner_retry":
            hosts = self.play_hosts.setdefault(data.get("play", ""), [])
            if host not in hosts:
                hosts.append(host)
        if name == "runner_on_unreachable" and host:
            self.unreached.add(host)
        ignored = name == "runner_on_failed" and data.get("ignore_errors")
        if name in ("runner_on_failed", "runner_on_unreachable") and host and not ignored:
            self.failures[host] = HostFailure(
                host=host,
                task=data.get("task", ""),
                message=_module_message(data.get("res") or {}),
                unreachable=name == "runner_on_unreachable",
                play=data.get("play", ""),
            )
        if name == "playbook_on_stats":
            self.stats = stats_from_event(data)
        if self.on_event is not None:
            event = progress_event(raw)
            if event is not None:
                self.on_event(event)


def stats_from_event(data: dict[str, Any]) -> dict[str, HostStats]:
    """Per-host stats from a `playbook_on_stats` event (ansible's `dark` = unreachable)."""
    keys = {
        "ok": "ok",
        "changed": "changed",
        "failures": "failures",
        "dark": "unreachable",
        "skipped": "skipped",
        "rescued": "rescued",
        "ignored": "ignored",
    }
    counts: dict[str, dict[str, int]] = {}
    for source, target in keys.items():
        for host, count in (data.get(source) or {}).items():
            counts.setdefault(host, {})[target] = int(count)
    for host in data.get("processed") or {}:
        counts.setdefault(host, {})
    return {host: HostStats(**values) for host, values in sorted(counts.items())}


def result_from_events(
    events: Iterable[dict[str, Any]], *, playbook: str, status: str, rc: int, log_path: Path
) -> PlaybookResult:
    """Build the result from recorded events (what run_playbook does while streaming)."""
    collector = _Collector()
    for raw in events:
        collector.consume(raw)
    return _result(collector, playbook=playbook, status=status, rc=rc, log_path=log_path)


def _result(
    collector: _Collector, *, playbook: str, status: str, rc: int, log_path: Path
) -> PlaybookResult:
    stats = collector.stats or {}
    # The events do not say whether a play ignored an unreachable host; the recap does: an
    # ignored one is counted `ok` + `ignored`, never `dark`.
    left_out = {h for h in collector.unreached if h in stats and not stats[h].unreachable}
    failures = [
        f for f in collector.failures.values() if not (f.unreachable and f.host in left_out)
    ]
    return PlaybookResult(
        playbook=playbook,
        status=status,
        rc=rc,
        stats=stats,
        log_path=log_path,
        failures=sorted(failures, key=lambda f: f.host),
        play_hosts=collector.play_hosts,
        left_out=sorted(left_out),
        output_tail=collector.tail,
    )


def error_for(result: PlaybookResult) -> AnsibleError:
    """The error for a failed run: every failed host, its task and message, and the log.

    Hosts that failed the same task with the same message share one line (large clusters).
    """
    failed = result.failed_hosts()
    described = {f.host: f for f in result.failures if f.host in failed}
    reasons: dict[str, str] = {}
    for host in failed:
        failure = described.get(host)
        if failure is None:
            state = "unreachable" if result.stats.get(host, HostStats()).unreachable else "failed"
            reasons[host] = f"({state}): no task result recorded"
        else:
            state = "unreachable" if failure.unreachable else "failed"
            reasons[host] = f"({state}) at task '{failure.task}': {failure.message}"
    grouped: dict[str, list[str]] = {}
    for host, reason in reasons.items():
        grouped.setdefault(reason, []).append(host)
    lines = [f"  {', '.join(hosts)} {reason}" for reason, hosts in grouped.items()]
    if lines:
        head = f"{result.playbook} failed on {len(failed)} host(s):"
    else:
        head = (
            f"{result.playbook} failed (status {result.status}, rc {result.rc}) "
            "before any task failed:"
        )
        lines = [f"  {line}" for line in result.output_tail[-8:] if line.strip()]
    message = "\n".join([head, *lines, f"Full log: {result.log_path}"])
    return AnsibleError(
        message,
        hint="Fix the cause and run the same command again: the playbooks are idempotent.",
        failed_hosts={
            host: (
                f"{described[host].task}: {described[host].message}"
                if host in described
                else "no task result recorded"
            )
            for host in failed
        },
        log_path=str(result.log_path),
    )


def control_path_dir(state_dir: Path) -> Path:
    """`<state_dir>/cp`, or, when that path is too long for ssh, a short per-cluster dir in
    the user's private `$XDG_RUNTIME_DIR` (else the temp dir; `private_dir` checks it)."""
    preferred = Path(state_dir) / "cp"
    if len(str(preferred)) <= _MAX_CONTROL_DIR:
        return preferred
    digest = hashlib.sha1(str(Path(state_dir).resolve()).encode()).hexdigest()[:12]
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = Path(runtime) if runtime and len(runtime) < _MAX_CONTROL_DIR - 30 else None
    return (base or Path(tempfile.gettempdir())) / f"dcos-provision-cp-{digest}"


def private_dir(path: Path) -> Path:
    """Create `path` (mode 0700) or accept an existing one only when it is a real directory
    of this user that nobody else may enter: SSH control sockets in a shared temp dir must
    not be planted or hijacked by another local user."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    info = path.lstat()
    problems = []
    if not stat.S_ISDIR(info.st_mode):
        problems.append("not a directory (a link or a file)")
    if info.st_uid != os.getuid():
        problems.append(f"owned by uid {info.st_uid}, not by this user ({os.getuid()})")
    if info.st_mode & 0o077:
        problems.append(f"mode {stat.S_IMODE(info.st_mode):04o}, others may enter it")
    if problems:
        raise StateError(
            f"{path}: refusing it for SSH control sockets: {'; '.join(problems)}",
            hint=f"remove {path} (someone else may have created it), then run again",
        )
    return path


def runner_env(state_dir: Path) -> dict[str, str]:
    """Environment for ansible-playbook: our venv first on PATH, config, per-cluster SSH sockets."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return {
        "PATH": os.pathsep.join([venv_bin, path]) if path else venv_bin,
        "ANSIBLE_CONFIG": str(playbooks_dir() / "ansible.cfg"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_path_dir(state_dir)),
        # ansible-runner turns host key checking off unless told; the inventory decides per host.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        # Strict hosts: keys recorded by the provider (vagrant-lxc, pulumi) or accepted by
        # `doctor --accept-new-host-keys` live in the state dir; an unknown or changed key
        # fails the connection (never a prompt). Non-strict hosts override this per host.
        "ANSIBLE_SSH_COMMON_ARGS": (
            "-o StrictHostKeyChecking=yes "
            f'-o "UserKnownHostsFile=~/.ssh/known_hosts {Path(state_dir).resolve()}/known_hosts"'
        ),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PYTHONUNBUFFERED": "1",
        **strategy_env(),
    }


def strategy_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Ansible's strategy: mitogen's ``mitogen_linear`` (one Python interpreter per host kept
    over a single SSH connection for the whole play, instead of a new SSH exec and module
    upload per task: a first converge of 1+1 in 29 s instead of 58 s, benchmarks/README.md).
    ``DCOS_PROVISION_MITOGEN=0`` (or a missing mitogen) keeps Ansible's plain ``linear``."""
    environ = os.environ if environ is None else environ
    if environ.get("DCOS_PROVISION_MITOGEN", "1") == "0":
        return {}
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        return {}
    plugins = Path(next(iter(spec.submodule_search_locations))) / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": "mitogen_linear"}


@contextlib.contextmanager
def _cancel_on_ctrl_c() -> Iterator[Callable[[], bool]]:
    """A cancel callback for ansible-runner that Ctrl-C sets, for the duration of one run.

    Left alone, ansible-runner installs its own SIGINT/SIGTERM handlers for good: Ctrl-C
    becomes a failed run (exit 1) and later Ctrl-Cs are swallowed. Here the previous handler
    is restored afterwards and the caller re-raises KeyboardInterrupt (exit 130).
    """
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted.is_set  # signals are only delivered to the main thread
        return
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: interrupted.set())
    try:
        yield interrupted.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def run_playbook(
    playbook: str,
    *,
    inventory: Path,
    state_dir: Path,
    limit: list[str] | None = None,
    extravars: dict[str, Any] | None = None,
    on_event: EventCallback | None = None,
    on_output: OutputCallback | None = None,
    check: bool = False,
) -> PlaybookResult:
    """Run one playbook (a name in playbooks/ or a path) and return its result.

    `on_event` gets the progress events, `on_output` every line written to the log.

    Raises AnsibleError when any host failed or was unreachable, or the run itself failed;
    KeyboardInterrupt when Ctrl-C cancelled it (ansible-runner stops ansible-playbook).
    """
    import ansible_runner  # slow import (~0.3 s); only commands that configure pay for it

    state_dir = Path(state_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    name = Path(playbook).stem
    logs = state_dir / "logs"
    private = state_dir / "ansible"
    for directory in (logs, private, state_dir / "facts"):
        directory.mkdir(parents=True, exist_ok=True)
    private_dir(control_path_dir(state_dir))
    log_path = logs / f"{stamp}-{name}.log"
    # ansible-runner reads env/{envvars,extravars,cmdline} left by an earlier run before (and
    # over) its arguments; this run's settings must be the only ones.
    shutil.rmtree(private / "env", ignore_errors=True)
    cmdline = ["--check", "--diff"] if check else []
    with log_path.open("w", encoding="utf-8") as log, _cancel_on_ctrl_c() as interrupted:
        collector = _Collector(log, on_event, on_output)
        runner = ansible_runner.run(
            cancel_callback=interrupted,
            private_data_dir=str(private),
            project_dir=str(playbooks_dir()),
            playbook=playbook,
            inventory=str(inventory),
            limit=",".join(limit) if limit else None,
            extravars=extravars or {},
            envvars=runner_env(state_dir),
            cmdline=" ".join(cmdline) if cmdline else None,
            fact_cache=str(state_dir / "facts"),
            ident=f"{stamp}-{name}",
            rotate_artifacts=20,
            suppress_env_files=True,
            quiet=True,
            event_handler=collector,
        )
    if interrupted() or runner.status == "canceled":
        raise KeyboardInterrupt(f"{Path(playbook).name} interrupted (log: {log_path})")
    result = _result(
        collector,
        playbook=Path(playbook).name,
        status=str(runner.status),
        rc=int(runner.rc if runner.rc is not None else -1),
        log_path=log_path,
    )
    if not result.stats and runner.stats:
        result.stats = stats_from_event(runner.stats)
    if not result.ok:
        raise error_for(result)
    return result
