"""The `dcos-provision` command line: the only module that prints or exits.

Exit codes: 0 ok, 1 operation failed or cluster unhealthy, 2 bad input (spec or usage),
130 interrupted. Human output and progress go to stderr; `--json` writes to stdout only.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__, operations
from .cli_progress import ProgressView, phase_table
from .cluster import (
    Cluster,
    known_machines,
    open_cluster,
    recorded_machines,
)
from .errors import ProvisionError, SpecError, UsageError
from .spec import ClusterSpec
from .spec.file import load_spec

if TYPE_CHECKING:
    from .backup import AutoBackup, BackupResult, RestoreResult
    from .diagnose import DiagnoseResult
    from .doctor import DoctorReport
    from .health import CheckResult, HealthReport
    from .metrics import Figures
    from .rotate import RotationPlan

app = typer.Typer(
    name="dcos-provision",
    help="Stand up a Mesos cluster (ZooKeeper + masters + agents) from one spec file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # click's plain help: typer's rich help shows `<bool>` after every flag with click 8.2+.
    rich_markup_mode=None,
)
err = Console(
    stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 160
)
T = TypeVar("T")

SpecArg = Annotated[
    Path, typer.Argument(help="Cluster spec (YAML).", show_default=False, metavar="SPEC")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        help="Parent of the per-cluster state directory (default: "
        "`.dcos-provision/` next to the spec, or $DCOS_PROVISION_STATE_DIR).",
    ),
]
WaitOpt = Annotated[
    float,
    typer.Option("--wait", metavar="SECONDS", help="Seconds to wait for a healthy cluster."),
]
VerboseRunOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Stream the full Ansible output (always in logs/)."),
]
ConvergeOpt = Annotated[
    bool,
    typer.Option(
        "--converge", help="Run the full play on every host instead of the fast drift check."
    ),
]
WorkloadOpt = Annotated[
    bool,
    typer.Option(
        "--workload/--no-workload",
        help="After health, run one real task through the scheduler API (not on the stand-in).",
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
NoBackupOpt = Annotated[
    bool,
    typer.Option(
        "--no-backup",
        help="Skip the automatic backup (taken before an upgrade, a master resize, a master "
        "repair and down, into the state directory's backups/).",
    ),
]
PassphraseFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        metavar="FILE",
        help="File whose first line is the passphrase sealing the cluster's secrets in a "
        "backup (default: $DCOS_PROVISION_BACKUP_PASSPHRASE; without either, backups leave "
        "the secrets out).",
    ),
]


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"dcos-provision {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Stand up a Mesos cluster (ZooKeeper + masters + agents) from one spec file."""


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _fail(exc: ProvisionError, as_json: bool) -> None:
    if as_json:
        payload: dict[str, Any] = {"error": exc.message, "hint": exc.hint}
        if isinstance(exc, SpecError):
            payload["problems"] = exc.problems
        _emit_json(payload)
    err.print(f"[bold red]error:[/] {escape(exc.message)}")
    if exc.hint:
        err.print(f"[yellow]hint:[/] {escape(exc.hint)}")
    raise typer.Exit(exc.exit_code)


def _run(action: Callable[[], T], as_json: bool = False) -> T:
    """Run a library call, turning domain errors into one message and an exit code."""
    try:
        return action()
    except ProvisionError as exc:
        _fail(exc, as_json)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]: state saved after each finished step; re-run to continue")
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug: say so in one line, traceback only on request
        if os.environ.get("DCOS_PROVISION_DEBUG"):
            traceback.print_exc()
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
            "(set DCOS_PROVISION_DEBUG=1 for the traceback)"
        )
        raise typer.Exit(1) from None
    raise AssertionError("unreachable")


def _open(spec: Path, state_dir: Path | None, view: ProgressView | None = None) -> Cluster:
    """Load the spec; the view (plain lines by default) renders the run's events."""
    view = view or ProgressView(err, live=False)
    cluster = open_cluster(spec, state_dir, progress=view.message)
    cluster.on_ansible_event = view.ansible_event
    cluster.on_ansible_output = view.ansible_output
    cluster.on_phase = view.phase
    return cluster


def _interactive() -> bool:
    return sys.stdin.isatty()


