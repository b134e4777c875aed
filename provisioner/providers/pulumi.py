"""Machines through the Pulumi Automation API: one local stack per cluster, inline programs.

State lives under the cluster's state directory (``file://<state_dir>/pulumi``), so no Pulumi
account is needed; stack secrets are encrypted with a passphrase read from the environment
variable ``provider.passphrase_env`` and handed only to the ``pulumi`` subprocess.

Host keys: the controller makes an ed25519 host key pair per machine (``<state dir>/host-keys/``,
private half 0600), injects it through cloud-init (``ssh_keys``, a Pulumi secret in the stack
state) and records the public half in the state directory's ``known_hosts``; machines are
returned with ``strict_host_keys=True``. Machines created before this existed keep their own
keys and stay non-strict: their user data is left as it was (a change could replace them).
"""

from __future__ import annotations

import builtins
import importlib.metadata
import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from .. import hostkeys
from ..domain import Machine, PlannedMachine, Role
from ..errors import ProviderError, ToolMissingError
from ..pulumi_programs import BACKEND_PACKAGES, MACHINES_OUTPUT, program_for
from ..spec import (
    AgentGroup,
    ClusterSpec,
    MasterGroup,
    PulumiLibvirtBackend,
    PulumiProviderSpec,
    ZooKeeperSpec,
)
from ..topology import plan_machines
from .base import Provider

if TYPE_CHECKING:
    from pulumi import automation as auto

PROJECT_NAME = "dcos-provision"
PULUMI_INSTALL_HINT = (
    "install the Pulumi CLI: `curl -fsSL https://get.pulumi.com | sh` "
    "(see https://www.pulumi.com/docs/iac/download-install/) and put ~/.pulumi/bin on PATH; "
    "the backend plugins come with `pulumi plugin install resource libvirt` or "
    "`pulumi plugin install resource aws` (dcos-provision also installs them on first use)"
)
#: How many lines of a failed Pulumi command end up in the error message.
ERROR_LINES = 6


