"""Vagrant machines: LXC system containers (local lab, CI) or libvirt/VirtualBox VMs.

One shared ``vagrant/Vagrantfile`` serves every cluster: this provider writes the cluster's
machines to ``<state dir>/machines.json`` and runs vagrant with ``VAGRANT_DOTFILE_PATH`` in the
state dir, so each cluster has its own vagrant state and names that carry the cluster name.

Host keys (lxc): after `create` each container's ``/etc/ssh/ssh_host_*_key.pub`` is read through
LXC (``lxc-attach``, never over SSH) into the state directory's ``known_hosts``, and the machines
are returned with ``strict_host_keys=True``; `destroy` removes their lines. libvirt and
VirtualBox have no such channel here, so their machines stay non-strict (docs/security.md).

Login key (lxc, lab box): when the box ships dcos-provision's ``lxc-template`` (it lays every
container as an overlay on one unpacked copy of the box), the cluster gets its own ed25519
key (``<state dir>/vagrant/ssh/id_ed25519``, 0600) and the template writes its public half as
the vagrant user's only authorized key before the container first boots. Those machines'
entries name the key, and the Vagrantfile sets ``ssh.insert_key = false`` for them: Vagrant no
longer logs in with its well-known insecure key to replace it (about 4 s of Ruby per machine,
one machine after another in a parallel `up`). Machines created before keep Vagrant's own key.

Baked Mesos (lxc, lab box): for a `tarball` install from a local file, the template also lays
new containers on a copy of the base that holds the tarball unpacked in role mesos_install's
prefix, with the role's marker: the role finds it and skips the copy and the unpack
(``_bake_env``; vagrant/box/lxc-template).
"""

from __future__ import annotations

import builtins
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from .. import hostkeys
from ..domain import Machine, PlannedMachine
from ..errors import ProviderError, ToolMissingError
from ..fileutil import atomic_write
from ..paths import vagrant_dir
from ..spec import ClusterSpec, VagrantProviderSpec
from . import login_keys
from .base import ProgressCallback, Provider
from .vagrant_cli import (
    CommandResult,
    Runner,
    SshConfig,
    assign_addresses,
    parse_machine_errors,
    parse_machine_states,
    parse_ssh_config,
    run_command,
)

LAB_SETUP_HINT = "prepare the local lab with `sudo scripts/lab-setup.sh`"
#: Vagrant providers that bring machines up (and down) in parallel; VirtualBox cannot.
PARALLEL_PROVIDERS = frozenset({"lxc", "libvirt"})
PLUGINS = {"lxc": "vagrant-lxc", "libvirt": "vagrant-libvirt"}
#: vagrant-lxc's error when a started container has no IPv4 address after its ~30 s of asking.
ADDRESS_TIMEOUT = "There was an error executing lxc-info"
#: Read inside a container by `lxc-attach`: its SSH host public keys.
HOST_KEYS_COMMAND = "cat /etc/ssh/ssh_host_*_key.pub"
#: What the box's own lxc-template reads to authorize the cluster's key (vagrant/box/).
AUTHORIZED_KEY_ENV = "DCOS_PROVISION_AUTHORIZED_KEY"
#: What the box's lxc-template reads to bake a local Mesos tarball into the container's base.
BAKE_TARBALL_ENV = "DCOS_PROVISION_BAKE_MESOS_TARBALL"
BAKE_PREFIX_ENV = "DCOS_PROVISION_BAKE_MESOS_PREFIX"
#: Where role mesos_install unpacks a tarball (its default `mesos_install_prefix`).
TARBALL_PREFIX = "/opt/mesos-{version}"