def _confirm(
    question: str,
    as_json: bool,
    refused: str,
    *,
    hint: str = "pass --yes",
    declined: str = "nothing changed",
) -> None:
    """Ask on a terminal; refuse (exit 2) without one; exit 1 when the answer is no."""
    if not _interactive():
        _fail(UsageError(f"refusing to {refused} without confirmation on a non-interactive "
                         "terminal", hint=hint), as_json)  # fmt: skip
    if not typer.confirm(question, err=True):
        err.print(declined)
        raise typer.Exit(1)


def _auto_backup(no_backup: bool, passphrase_file: Path | None, as_json: bool) -> AutoBackup:
    from .backup import AutoBackup, read_passphrase

    if no_backup:
        return AutoBackup(enabled=False)
    return AutoBackup(passphrase=_run(lambda: read_passphrase(passphrase_file), as_json))


def _print_health(report: HealthReport, verbose: bool = False) -> None:
    """One line per layer, then the failing checks (every check with --verbose)."""
    verdict = "[green]healthy[/]" if report.healthy else "[bold red]NOT healthy[/]"
    leader = f", leader {report.leader}" if report.leader else ""
    err.print(f"cluster {report.cluster}: {verdict}{leader}")
    if report.mesos_description:
        err.print(f"  runs {report.mesos_description}", markup=False)
    for layer in report.layers():
        mark = {"ok": "[green]ok[/]", "skipped": "[yellow]skipped[/]"}.get(
            layer.status, "[red]FAIL[/]"
        )
        err.print(
            f"  {layer.layer:<14} {mark}  ({layer.total - layer.failed}/{layer.total} checks)"
        )
    shown = report.checks if verbose else [c for c in report.checks if not c.ok]
    if shown:
        err.print(_health_table(shown))


def _health_table(checks: list[CheckResult]) -> Table:
    table = Table()
    for column in ("layer", "check", "host", "ok", "detail"):
        table.add_column(column)
    for check in checks:
        mark = "[green]ok[/]" if check.ok else "[red]FAIL[/]"
        table.add_row(check.layer, check.name, check.host or "-", mark, escape(check.detail or ""))
    return table


# --------------------------------------------------------------------------- commands


@app.command()
def validate(spec: SpecArg, as_json: JsonOpt = False) -> None:
    """Check a spec file; list every problem (file:line field: message), exit 2 if any."""
    try:
        loaded = load_spec(spec)
    except SpecError as exc:
        if as_json:
            _emit_json({"file": str(spec), "valid": False, "problems": exc.problems})
        for problem in exc.problems:
            err.print(problem, markup=False)
        if exc.hint:
            err.print(f"hint: {exc.hint}", markup=False)
        raise typer.Exit(2) from None
    from .topology import plan_machines

    machines = plan_machines(loaded)
    if as_json:
        _emit_json(
            {
                "file": str(spec),
                "valid": True,
                "cluster": loaded.name,
                "machines": [{"name": m.name, "roles": list(m.roles)} for m in machines],
            }
        )
    err.print(f"{spec}: valid ({loaded.name}: {len(machines)} machine(s))")


@app.command()
def schema(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="The spec reference of docs/spec.md instead.")
    ] = False,
) -> None:
    """Print the JSON Schema of the cluster spec (with every field's description)."""
    if markdown:
        from .spec.doc import spec_reference_markdown

        sys.stdout.write(spec_reference_markdown())
        return
    _emit_json(ClusterSpec.model_json_schema())


@app.command()
def plan(
    spec: SpecArg,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    converge: ConvergeOpt = False,
) -> None:
    """Show what `up` would change, without changing anything."""
    result = _run(lambda: operations.plan(_open(spec, state_dir), converge=converge), as_json)
    if as_json:
        _emit_json(result.to_dict())
        return
    err.print(f"plan for cluster [bold]{result.cluster}[/]:")
    for number, action in enumerate(result.actions, 1):
        err.print(f"  {number}. {action.describe()}", markup=False)