def first_error_lines(text: str, limit: int = ERROR_LINES) -> str:
    """The lines of Pulumi output worth showing: `error:` lines first, else the last ones."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    chosen = errors[:limit] if errors else lines[-limit:]
    return "\n".join(chosen) or "(no output)"


class PulumiProvider(Provider):
    """VMs on libvirt or AWS, described by an inline Pulumi program per backend."""

    declarative = True

    deletes_machines = True

    def __init__(
        self, spec: ClusterSpec, state_dir: Path, progress: Callable[[str], None] | None = None
    ) -> None:
        super().__init__(spec, state_dir, progress)
        if not isinstance(spec.provider, PulumiProviderSpec):
            raise ProviderError(f"cluster {spec.name} does not use the pulumi provider")
        self.provider_spec: PulumiProviderSpec = spec.provider
        self.backend_type: str = spec.provider.backend.type

    # ------------------------------------------------------------------ Provider interface
    def preflight(self) -> None:
        """The pulumi CLI on PATH and the backend's Python SDK importable."""
        if shutil.which("pulumi") is None:
            raise ToolMissingError("the `pulumi` CLI is not on PATH", hint=PULUMI_INSTALL_HINT)
        distribution, _plugin = BACKEND_PACKAGES[self.backend_type]
        if importlib.util.find_spec(distribution.replace("-", "_")) is None:
            raise ToolMissingError(
                f"the Python package {distribution} is not installed",
                hint="pip install 'dcos-provision[pulumi-backends]'",
            )

    def create(self, machines: list[PlannedMachine]) -> list[Machine]:
        planned = self._with_current_addresses(machines)
        stack = self._stack(planned, create=True)
        self._install_plugin(stack)
        self.progress(f"pulumi up: stack {self.stack_name}, {len(planned)} machine(s)")
        self._run("up", lambda: stack.up(on_output=self.progress))
        outputs = self._run("read outputs of", stack.outputs)
        created = self._machines_from_outputs(outputs)
        missing = sorted({m.name for m in machines} - {m.name for m in created})
        if missing:
            raise ProviderError(
                f"pulumi stack {self.stack_name} did not report machines {missing}",
                hint=f"run `dcos-provision up` again; the stack state is under {self.pulumi_dir}",
            )
        injected = {r["name"]: r.get("host_key") for r in self._records(outputs)}
        for machine in created:
            public = injected.get(machine.name)
            if public:
                hostkeys.record(
                    self.state_dir / hostkeys.KNOWN_HOSTS,
                    machine.name,
                    machine.address,
                    machine.ssh_port,
                    hostkeys.parse_public_keys(public),
                )
        return created

    def preview(self, machines: list[PlannedMachine]) -> dict[str, int]:
        """Counts per change kind (create, update, replace, delete, same) for `plan`."""
        planned = self._with_current_addresses(machines)
        stack = self._stack(planned, create=True)
        self._install_plugin(stack)
        result = self._run("preview", lambda: stack.preview(on_output=self.progress))
        return {str(getattr(op, "value", op)): count for op, count in result.change_summary.items()}

    def destroy(self, names: list[str]) -> None:
        """All machines: `pulumi destroy` and remove the stack. Some: `up` without them.

        Running `up` with the remaining machines lets Pulumi delete exactly the dropped
        instances (and their volumes) while the shared network stays untouched.
        """
        current = self.list()
        doomed = set(names) & {m.name for m in current}
        if not doomed:
            return
        keep = [m for m in current if m.name not in doomed]
        if not keep:
            stack = self._stack([], create=False)
            self.progress(f"pulumi destroy: stack {self.stack_name}")
            self._run("destroy", lambda: stack.destroy(on_output=self.progress))
            self._run("remove", lambda: stack.workspace.remove_stack(self.stack_name))
        else:
            spec_machines = {p.name: p for p in plan_machines(self.spec)}
            planned = [self._planned_from_machine(m, spec_machines) for m in keep]
            stack = self._stack(planned, create=False)
            self.progress(f"pulumi up: stack {self.stack_name}, removing {sorted(doomed)}")
            self._run("up", lambda: stack.up(on_output=self.progress))
        hostkeys.forget(self.state_dir / hostkeys.KNOWN_HOSTS, doomed)
        hostkeys.remove_key_pairs(self.host_keys_dir, doomed)

    def list(self) -> list[Machine]:
        if not self.pulumi_dir.exists():
            return []
        stack = self._stack([], create=False, missing_ok=True)
        if stack is None:
            return []
        return self._machines_from_outputs(self._run("read outputs of", stack.outputs))

    # ------------------------------------------------------------------ helpers
    @property
    def stack_name(self) -> str:
        return self.spec.name

    @property
    def pulumi_dir(self) -> Path:
        return self.state_dir / "pulumi"

    @property
    def host_keys_dir(self) -> Path:
        return self.state_dir / "host-keys"

    def _host_keys(self, machines: builtins.list[PlannedMachine]) -> dict[str, tuple[str, str]]:
        """name -> (private, public) host key to inject, for every machine but those the stack
        already runs with keys of their own (made before injection; left untouched)."""
        own_keys = {m.name for m in self.list() if not m.strict_host_keys} if machines else set()
        pairs = {
            m.name: hostkeys.key_pair(self.host_keys_dir, m.name)
            for m in machines
            if m.name not in own_keys
        }
        return {name: (pair.private, pair.public) for name, pair in pairs.items()}

    def _passphrase(self) -> str:
        variable = self.provider_spec.passphrase_env
        value = os.environ.get(variable)
        if not value:
            raise ProviderError(
                f"environment variable {variable} (the Pulumi secrets passphrase) is not set",
                hint=f"export {variable}=... (keep it safe: it unlocks the stack of cluster "
                f"{self.spec.name}; dcos-provision never stores it)",
            )
        return value

    def _public_key(self) -> str:
        path = self.spec.resolve_path(self.provider_spec.backend.ssh_public_key)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ProviderError(
                f"cannot read the SSH public key {path}: {exc.strerror}",
                hint="set provider.backend.ssh_public_key, or create a key with "
                "`ssh-keygen -t ed25519`",
            ) from None

    def _private_key(self) -> str | None:
        """`ssh.private_key`, else the public key's file without `.pub` when it exists."""
        if self.spec.ssh.private_key:
            return str(self.spec.resolve_path(self.spec.ssh.private_key))
        public = str(self.spec.resolve_path(self.provider_spec.backend.ssh_public_key))
        if public.endswith(".pub") and Path(public[:-4]).exists():
            return public[:-4]
        return None

    @overload
    def _stack(self, machines: builtins.list[PlannedMachine], *, create: bool) -> auto.Stack: ...

    @overload
    def _stack(
        self, machines: builtins.list[PlannedMachine], *, create: bool, missing_ok: bool
    ) -> auto.Stack | None: ...

    def _stack(
        self, machines: builtins.list[PlannedMachine], *, create: bool, missing_ok: bool = False
    ) -> auto.Stack | None:
        """The cluster's stack with the program for these machines (None if missing_ok)."""
        from pulumi import automation as auto

        self.preflight()
        passphrase = self._passphrase()
        public_key = self._public_key() if machines else ""
        host_keys = self._host_keys(machines)
        program = program_for(self.backend_type)
        spec = self.spec

        def pulumi_program() -> None:
            program(spec, machines, public_key, host_keys)

        self.pulumi_dir.mkdir(parents=True, exist_ok=True)
        work_dir = self.state_dir / "pulumi-project"
        work_dir.mkdir(parents=True, exist_ok=True)
        backend_url = f"file://{self.pulumi_dir}"
        options = auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            project_settings=auto.ProjectSettings(
                name=PROJECT_NAME, runtime="python", backend=auto.ProjectBackend(url=backend_url)
            ),
            secrets_provider="passphrase",
            env_vars={
                "PULUMI_CONFIG_PASSPHRASE": passphrase,
                "PULUMI_BACKEND_URL": backend_url,
                "PULUMI_SKIP_UPDATE_CHECK": "true",
            },
        )
        opener = auto.create_or_select_stack if create else auto.select_stack
        try:
            return opener(
                stack_name=self.stack_name,
                project_name=PROJECT_NAME,
                program=pulumi_program,
                opts=options,
            )
        except auto.StackNotFoundError:
            if missing_ok:
                return None
            raise ProviderError(
                f"pulumi stack {self.stack_name} does not exist in {self.pulumi_dir}"
            ) from None
        except auto.CommandError as exc:
            raise self._error("open", exc) from None

    def _install_plugin(self, stack: Any) -> None:
        """Install the resource plugin matching the installed SDK (a no-op when present)."""
        distribution, plugin = BACKEND_PACKAGES[self.backend_type]
        version = importlib.metadata.version(distribution)
        self._run(
            f"install plugin {plugin} v{version} for",
            lambda: stack.workspace.install_plugin(plugin, f"v{version}"),
        )

    def _run(self, operation: str, action: Callable[[], Any]) -> Any:
        from pulumi import automation as auto

        try:
            return action()
        except auto.CommandError as exc:
            raise self._error(operation, exc) from None

    def _error(self, operation: str, exc: Exception) -> ProviderError:
        return ProviderError(
            f"pulumi {operation} stack {self.stack_name} failed:\n{first_error_lines(str(exc))}",
            hint=f"stack state: {self.pulumi_dir}; inspect it with `PULUMI_BACKEND_URL="
            f"file://{self.pulumi_dir} pulumi stack --stack {self.stack_name}`",
        )

    def _with_current_addresses(
        self, machines: builtins.list[PlannedMachine]
    ) -> builtins.list[PlannedMachine]:
        """libvirt: existing machines keep their address, new ones get the lowest free one.

        Assigning here (not only inside the program) turns a full network into a clear
        error before Pulumi runs.
        """
        backend = self.provider_spec.backend
        if not isinstance(backend, PulumiLibvirtBackend):
            return machines
        from ..pulumi_programs.libvirt import assign_addresses

        current = {m.name: m.address for m in self.list()}
        kept = [replace(m, address=current.get(m.name, m.address)) for m in machines]
        try:
            return assign_addresses(backend.network_cidr, kept)
        except ValueError as exc:
            raise ProviderError(str(exc), hint="set provider.backend.network_cidr") from None

    def _planned_from_machine(
        self, machine: Machine, spec_machines: dict[str, PlannedMachine]
    ) -> PlannedMachine:
        """The planned form of an existing machine, sized as the spec sizes its role
        (`spec_machines`: the spec's planned machines by name, planned once per destroy)."""
        planned = spec_machines.get(machine.name)
        if planned is not None:
            return replace(planned, address=machine.extra.get("private_ip", machine.address))
        group: dict[Role, MasterGroup | AgentGroup | ZooKeeperSpec] = {
            Role.MASTER: self.spec.masters,
            Role.AGENT: self.spec.agents,
            Role.ZOOKEEPER: self.spec.zookeeper,
        }
        primary = next(r for r in (Role.MASTER, Role.AGENT, Role.ZOOKEEPER) if r in machine.roles)
        return PlannedMachine(
            name=machine.name,
            roles=tuple(Role(role) for role in machine.roles),
            cpus=group[primary].cpus,
            memory_mb=group[primary].memory_mb,
            zookeeper_id=machine.zookeeper_id,
            address=machine.extra.get("private_ip", machine.address),
        )

    @staticmethod
    def _records(outputs: dict[str, Any]) -> builtins.list[dict[str, Any]]:
        output = outputs.get(MACHINES_OUTPUT)
        return list(getattr(output, "value", output) or [])

    def _machines_from_outputs(self, outputs: dict[str, Any]) -> builtins.list[Machine]:
        records = self._records(outputs)
        key = self._private_key()
        return [
            Machine(
                name=record["name"],
                roles=tuple(record["roles"]),
                address=record["address"],
                ssh_user=self.spec.ssh.user,
                ssh_private_key=key,
                # injected host key recorded in known_hosts; older machines keep their own
                strict_host_keys=bool(record.get("host_key")),
                zookeeper_id=record.get("zookeeper_id"),
                extra={
                    "private_ip": record.get("private_ip") or record["address"],
                    "public_ip": record.get("public_ip"),
                    "backend": self.backend_type,
                },
            )
            for record in records
        ]