class VagrantProvider(Provider):
    """Creates, lists and destroys a cluster's machines through one shared Vagrantfile."""

    detects_vanished = True

    #: Where the lxc bridge shows up, the flag lxc-net leaves when it runs the bridge, and the
    #: process table where its DHCP server (dnsmasq) runs; class attributes so tests can point
    #: them elsewhere.
    bridge_path = Path("/sys/class/net/lxcbr0")
    lxc_net_flag = Path("/run/lxc/network_up")
    proc_path = Path("/proc")

    def __init__(
        self,
        spec: ClusterSpec,
        state_dir: Path,
        progress: ProgressCallback | None = None,
        runner: Runner | None = None,
    ) -> None:
        super().__init__(spec, state_dir, progress)
        if not isinstance(spec.provider, VagrantProviderSpec):
            raise ProviderError(f"cluster {spec.name} does not use the vagrant provider")
        self.run: Runner = runner or run_command
        self.cluster: str = spec.name
        self.vagrant_provider: str = spec.provider.vagrant_provider
        self.box: str = spec.provider.effective_box
        self.private_network: str | None = spec.provider.private_network
        self._name_pattern = re.compile(rf"^{re.escape(self.cluster)}-(master|agent|zk)-\d+$")

    # ------------------------------------------------------------------ paths and environment
    @property
    def machines_file(self) -> Path:
        return self.state_dir / "machines.json"

    @property
    def dotfile_dir(self) -> Path:
        return self.state_dir / "vagrant"

    def _global_env(self) -> dict[str, str]:
        """Environment for vagrant commands that need no machines (box list, plugin list)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("VAGRANT_CWD", "VAGRANT_DOTFILE_PATH", "DCOS_PROVISION_MACHINES")
        }
        # No calls home: the lab may have no internet beyond package mirrors.
        env["VAGRANT_CHECKPOINT_DISABLE"] = "1"
        env["VAGRANT_BOX_UPDATE_CHECK_DISABLE"] = "1"
        return env

    def _cluster_env(self) -> dict[str, str]:
        env = self._global_env()
        env["VAGRANT_CWD"] = str(vagrant_dir())
        env["VAGRANT_DOTFILE_PATH"] = str(self.dotfile_dir)
        env["DCOS_PROVISION_MACHINES"] = str(self.machines_file)
        if self.login_key.exists():
            env[AUTHORIZED_KEY_ENV] = login_keys.public_line(self.login_key)
        env.update(self._bake_env())
        return env

    def _bake_env(self) -> dict[str, str]:
        """For lxc machines of a `tarball` install from a local file: the tarball and prefix
        the box's lxc-template bakes into the base it lays new containers on, with the marker
        role mesos_install looks for (the role then neither copies nor unpacks the archive).
        A box without that template ignores them."""
        install = self.spec.mesos.install
        local = install.method == "tarball" and not install.url
        if self.vagrant_provider != "lxc" or not local or not install.path:
            return {}
        return {
            # the very path the inventory gives the role (its marker holds it)
            BAKE_TARBALL_ENV: str(self.spec.resolve_path(install.path)),
            BAKE_PREFIX_ENV: TARBALL_PREFIX.format(version=self.spec.mesos.version),
        }

    @property
    def login_key(self) -> Path:
        """The cluster's own SSH login key (lxc machines made from a box that takes it)."""
        return self.dotfile_dir / "ssh" / "id_ed25519"

    def _box_takes_login_key(self) -> bool:
        """True when the lxc box ships dcos-provision's lxc-template (it authorizes the key
        named by DCOS_PROVISION_AUTHORIZED_KEY) and we run as root (the Vagrantfile then runs
        lxc-* without sudo); otherwise Vagrant's own key insertion."""
        if self.vagrant_provider != "lxc" or os.geteuid() != 0:
            # not root: vagrant-lxc runs lxc-create through sudo, whose env_reset drops the key
            return False
        return login_keys.box_takes_key(self.box, AUTHORIZED_KEY_ENV)

    def _vagrant(self, *args: str, stream: bool = False) -> CommandResult:
        return self.run(
            ["vagrant", *args],
            env=self._cluster_env(),
            cwd=self.state_dir,
            on_line=self.progress if stream else None,
        )

    # ------------------------------------------------------------------ machines.json
    def _read_machines_file(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.machines_file.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ProviderError(f"cannot read {self.machines_file}: {exc}") from exc
        return list(data.get("machines", []))

    def _write_machines_file(self, entries: list[dict[str, Any]]) -> None:
        document = {
            "cluster": self.cluster,
            "vagrant_provider": self.vagrant_provider,
            "box": self.box,
            "machines": entries,
        }
        # Readable as before (the Vagrantfile reads it); it holds no secret.
        atomic_write(self.machines_file, json.dumps(document, indent=2) + "\n", mode=0o644)

    def machine_entries(
        self,
        planned: list[PlannedMachine],
        kept: list[dict[str, Any]],
        login_key: Path | None = None,
    ) -> list[dict[str, Any]]:
        """machines.json entries: every planned machine, then ``kept`` ones not in the plan.

        Kept entries are machines that still exist but left the plan; the Vagrantfile must
        still define them so a later ``destroy`` can reach them. Machines new to the file get
        ``ssh_private_key`` = ``login_key`` (when given); recorded ones keep what they had.
        """
        planned_names = [m.name for m in planned]
        leftovers = [e for e in kept if e["name"] not in planned_names]
        recorded = {e["name"]: e.get("ip") for e in kept}
        keys = {e["name"]: e.get("ssh_private_key") for e in kept}
        addresses = assign_addresses(
            self.private_network if self.vagrant_provider != "lxc" else None,
            planned_names,
            recorded,
        )
        entries = [
            {
                "name": m.name,
                "cpus": m.cpus,
                "memory_mb": m.memory_mb,
                "ip": addresses[m.name],
                "roles": list(m.roles),
                "zookeeper_id": m.zookeeper_id,
            }
            for m in planned
        ]
        for entry in entries:
            key = keys.get(entry["name"], login_key)
            if key:
                entry["ssh_private_key"] = str(key)
        return entries + leftovers

    # ------------------------------------------------------------------ Provider interface
    def preflight(self) -> None:
        if shutil.which("vagrant") is None:
            raise ToolMissingError(
                "vagrant is not installed (not found on PATH)", hint=LAB_SETUP_HINT
            )
        plugin = PLUGINS.get(self.vagrant_provider)
        if plugin:
            result = self.run(["vagrant", "plugin", "list"], env=self._global_env(), cwd=Path("/"))
            if not result.ok:
                raise ProviderError(
                    f"`vagrant plugin list` failed:\n{result.tail()}", hint=LAB_SETUP_HINT
                )
            if not re.search(rf"^{re.escape(plugin)} ", result.stdout, re.MULTILINE):
                raise ToolMissingError(
                    f"the {plugin} Vagrant plugin is not installed "
                    f"(needed for vagrant_provider: {self.vagrant_provider})",
                    hint=LAB_SETUP_HINT
                    if plugin == "vagrant-lxc"
                    else f"vagrant plugin install {plugin}",
                )
        elif shutil.which("VBoxManage") is None:
            raise ToolMissingError(
                "VirtualBox is not installed (VBoxManage not found on PATH)",
                hint="install VirtualBox or use vagrant_provider: libvirt",
            )
        if self.vagrant_provider != "lxc":
            return  # public boxes are downloaded by `vagrant up`
        for tool in ("lxc-ls", "lxc-destroy"):
            if shutil.which(tool) is None:
                raise ToolMissingError(
                    f"{tool} is not installed (package lxc)", hint=LAB_SETUP_HINT
                )
        result = self.run(["vagrant", "box", "list"], env=self._global_env(), cwd=Path("/"))
        if not result.ok:
            raise ProviderError(f"`vagrant box list` failed:\n{result.tail()}", hint=LAB_SETUP_HINT)
        boxes = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
        if self.box not in boxes:
            raise ToolMissingError(
                f"the Vagrant box {self.box} is not installed",
                hint="build it with `sudo scripts/lab-setup.sh` (about 5 minutes)"
                if self.box == "dcos-provision/debian12-lxc"
                else f"add it with `vagrant box add {self.box}`",
            )
        if not self.bridge_path.exists():
            raise ProviderError(
                "the LXC bridge lxcbr0 is not up (containers would get no network)",
                hint=LAB_SETUP_HINT,
            )
        if self.lxc_net_flag.exists() and not dhcp_serves(self.bridge_path.name, self.proc_path):
            # lxc-net's dnsmasq dies with the session that started it while the bridge stays:
            # containers would start without an address and `vagrant up` fail minutes later.
            # (A bridge lxc-net does not run may get its addresses elsewhere: not checked.)
            raise ProviderError(
                f"no DHCP server (lxc-net's dnsmasq) serves the LXC bridge "
                f"{self.bridge_path.name}: new containers would get no address",
                hint=LAB_SETUP_HINT,
            )

    def create(self, machines: list[PlannedMachine]) -> list[Machine]:
        if not machines:
            return []
        self._check_names([m.name for m in machines])
        previous = self._read_machines_file()
        login_key = None
        if self._box_takes_login_key():
            login_keys.ensure(self.login_key)
            login_key = self.login_key
        # Write the full desired set first: the Vagrantfile reads it on every vagrant call.
        self._write_machines_file(self.machine_entries(machines, previous, login_key))
        states = self._states()
        self._bring_up([m.name for m in machines if states.get(m.name) != "running"])
        return self._running([(m.name, list(m.roles), m.zookeeper_id) for m in machines])

    def stopped(self, names: builtins.list[str]) -> builtins.list[str]:
        """Machines `vagrant status` reports as stopped (their container exists)."""
        if not names or not self.machines_file.exists():
            return []
        self._check_names(names)
        states = self._states()
        return [n for n in names if states.get(n) == "stopped"]

    def start(self, machines: builtins.list[Machine]) -> builtins.list[Machine]:
        """`vagrant up` the stopped machines (the container and its disk are kept)."""
        if not machines:
            return []
        self._check_names([m.name for m in machines])
        self._bring_up([m.name for m in machines])
        return self._running([(m.name, list(m.roles), m.zookeeper_id) for m in machines])

    def _bring_up(self, pending: builtins.list[str]) -> None:
        if not pending:
            return
        self.progress(f"vagrant up ({self.vagrant_provider}): {', '.join(pending)}")
        result = self._up(pending)
        if not result.ok and ADDRESS_TIMEOUT in result.stderr + result.stdout:
            # The container runs but its DHCP lease came after vagrant-lxc stopped asking
            # (about 30 s; a loaded host). `vagrant up` again only asks again.
            self.progress(f"vagrant up: {ADDRESS_TIMEOUT} (no address yet); once more")
            result = self._up(pending)
        if not result.ok:
            raise ProviderError(self._up_failure(result, pending), hint=self._up_hint(result))

    def _running(
        self, wanted: builtins.list[tuple[str, builtins.list[str], int | None]]
    ) -> builtins.list[Machine]:
        """The running machines (name, roles, ZooKeeper id) with their SSH settings now; their
        host keys recorded under the current address (read through lxc-attach)."""
        configs = self._ssh_configs([name for name, _, _ in wanted])
        running = [self._machine(configs[name], roles, zk_id) for name, roles, zk_id in wanted]
        for machine in running:
            if machine.strict_host_keys:
                self._record_host_keys(machine)
        return running

    @property
    def checks_host_keys(self) -> bool:
        """True when host keys are learnt through the provider (lxc) and checked afterwards."""
        return self.vagrant_provider == "lxc"

    def host_keys(self, name: str) -> builtins.list[hostkeys.HostKey]:
        """The container's SSH host public keys, read through LXC (not over the network)."""
        result = self.run(
            ["lxc-attach", "-n", name, "--clear-env", "--", "sh", "-c", HOST_KEYS_COMMAND],
            env=self._global_env(),
            cwd=Path("/"),
        )
        try:
            keys = hostkeys.parse_public_keys(result.stdout) if result.ok else []
        except ValueError as exc:
            raise ProviderError(f"{name}: unreadable SSH host key: {exc}") from None
        if not keys:
            raise ProviderError(
                f"{name}: cannot read its SSH host keys through lxc-attach "
                f"(exit {result.returncode}):\n{result.tail()}",
                hint=f"check `lxc-attach -n {name} -- ls /etc/ssh`",
            )
        return keys

    def _record_host_keys(self, machine: Machine) -> None:
        hostkeys.record(
            self.state_dir / hostkeys.KNOWN_HOSTS,
            machine.name,
            machine.address,
            machine.ssh_port,
            self.host_keys(machine.name),
        )

    def _up_failure(self, result: CommandResult, pending: builtins.list[str]) -> str:
        """Name the machines that did not come up, each with its own error where vagrant gave
        one (a parallel run brings the others up regardless), then quote the output's tail."""
        errors = parse_machine_errors(result.stderr + "\n" + result.stdout)
        failed = [name for name in pending if name in errors]
        if not failed:
            try:
                states = self._states()
            except ProviderError:
                states = {}
            failed = [name for name in pending if states.get(name) != "running"] or pending
        came_up = [name for name in pending if name not in failed]
        lines = [
            f"vagrant up failed for {', '.join(failed)} (exit {result.returncode})"
            + (f"; {', '.join(came_up)} came up" if came_up else "")
            + ":"
        ]
        lines += [f"  {name}: {errors[name]}" for name in failed if name in errors]
        lines.append(result.tail())
        return "\n".join(lines)

    def _up(self, names: list[str]) -> CommandResult:
        parallel = "--parallel" if self.vagrant_provider in PARALLEL_PROVIDERS else "--no-parallel"
        return self._vagrant(
            "up", f"--provider={self.vagrant_provider}", parallel, "--no-color", *names, stream=True
        )

    def destroy(self, names: list[str]) -> None:
        if not names:
            return
        self._check_names(names)
        entries = self._read_machines_file()
        defined = [e["name"] for e in entries if e["name"] in names]
        failure: CommandResult | None = None
        if defined:
            self.progress(f"vagrant destroy: {', '.join(defined)}")
            args = ["destroy", "-f", "--no-color"]
            if self.vagrant_provider in PARALLEL_PROVIDERS:
                args.append("--parallel")
            result = self._vagrant(*args, *defined, stream=True)
            if not result.ok:
                failure = result
        leftovers = (
            self._remove_leftover_containers(names) if self.vagrant_provider == "lxc" else []
        )
        if failure is not None and (self.vagrant_provider != "lxc" or leftovers):
            raise ProviderError(
                f"vagrant destroy failed for {', '.join(defined)} (exit {failure.returncode}):\n"
                f"{failure.tail()}",
                hint="see `vagrant status` with the cluster's environment, or `lxc-ls -f`",
            )
        hostkeys.forget(self.state_dir / hostkeys.KNOWN_HOSTS, names)
        if defined:
            remaining = [e for e in entries if e["name"] not in names]
            self._write_machines_file(remaining)
            if not remaining:  # vagrant's per-cluster state is empty now; leave no clutter
                shutil.rmtree(self.dotfile_dir, ignore_errors=True)

    def vanished(self, names: builtins.list[str]) -> builtins.list[str]:
        """Machines `vagrant status` reports as not created (their container was deleted)."""
        if not names or not self.machines_file.exists():
            return []
        self._check_names(names)
        states = self._states()
        return [n for n in names if states.get(n, "not_created") == "not_created"]

    def names(self) -> builtins.list[str]:
        """Every machine this cluster's Vagrantfile defines, whatever its state: written
        before `vagrant up`, so a failed or half-done `up` leaves nothing `down` cannot find."""
        return [
            e["name"] for e in self._read_machines_file() if self._name_pattern.match(e["name"])
        ]

    def list(self) -> list[Machine]:
        entries = self._read_machines_file()
        if not entries:
            return []
        states = self._states()
        running = [e for e in entries if states.get(e["name"]) == "running"]
        if not running:
            return []
        configs = self._ssh_configs([e["name"] for e in running])
        return [
            self._machine(configs[e["name"]], e.get("roles", []), e.get("zookeeper_id"))
            for e in running
        ]

    # ------------------------------------------------------------------ helpers
    def _check_names(self, names: builtins.list[str]) -> None:
        """Refuse names that are not this cluster's: a typo must never destroy someone else's."""
        foreign = [n for n in names if not self._name_pattern.match(n)]
        if foreign:
            raise ProviderError(
                f"refusing to touch machines that do not belong to cluster {self.cluster}: "
                f"{', '.join(foreign)} (names must look like {self.cluster}-master-1)"
            )

    def _states(self) -> dict[str, str]:
        result = self._vagrant("status", "--machine-readable")
        if not result.ok:
            raise ProviderError(
                f"vagrant status failed for cluster {self.cluster} (exit {result.returncode}):\n"
                f"{result.tail()}",
                hint=f"machines file: {self.machines_file}",
            )
        return parse_machine_states(result.stdout)

    def _ssh_configs(self, names: builtins.list[str]) -> dict[str, SshConfig]:
        result = self._vagrant("ssh-config", *names)
        configs = parse_ssh_config(result.stdout) if result.ok else {}
        missing = [n for n in names if n not in configs]
        if not result.ok or missing:
            raise ProviderError(
                f"vagrant ssh-config failed for {', '.join(missing or names)} "
                f"(exit {result.returncode}):\n{result.tail()}",
                hint="the machines may not be running; see `vagrant status`",
            )
        return configs

    def _machine(
        self, config: SshConfig, roles: builtins.list[str], zookeeper_id: int | None
    ) -> Machine:
        return Machine(
            name=config.host,
            roles=tuple(roles),
            address=config.hostname,
            ssh_user=config.user,
            ssh_port=config.port,
            ssh_private_key=config.identity_file,
            # lxc: keys recorded at create through lxc-attach; others: no trusted channel
            strict_host_keys=self.checks_host_keys,
            zookeeper_id=zookeeper_id,
            extra={"vagrant_provider": self.vagrant_provider},
        )

    def containers(self) -> set[str]:
        """Names of all LXC containers on the host (ours and everybody else's)."""
        result = self.run(["lxc-ls", "-1"], env=self._global_env(), cwd=Path("/"))
        if not result.ok:
            raise ProviderError(f"lxc-ls failed (exit {result.returncode}):\n{result.tail()}")
        return {line.strip() for line in result.stdout.splitlines() if line.strip()}

    def _remove_leftover_containers(self, names: builtins.list[str]) -> builtins.list[str]:
        """lxc-destroy containers vagrant left behind; only exact names of this cluster.

        Returns the names still present afterwards.
        """
        wanted = [n for n in names if self._name_pattern.match(n)]
        leftovers = sorted(self.containers().intersection(wanted))
        for name in leftovers:
            self.progress(f"lxc-destroy -f -n {name} (left behind by vagrant)")
            result = self.run(
                ["lxc-destroy", "-f", "-n", name], env=self._global_env(), cwd=Path("/")
            )
            if not result.ok:
                raise ProviderError(
                    f"lxc-destroy failed for {name} (exit {result.returncode}):\n{result.tail()}"
                )
        return sorted(self.containers().intersection(wanted)) if leftovers else []

    def _up_hint(self, result: CommandResult) -> str:
        text = result.stderr + result.stdout
        clash = re.search(r"same name you've specified\s+on your Vagrantfile\s*\(([^)]+)\)", text)
        if clash:
            name = clash.group(1)
            return (
                f"a container named {name} exists outside this cluster's state; if it is a "
                f"leftover, remove it with `lxc-destroy -f -n {name}`"
            )
        if self.vagrant_provider == "lxc":
            return f"check `lxc-ls -f`; {LAB_SETUP_HINT}"
        return "see the vagrant output above"


def dhcp_serves(interface: str, proc: Path = Path("/proc")) -> bool:
    """True when a dnsmasq process serves `interface` (`--interface=<name>` on its command
    line, as lxc-net starts it)."""
    wanted = f"--interface={interface}".encode()
    for cmdline in proc.glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # the process ended while we looked
        if args and args[0].endswith(b"dnsmasq") and wanted in args:
            return True
    return False