@app.command()
def up(
    spec: SpecArg,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    wait: WaitOpt = 600,
    plan_only: Annotated[bool, typer.Option("--plan-only", help="Same as `plan`.")] = False,
    workload: WorkloadOpt = True,
    verbose: VerboseRunOpt = False,
    converge: ConvergeOpt = False,
    no_backup: NoBackupOpt = False,
    passphrase_file: PassphraseFileOpt = None,
) -> None:
    """Create machines, install ZooKeeper + Mesos, and wait until the cluster is verified.

    On a converged cluster with an unchanged spec, a fast drift check (one SSH round trip per
    host) decides which hosts need the play; `--converge` runs it on every host. Recorded
    machines that no longer exist (deleted outside this tool) are created again. A new
    `mesos.version` or `masters.count` is backed up first (see `backup`).
    """
    if plan_only:
        plan(spec, as_json=as_json, state_dir=state_dir, converge=converge)
        return
    auto_backup = _auto_backup(no_backup, passphrase_file, as_json)
    _run_and_summarise(
        "up",
        spec,
        state_dir,
        lambda cluster: operations.up(
            cluster,
            wait_timeout=wait,
            workload=workload,
            converge=converge,
            auto_backup=auto_backup,
        ),
        verbose=verbose,
        as_json=as_json,
    )


def _run_and_summarise(
    verb: str,
    spec: Path,
    state_dir: Path | None,
    operation: Callable[[Cluster], operations.RunResult],
    *,
    verbose: bool,
    as_json: bool,
    before: Callable[[], None] | None = None,
) -> None:
    """`up`, `scale` and `upgrade`: under a live progress view, run `before` (if any), open
    the cluster and run the operation on it; then print the run's summary."""

    def run() -> operations.RunResult:
        if before is not None:
            before()
        return operation(_open(spec, state_dir, view))

    with ProgressView(err, verbose=verbose) as view:
        result = _run(run, as_json)
    _finish_run(result, as_json, verb)


def _finish_run(result: operations.RunResult, as_json: bool, verb: str) -> None:
    """The summary after a run: phase times, Ansible changes and logs, health."""
    if as_json:
        _emit_json(result.to_dict())
    if result.phases:
        err.print(phase_table(result.phases, result.seconds))
    for host, changes in result.drift.items():
        err.print(f"drift on {host}: {'; '.join(changes)}", markup=False)
    for host, error in result.unobserved.items():
        err.print(f"drift check could not look at {host}: {error}", markup=False)
    for book in result.playbooks:
        changed = sum(book.changed.values())
        err.print(f"ansible {book.playbook}: changed={changed} (log: {book.log})")
    if result.health is not None:
        _print_health(result.health)
    err.print(f"{verb} finished in {result.seconds:.0f}s")


@app.command()
def status(
    spec: SpecArg,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    via_ssh: Annotated[bool, typer.Option("--via-ssh", help="Probe through SSH.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every check.")] = False,
    workload: Annotated[
        bool, typer.Option("--workload", help="Also run one real task (the workload layer).")
    ] = False,
) -> None:
    """Layered health report (reachability, zookeeper, masters, agents); exit 1 if degraded."""
    report = _run(
        lambda: operations.status(_open(spec, state_dir), via_ssh=via_ssh, workload=workload),
        as_json,
    )
    if as_json:
        _emit_json(report.to_dict())
    else:
        _print_health(report, verbose)
    if not report.healthy:
        raise typer.Exit(1)


@app.command()
def metrics(spec: SpecArg, as_json: JsonOpt = False, state_dir: StateDirOpt = None) -> None:
    """The figures to check first: leader uptime, agents, tasks, offers, ZooKeeper latency.

    From Prometheus on a master when it runs (monitoring), else from the endpoints; exit 1
    when no master reports itself elected.
    """
    figures = _run(lambda: operations.metrics(_open(spec, state_dir)), as_json)
    if as_json:
        _emit_json(figures.to_dict())
    else:
        _print_figures(figures)
    if figures.leader is None:
        raise typer.Exit(1)


@app.command()
def credentials(
    spec: SpecArg,
    browser_bundle: Annotated[
        Path,
        typer.Option(
            "--browser-bundle",
            metavar="FILE",
            help="Write a PKCS#12 bundle (0600) with a new operator client certificate of the "
            "cluster CA, and the CA certificate beside it (FILE's name with .ca.crt).",
        ),
    ],
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file",
            metavar="FILE",
            help="File whose first line is the passphrase sealing the bundle (default: ask).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
) -> None:
    """Credentials for a browser: open the Mesos UI over mutual TLS (security.tls on).

    Import the bundle into the browser's certificates and trust the CA certificate for web
    sites; the UI still asks for the operator's principal and secret (docs/monitoring.md).
    """
    from .browser_bundle import MIN_PASSPHRASE, check_passphrase, read_passphrase_file

    if passphrase_file is not None:
        passphrase = _run(lambda: read_passphrase_file(passphrase_file), as_json)
    elif _interactive():
        passphrase = typer.prompt(
            f"Passphrase for {browser_bundle} (at least {MIN_PASSPHRASE} characters)",
            hide_input=True,
            confirmation_prompt=True,
            err=True,
        )
        _run(lambda: check_passphrase(passphrase, "passphrase"), as_json)
    else:
        _fail(UsageError("no passphrase for the browser bundle on a non-interactive terminal",
                         hint="pass --passphrase-file FILE"), as_json)  # fmt: skip
    bundle = _run(
        lambda: operations.browser_bundle(_open(spec, state_dir), browser_bundle, passphrase),
        as_json,
    )
    if as_json:
        _emit_json(bundle.to_dict())
        return
    expires = f"{bundle.certificate.not_after:%Y-%m-%d}"
    err.print(f"wrote {bundle.bundle} (0600): {bundle.certificate.subject}, expires {expires}",
              markup=False)  # fmt: skip
    err.print(f"wrote {bundle.ca_certificate}: the cluster CA, to trust for web sites",
              markup=False)  # fmt: skip


