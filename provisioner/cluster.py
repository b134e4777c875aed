"""A cluster as the operations see it: its spec, its state directory, its machines and where a
run reports to. Queries only; the operations that change it are in operations.py."""

from __future__ import annotations

import contextlib
import dataclasses
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import pki, security
from .domain import Machine, PlannedMachine, Role
from .errors import ProvisionError
from .paths import default_state_dir
from .phases import PhaseListener, PhaseTiming, timed_phase
from .providers import provider_for
from .providers.base import Provider
from .spec import ClusterSpec
from .spec.file import load_spec
from .state import ClusterState, StateStore
from .topology import plan_machines

Progress = Callable[[str], None]


@dataclass
class Cluster:
    """A loaded spec and its state directory."""

    spec: ClusterSpec
    store: StateStore
    progress: Progress = field(default=lambda _m: None)
    on_ansible_event: Callable[[dict[str, Any]], None] | None = None
    #: Every line of Ansible output as it is written to logs/ (the CLI's --verbose).
    on_ansible_output: Callable[[str], None] | None = None
    on_phase: PhaseListener | None = None
    #: Phases of the current run, in order (`up` points it at its RunResult.phases).
    phase_log: list[PhaseTiming] = field(default_factory=list)
    #: The health credential and the stamps of the files it was read from.
    _credential: tuple[object, security.Credential | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def state_dir(self) -> Path:
        return self.store.directory

    @property
    def known_hosts_file(self) -> str:
        """The cluster's own known_hosts (where `doctor --accept-new-host-keys` records keys);
        SSH probes read it besides ~/.ssh/known_hosts, and it may not exist."""
        return str(self.state_dir / "known_hosts")

    @contextlib.contextmanager
    def phase(self, name: str, detail: str = "", hosts: tuple[str, ...] = ()) -> Iterator[None]:
        """Time the body as one phase of the run (`with cluster.phase(RunPhase.HEALTH): ...`)."""
        with timed_phase(self.phase_log, self.on_phase, name, detail, hosts):
            yield

    def provider(self) -> Provider:
        return provider_for(self.spec, self.state_dir, self.progress)

    def tls_context(self) -> ssl.SSLContext | None:
        """Our clients' TLS context (cluster CA, controller certificate) when `security.tls`
        is on and the cluster has its CA; None otherwise (plain HTTP)."""
        tls_spec = self.spec.security.tls
        if tls_spec.enabled and pki.pki_dir(self.state_dir).joinpath("ca.crt").exists():
            return pki.client_context(self.state_dir, self.spec.name, tls_spec.certificate_days)
        return None

    def health_credential(self) -> security.Credential | None:
        """What the health checks authenticate as: the health principal (Mesos authentication
        on) and the controller's TLS certificate (`security.tls` on); None when neither.

        Read once per command: later calls reuse it until the secrets file or the cluster CA
        changes on disk (created by the first `up`, or rotated)."""
        key = (
            _file_stamp(security.secrets_path(self.state_dir)),
            _file_stamp(pki.pki_dir(self.state_dir) / "ca.crt"),
        )
        if self._credential is not None and self._credential[0] == key:
            return self._credential[1]
        credential = self._read_health_credential()
        self._credential = (key, credential)
        return credential

    def _read_health_credential(self) -> security.Credential | None:
        tls = self.tls_context()
        creds = (
            security.load_credentials(self.spec, self.state_dir)
            if self.spec.security.authentication
            else None
        )
        if creds is not None:
            return dataclasses.replace(creds.health, tls=tls)
        return security.Credential("", "", tls=tls) if tls is not None else None

    def issue_certificates(self, machines: list[Machine]) -> None:
        """Certificates for these machines from the cluster CA before a playbook hands them
        out (`security.tls`); kept ones stay, so a second run changes nothing."""
        tls = self.spec.security.tls
        if not tls.enabled:
            return
        nodes = [pki.NodeIdentity(m.name, m.cluster_address) for m in machines]
        written = pki.ensure_certificates(
            self.state_dir, self.spec.name, nodes, tls.certificate_days
        )
        if written:
            self.progress(f"tls: issued {len(written) // 2} certificate(s) from the cluster CA")


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a rewritten file from the one read before (None: there is none)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def open_cluster(
    spec_path: Path | str, state_dir: Path | str | None = None, progress: Progress | None = None
) -> Cluster:
    """Load the spec; the state directory is `<state_dir>/<name>`, or next to the spec."""
    spec = load_spec(spec_path)
    directory = (
        Path(state_dir).expanduser().resolve() / spec.name
        if state_dir
        else (default_state_dir(Path(spec_path), spec.name))
    )
    store = StateStore(directory, spec.name, spec.provider.kind)
    return Cluster(spec=spec, store=store, progress=progress or (lambda _m: None))


def machines_in_order(
    spec: ClusterSpec, state: ClusterState, planned: Sequence[PlannedMachine] | None = None
) -> list[Machine]:
    """The recorded machines in the spec's order, then any the spec no longer names.
    `planned` (a plan's machines) gives the order without planning them again."""
    source = planned if planned is not None else plan_machines(spec, state.machines)
    order = [m.name for m in source]
    known = [state.machines[n] for n in order if n in state.machines]
    extra = [m for n, m in sorted(state.machines.items()) if n not in order]
    return known + extra


def recorded_machines(cluster: Cluster) -> list[Machine]:
    state = cluster.store.load()
    if not state.machines:
        raise ProvisionError(
            f"cluster {cluster.spec.name!r} has no machines recorded in {cluster.state_dir}",
            hint="run `dcos-provision up` first (or pass the --state-dir it used)",
        )
    return machines_in_order(cluster.spec, state)


def recorded_agents(cluster: Cluster) -> list[str]:
    return sorted(n for n, m in cluster.store.load().machines.items() if Role.AGENT in m.roles)


def known_machines(cluster: Cluster) -> list[Machine]:
    """Static hosts are checked before adoption; other providers' machines once created."""
    provider = cluster.provider()
    if not provider.deletes_machines:
        return provider.create(plan_machines(cluster.spec))
    return recorded_machines(cluster)