def _print_figures(figures: Figures) -> None:
    def shown(value: float | None, unit: str = "") -> str:
        return "unknown" if value is None else f"{value:g}{unit}"

    err.print(f"metrics from {figures.source}", markup=False)
    table = Table(show_header=False)
    table.add_row("leader", figures.leader or "[red]none elected[/]")
    table.add_row("leader uptime", shown(figures.leader_uptime_s, " s"))
    agents = f"{shown(figures.agents_active)} of {figures.agents_expected} expected"
    below = figures.agents_active is None or figures.agents_active < figures.agents_expected
    table.add_row("agents active", f"[red]{agents}[/]" if below else agents)
    table.add_row("tasks running", shown(figures.tasks_running))
    table.add_row("offers outstanding", shown(figures.offers_outstanding))
    table.add_row(
        "zookeeper latency", shown(figures.zookeeper_latency_ms, " ms (avg, worst member)")
    )
    err.print(table)


@app.command()
def scale(
    spec: SpecArg,
    agents: Annotated[
        int | None,
        typer.Option("--agents", metavar="N", help="New number of agents.", show_default=False),
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option(
            "--remove", metavar="NAME", help="Agent to remove (repeatable); default: the newest."
        ),
    ] = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    wait: WaitOpt = 600,
    verbose: VerboseRunOpt = False,
) -> None:
    """Grow or shrink the agents; only the agents that change are touched.

    New agents are created and configured alone; removed ones (the newest, or those named by
    --remove) are drained first, after a confirmation (--yes skips it). `agents.count` in the
    spec file is updated to match.
    """
    removing = tuple(remove or ())
    _run(lambda: operations.check_scale_request(agents, removing), as_json)
    # Validates the file and refuses (bad --remove, quorum) before the file is touched.
    change = _run(lambda: operations.plan_scale(_open(spec, state_dir), agents, removing), as_json)
    if change.doomed and not yes:
        _confirm(
            f"Drain and destroy {len(change.doomed)} agent(s): {', '.join(change.doomed)}?",
            as_json,
            "remove agents",
        )

    def record_the_count() -> None:
        if operations.record_agent_count(spec, change):
            err.print(f"{spec}: agents.count set to {change.agents}")

    _run_and_summarise(
        "scale",
        spec,
        state_dir,
        lambda cluster: operations.scale(cluster, change, wait_timeout=wait),
        verbose=verbose,
        as_json=as_json,
        before=record_the_count,
    )


@app.command()
def upgrade(
    spec: SpecArg,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    wait: WaitOpt = 600,
    verbose: VerboseRunOpt = False,
    no_backup: NoBackupOpt = False,
    passphrase_file: PassphraseFileOpt = None,
) -> None:
    """Roll out a new `mesos.version`, one master at a time, then the agents.

    Followers first and the leader last, each step gated on health; agents in batches.
    A backup is taken first (a failed one stops the upgrade; --no-backup skips it).
    """
    auto_backup = _auto_backup(no_backup, passphrase_file, as_json)

    _run_and_summarise(
        "upgrade",
        spec,
        state_dir,
        lambda cluster: operations.upgrade(cluster, wait_timeout=wait, auto_backup=auto_backup),
        verbose=verbose,
        as_json=as_json,
    )


@app.command("rotate-credentials")
def rotate_credentials(
    spec: SpecArg,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    wait: WaitOpt = 300,
    verbose: VerboseRunOpt = False,
    no_backup: NoBackupOpt = False,
    passphrase_file: PassphraseFileOpt = None,
) -> None:
    """New operator, health and agent credentials and new node certificates, rolled out one
    node at a time with a health check between nodes; the old secrets are rejected after.

    Three passes (accept the new, switch to the new, retire the old), each over the masters
    (leader last) and then the agents; the run stops at the first unhealthy check, naming
    it, and a re-run resumes. Shows its plan and asks first (--yes skips it); a backup is
    taken first (--no-backup skips it).
    """
    from . import rotate

    auto_backup = _auto_backup(no_backup, passphrase_file, as_json)
    the_plan = _run(lambda: rotate.plan(_open(spec, state_dir)), as_json)
    _print_rotation_plan(the_plan)
    if not yes:
        _confirm(
            f"Rotate the credentials of {the_plan.cluster}, restarting "
            f"{len(the_plan.masters) + len(the_plan.agents)} node(s) one at a time?",
            as_json,
            "rotate credentials",
        )

    def run() -> rotate.RotationResult:
        return rotate.rotate(
            _open(spec, state_dir, view), wait_timeout=wait, auto_backup=auto_backup
        )

    with ProgressView(err, verbose=verbose) as view:
        result = _run(run, as_json)
    if as_json:
        _emit_json(result.to_dict())
    if result.phases:
        err.print(phase_table(result.phases, result.seconds))
    for check in result.checks:
        verdict = "healthy" if check["healthy"] else "NOT healthy"
        err.print(f"health after {check['after']}: {verdict}", markup=False)
    if result.health is not None:
        _print_health(result.health)
    err.print(f"rotate-credentials finished in {result.seconds:.0f}s")


def _print_rotation_plan(the_plan: RotationPlan) -> None:
    """The rotation's plan, `plan`-style, before anything changes."""
    err.print(f"rotate-credentials plan for {the_plan.cluster}:")
    if the_plan.resuming:
        err.print("  resuming an interrupted rotation")
    for name, (old, new) in the_plan.principals.items():
        err.print(f"  {name}: {old} -> {new or 'a new principal'} (new secret)", markup=False)
    if the_plan.certificates:
        err.print(f"  new node and executor certificates: {', '.join(the_plan.certificates)}")
    order = ", ".join([*the_plan.masters, *the_plan.agents])
    for step in the_plan.passes:
        err.print(f"  {step} pass: {order} (one at a time, leader last)", markup=False)
    for item in the_plan.not_rotated:
        err.print(f"  not rotated: {item}", markup=False)


@app.command()
def down(
    spec: SpecArg,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    no_backup: NoBackupOpt = False,
    passphrase_file: PassphraseFileOpt = None,
) -> None:
    """Destroy the machines this tool created for the cluster (static hosts are reset).

    A backup is taken first into the state directory's backups/ (kept after `down`); on a
    broken cluster it holds what could be read, says what it lacks, and `down` goes on.
    """
    auto_backup = _auto_backup(no_backup, passphrase_file, as_json)
    view = ProgressView(err)
    cluster = _run(lambda: _open(spec, state_dir, view), as_json)
    if not yes:
        names = _run(lambda: sorted(m.name for m in recorded_machines(cluster)), as_json)
        _confirm(
            f"Destroy {len(names)} machine(s) of {cluster.spec.name}: {', '.join(names)}?",
            as_json,
            "destroy",
        )
    with view:
        destroyed = _run(lambda: operations.down(cluster, auto_backup), as_json)
    if as_json:
        _emit_json({"cluster": cluster.spec.name, "destroyed": destroyed})
    err.print(f"destroyed: {', '.join(destroyed) or 'nothing (no machines recorded)'}")


@app.command()
def inventory(spec: SpecArg, state_dir: StateDirOpt = None) -> None:
    """Print the generated Ansible inventory (YAML): recorded machines, or static hosts."""
    from .inventory import render_inventory

    def run() -> str:
        cluster = _open(spec, state_dir)
        return render_inventory(cluster.spec, known_machines(cluster))

    sys.stdout.write(_run(run))


@app.command()
def doctor(
    spec: SpecArg,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    accept_new_host_keys: Annotated[
        bool, typer.Option("--accept-new-host-keys", help="Record unknown SSH host keys.")
    ] = False,
) -> None:
    """SSH preflight on every host: login, sudo, python3, OS, free ports, clock, disk."""

    def run() -> DoctorReport:
        return operations.doctor(_open(spec, state_dir), accept_new_host_keys=accept_new_host_keys)

    report = _run(run, as_json)
    if as_json:
        _emit_json(report.to_dict())
    else:
        table = Table(title="doctor", title_justify="left")
        for column in ("host", "check", "ok", "detail"):
            table.add_column(column)
        for check in report.checks:
            table.add_row(
                check.host,
                check.check,
                "[green]ok[/]" if check.ok else "[red]FAIL[/]",
                escape(check.detail or ""),
            )
        err.print(table)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def diagnose(
    spec: SpecArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Bundle path (default: ./<name>-diagnostics-<UTC time>.tar.gz).",
            show_default=False,
        ),
    ] = None,
    lines: Annotated[
        int, typer.Option("--lines", metavar="N", help="Journal lines per service.", min=1)
    ] = 500,
    via_ssh: Annotated[
        bool, typer.Option("--via-ssh", help="Probe health through SSH (as `status`).")
    ] = False,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
) -> None:
    """Write a support bundle (tar.gz): journals, configs, versions, health, state; no secrets.

    Hosts that are down or refuse SSH are recorded as such and the rest is still collected;
    the exit code is 0 whenever the bundle was written.
    """

    def run() -> DiagnoseResult:
        cluster = _open(spec, state_dir)
        err.print(f"collecting diagnostics of {cluster.spec.name} ...")
        return operations.diagnose(
            cluster, spec_file=spec, output=output, journal_lines=lines, via_ssh=via_ssh
        )

    result = _run(run, as_json)
    if as_json:
        _emit_json(result.to_dict())
    for host in result.hosts:
        name = escape(host.machine.name)
        if host.login_error:
            err.print(f"  {name}: [red]unreachable[/] ({escape(host.login_error)})")
        else:
            missing = f", [yellow]{len(host.missing)} not collected[/]" if host.missing else ""
            err.print(f"  {name}: {len(host.files)} file(s){missing}")
    for name, reason in result.missing.items():
        err.print(f"  cluster {escape(name)}: [yellow]not collected[/] ({escape(reason)})")
    err.print(f"bundle written: {escape(str(result.bundle))}")


@app.command()
def version() -> None:
    """Print the version."""
    sys.stdout.write(f"dcos-provision {__version__}\n")


# --------------------------------------------------------------------------- backup, restore


@app.command()
def backup(
    spec: SpecArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Archive path (default: ./<name>-backup-<UTC time>.tar.gz).",
            show_default=False,
        ),
    ] = None,
    passphrase_file: PassphraseFileOpt = None,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
) -> None:
    """Write one archive: the cluster's znodes (data + ACLs), the Mesos registry, maintenance
    schedule, quota and weights, and the state directory (secrets sealed with a passphrase).
    """
    from .backup import read_passphrase, take_backup

    def run() -> BackupResult:
        passphrase = read_passphrase(passphrase_file)
        return take_backup(_open(spec, state_dir), passphrase=passphrase, output=output)

    result = _run(run, as_json)
    if as_json:
        _emit_json(result.to_dict())
    contents = result.manifest.get("contents", {})
    for key, value in contents.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        err.print(f"  {key}: {shown if shown != '' else '-'}", markup=False)
    err.print(f"backup written: {escape(str(result.path))}")


@app.command()
def restore(
    spec: SpecArg,
    archive: Annotated[
        Path,
        typer.Argument(help="Archive written by `backup`.", metavar="FILE", show_default=False),
    ],
    passphrase_file: PassphraseFileOpt = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace znodes whose data differ from the backup's."),
    ] = False,
    verify_only: Annotated[
        bool,
        typer.Option(
            "--verify-only", help="Check checksums, identity and passphrase; change nothing."
        ),
    ] = False,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
) -> None:
    """Write a backup back onto the running cluster of the same spec: znodes, maintenance
    schedule, quota and weights (and secrets.json when the state directory lost it).

    Checksums, the cluster's identity and the passphrase are verified first; a damaged or
    foreign archive is refused and nothing changes. Mesos keeps its registry only in the
    masters' replicated log, so agents re-register on their own after a lost control plane.
    """
    from . import backup as backup_module

    def run() -> RestoreResult:
        passphrase = backup_module.read_passphrase(passphrase_file)
        cluster = _open(spec, state_dir)
        if verify_only:
            backup_module.verify(cluster, archive, passphrase)
            return backup_module.RestoreResult(path=archive)
        return backup_module.restore(cluster, archive, passphrase=passphrase, overwrite=overwrite)

    result = _run(run, as_json)
    if as_json:
        _emit_json({**result.to_dict(), "verify_only": verify_only})
    if verify_only:
        err.print(f"{escape(str(archive))}: checksums and identity verified; nothing changed")
        return
    if result.secrets_restored:
        err.print("restored secrets.json into the state directory")
    err.print(f"restored {len(result.znodes)} znode(s)")
    for line in result.mesos:
        err.print(f"re-applied {line}", markup=False)
    err.print(f"restore of {escape(str(archive))} finished")


# --------------------------------------------------------------------------- day 2: repair, verify


@app.command()
def repair(
    spec: SpecArg,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    wait: WaitOpt = 300,
    plan_only: Annotated[
        bool, typer.Option("--plan-only", help="Say what would be repaired; change nothing.")
    ] = False,
    no_backup: NoBackupOpt = False,
    passphrase_file: PassphraseFileOpt = None,
) -> None:
    """Re-converge only the hosts and roles health names (plus missing files or stopped
    services of the roles), then verify. Refuses on gone hosts, lost quorum or a changed spec.
    """
    auto_backup = _auto_backup(no_backup, passphrase_file, as_json)
    result = _run(
        lambda: operations.repair(
            _open(spec, state_dir),
            plan_only=plan_only,
            wait_timeout=wait,
            auto_backup=auto_backup,
        ),
        as_json,
    )
    if as_json:
        _emit_json(result.to_dict())
    if not result.targets:
        err.print("nothing to repair: health passes and every role's files and services are there")
    for host, roles in result.targets.items():
        err.print(f"{'would repair' if plan_only else 'repaired'} {host}: {', '.join(roles)}")
        for role, reasons in roles.items():
            for reason in reasons:
                err.print(f"  {role}: {reason}", markup=False)
    for book in result.playbooks:
        changed = sum(book.changed.values())
        err.print(
            f"ansible {book.playbook} --limit {','.join(book.limit)}: changed={changed} "
            f"(log: {book.log})"
        )
    report = result.health or result.before
    if report is not None and not plan_only:
        _print_health(report)
    err.print(f"repair finished in {result.seconds:.0f}s")
    if not plan_only and not result.healthy:
        raise typer.Exit(1)


@app.command()
def verify(
    spec: SpecArg,
    chaos: Annotated[
        bool,
        typer.Option(
            "--chaos",
            help="Test/staging only: stop a ZooKeeper follower, the ZooKeeper leader, the "
            "leading master and an agent in turn; measure detection and recovery.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
) -> None:
    """Health plus one real task; with --chaos, inject faults one at a time and measure."""
    if not chaos:
        status(spec, as_json=as_json, state_dir=state_dir, workload=True)
        return
    cluster = _run(lambda: _open(spec, state_dir), as_json)
    if not yes:
        _confirm(
            f"Stop ZooKeeper, the leading master and an agent of {cluster.spec.name}, one at a "
            "time (test and staging clusters only)?",
            as_json,
            "stop services",
            hint="pass --yes (only on test and staging clusters)",
            declined="nothing stopped",
        )
    report = _run(lambda: operations.chaos(cluster), as_json)
    if as_json:
        _emit_json(report.to_dict())
    table = Table(title=f"chaos on {report.cluster}", title_justify="left")
    for column in ("fault", "host", "detected", "new leader", "task in outage", "recovered"):
        table.add_column(column)

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}s"

    for fault in report.faults:
        if fault.skipped:
            table.add_row(fault.fault, "-", f"[yellow]skipped[/]: {escape(fault.skipped)}")
            continue
        task = {True: "[green]ran[/]", False: "[red]FAILED[/]", None: "-"}[
            fault.workload_ok_during_outage
        ]
        leader = f"{fault.new_leader} {seconds(fault.new_leader_s)}" if fault.new_leader else "-"
        table.add_row(
            fault.fault,
            fault.host or "-",
            seconds(fault.detected_s),
            leader,
            task,
            seconds(fault.recovered_s) if not fault.error else f"[red]{escape(fault.error)}[/]",
        )
    err.print(table)
    if report.health is not None:
        _print_health(report.health)
    err.print(f"verify --chaos finished in {report.seconds:.0f}s")
    if not report.ok:
        raise typer.Exit(1)
