"""VagrantProvider without vagrant: output parsers, machines.json and the commands it runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provisioner.domain import Machine
from provisioner.errors import ProviderError, ToolMissingError
from provisioner.paths import vagrant_dir
from provisioner.providers import vagrant as vagrant_module
from provisioner.providers.vagrant import VagrantProvider
from provisioner.providers.vagrant_cli import (
    CommandResult,
)
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines

STATUS_OUTPUT = """\
1795617456,demo-master-1,metadata,provider,lxc
1795617457,demo-master-1,provider-name,lxc
1795617457,demo-master-1,state,running
1795617457,demo-master-1,state-human-short,running
1795617457,demo-master-1,state-human-long,The container is running%!(VAGRANT_COMMA) halt it
1795617457,demo-agent-1,provider-name,lxc
1795617457,demo-agent-1,state,not_created
1795617457,demo-agent-1,state-human-short,not created
1795617457,demo-agent-2,state,stopped
1795617457,,ui,info,Current machine states:\\n\\ndemo-master-1   running (lxc)
"""


def ssh_block(name: str, address: str, key: str | None = None) -> str:
    key = key or f"/state/vagrant/machines/{name}/lxc/private_key"
    return (
        f"Host {name}\n  HostName {address}\n  User vagrant\n  Port 22\n"
        f"  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n"
        f"  PasswordAuthentication no\n  IdentityFile {key}\n  IdentitiesOnly yes\n"
        f"  LogLevel FATAL\n\n"
    )


def host_key_line(name: str, generation: int = 0) -> str:
    """A real ed25519 public key, fixed per container name (and generation: a re-created one)."""
    seed = hashlib.sha256(f"{name}/{generation}".encode()).digest()
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    text = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{text.decode()} root@{name}\n"


def host_keys_for(args: list[str]) -> CommandResult:
    """`lxc-attach -n NAME ... cat /etc/ssh/ssh_host_*_key.pub`: that container's key."""
    return ok(host_key_line(args[args.index("-n") + 1]))


@dataclass
class Call:
    args: list[str]
    env: dict[str, str]
    cwd: Path | None


@dataclass
class FakeRunner:
    """Answers commands from a table of (argument prefix -> result or function); records calls."""

    answers: list[tuple[list[str], Callable[[list[str]], CommandResult] | CommandResult]] = field(
        default_factory=lambda: [(["lxc-attach"], host_keys_for)]
    )
    calls: list[Call] = field(default_factory=list)
    streamed: list[str] = field(default_factory=list)

    def on(self, prefix: list[str], result: Callable | CommandResult) -> FakeRunner:
        self.answers.insert(0, (prefix, result))  # later registrations win
        return self

    def __call__(
        self,
        args: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> CommandResult:
        self.calls.append(Call(list(args), dict(env or {}), cwd))
        for prefix, answer in self.answers:
            if args[: len(prefix)] == prefix:
                result = answer(args) if callable(answer) else answer
                if on_line:
                    for line in result.stdout.splitlines():
                        on_line(line)
                return result
        raise AssertionError(f"unexpected command: {args}")

    def commands(self, *prefix: str) -> list[list[str]]:
        return [c.args for c in self.calls if c.args[: len(prefix)] == list(prefix)]


def ok(stdout: str = "") -> CommandResult:
    return CommandResult(("x",), 0, stdout, "")


def failed(stderr: str, code: int = 1) -> CommandResult:
    return CommandResult(("x",), code, "", stderr)


def make_spec(**provider: object) -> ClusterSpec:
    return ClusterSpec.model_validate(
        {"name": "demo", "provider": {"kind": "vagrant", **provider}, "agents": {"count": 2}}
    )


def make_provider(tmp_path: Path, runner: FakeRunner, **provider: object) -> VagrantProvider:
    messages: list[str] = []
    prov = VagrantProvider(make_spec(**provider), tmp_path / "state", messages.append, runner)
    prov.messages = messages  # type: ignore[attr-defined]
    return prov


def ssh_config_for(args: list[str]) -> CommandResult:
    names = args[2:]
    return ok("".join(ssh_block(n, f"10.0.3.{10 + i}") for i, n in enumerate(names)))


@pytest.fixture(autouse=True)
def empty_vagrant_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No boxes installed unless a test adds one: the host's own ~/.vagrant.d never counts."""
    home = tmp_path / "vagrant-home"
    monkeypatch.setenv("VAGRANT_HOME", str(home))
    return home


def install_box(home: Path, template: str | None, version: str = "0") -> None:
    """A fake installed lxc box (optionally with its own lxc-template)."""
    box = home / "boxes" / "dcos-provision-VAGRANTSLASH-debian12-lxc" / version / "lxc"
    box.mkdir(parents=True)
    (box / "rootfs.tar.gz").write_bytes(b"")
    if template is not None:
        (box / "lxc-template").write_text(template)


# --------------------------------------------------------------------------- create


def test_create_writes_all_machines_and_brings_up_only_missing_ones(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.on(["vagrant", "status"], ok(STATUS_OUTPUT))
    runner.on(["vagrant", "up"], ok("==> demo-agent-1: Importing base box\n"))
    runner.on(["vagrant", "ssh-config"], ssh_config_for)
    provider = make_provider(tmp_path, runner)
    planned = plan_machines(provider.spec)

    machines = provider.create(planned)

    document = json.loads((tmp_path / "state" / "machines.json").read_text())
    assert document == {
        "cluster": "demo",
        "vagrant_provider": "lxc",
        "box": "dcos-provision/debian12-lxc",
        "machines": [
            {"name": "demo-master-1", "cpus": 1, "memory_mb": 1024, "ip": None,
             "roles": ["master", "zookeeper"], "zookeeper_id": 1},
            {"name": "demo-agent-1", "cpus": 1, "memory_mb": 1024, "ip": None,
             "roles": ["agent"], "zookeeper_id": None},
            {"name": "demo-agent-2", "cpus": 1, "memory_mb": 1024, "ip": None,
             "roles": ["agent"], "zookeeper_id": None},
        ],
    }  # fmt: skip
    # the running master is left alone; the stopped and missing agents are brought up
    assert runner.commands("vagrant", "up") == [
        ["vagrant", "up", "--provider=lxc", "--parallel", "--no-color",
         "demo-agent-1", "demo-agent-2"]
    ]  # fmt: skip
    assert runner.commands("vagrant", "ssh-config") == [
        ["vagrant", "ssh-config", "demo-master-1", "demo-agent-1", "demo-agent-2"]
    ]
    up_call = next(c for c in runner.calls if c.args[1] == "up")
    state = tmp_path / "state"
    assert up_call.env["VAGRANT_CWD"] == str(vagrant_dir())
    assert up_call.env["VAGRANT_DOTFILE_PATH"] == str(state / "vagrant")
    assert up_call.env["DCOS_PROVISION_MACHINES"] == str(state / "machines.json")
    assert "==> demo-agent-1: Importing base box" in provider.messages  # type: ignore[attr-defined]

    master = machines[0]
    assert [m.name for m in machines] == ["demo-master-1", "demo-agent-1", "demo-agent-2"]
    assert master.address == "10.0.3.10"
    assert (master.ssh_user, master.ssh_port) == ("vagrant", 22)
    assert master.ssh_private_key == "/state/vagrant/machines/demo-master-1/lxc/private_key"
    assert all(m.strict_host_keys for m in machines)  # lxc: keys recorded through lxc-attach
    assert (master.roles, master.zookeeper_id) == (("master", "zookeeper"), 1)
    assert (machines[1].roles, machines[1].zookeeper_id) == (("agent",), None)


def test_create_skips_up_when_everything_runs(tmp_path: Path) -> None:
    running = "".join(
        f"1,{n},state,running\n" for n in ("demo-master-1", "demo-agent-1", "demo-agent-2")
    )
    runner = FakeRunner().on(["vagrant", "status"], ok(running))
    runner.on(["vagrant", "ssh-config"], ssh_config_for)
    provider = make_provider(tmp_path, runner)
    assert len(provider.create(plan_machines(provider.spec))) == 3
    assert runner.commands("vagrant", "up") == []


def test_create_virtualbox_is_serial_and_gets_private_addresses(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "status"], ok(""))
    runner.on(["vagrant", "up"], ok())
    runner.on(["vagrant", "ssh-config"], ssh_config_for)
    provider = make_provider(
        tmp_path, runner, vagrant_provider="virtualbox", private_network="192.168.56.10"
    )
    provider.create(plan_machines(provider.spec))
    document = json.loads(provider.machines_file.read_text())
    assert document["box"] == "debian/bookworm64"
    assert [m["ip"] for m in document["machines"]] == [
        "192.168.56.10",
        "192.168.56.11",
        "192.168.56.12",
    ]
    assert runner.commands("vagrant", "up")[0][2:4] == ["--provider=virtualbox", "--no-parallel"]


def running_runner() -> FakeRunner:
    running = "".join(
        f"1,{n},state,running\n" for n in ("demo-master-1", "demo-agent-1", "demo-agent-2")
    )
    runner = FakeRunner().on(["vagrant", "status"], ok(running))
    runner.on(["vagrant", "ssh-config"], ssh_config_for)
    return runner


def test_create_records_host_keys_read_through_lxc(tmp_path: Path) -> None:
    runner = running_runner()
    provider = make_provider(tmp_path, runner)
    machines = provider.create(plan_machines(provider.spec))

    assert runner.commands("lxc-attach") == [
        ["lxc-attach", "-n", name, "--clear-env", "--", "sh", "-c",
         "cat /etc/ssh/ssh_host_*_key.pub"]
        for name in ("demo-master-1", "demo-agent-1", "demo-agent-2")
    ]  # fmt: skip
    assert not runner.commands("vagrant", "ssh")  # never learnt over SSH
    known_hosts = tmp_path / "state" / "known_hosts"
    assert known_hosts.stat().st_mode & 0o777 == 0o600
    keys = paramiko.HostKeys(str(known_hosts))
    for machine in machines:
        assert machine.strict_host_keys is True
        expected = host_key_line(machine.name).split()[1]
        assert keys.lookup(machine.address)["ssh-ed25519"].get_base64() == expected


def test_recreated_machine_replaces_its_lines_and_keeps_others(tmp_path: Path) -> None:
    """A re-created container has new keys (and maybe a new address): its old lines go, the
    lines of other machines and of hosts accepted by `doctor` stay."""
    runner = running_runner()
    provider = make_provider(tmp_path, runner)
    known_hosts = tmp_path / "state" / "known_hosts"
    known_hosts.parent.mkdir(parents=True)
    doctor_line = host_key_line("static-host").split()
    known_hosts.write_text(
        f"10.9.9.9 {doctor_line[0]} {doctor_line[1]}\n"
        f"10.0.3.11 {doctor_line[0]} {doctor_line[1]}\n"  # stale: another machine had .11
    )
    provider.create(plan_machines(provider.spec))
    master_line = [ln for ln in known_hosts.read_text().splitlines() if "demo-master-1" in ln]

    # demo-agent-1 is re-created: new key, and it comes back at 10.0.3.20
    runner.on(["lxc-attach", "-n", "demo-agent-1"], ok(host_key_line("demo-agent-1", 1)))
    runner.on(
        ["vagrant", "ssh-config"],
        lambda args: ok("".join(
            ssh_block(n, "10.0.3.20" if n == "demo-agent-1" else f"10.0.3.{10 + i}")
            for i, n in enumerate(args[2:])
        )),
    )  # fmt: skip
    provider.create(plan_machines(provider.spec))

    lines = known_hosts.read_text().splitlines()
    assert lines[0] == f"10.9.9.9 {doctor_line[0]} {doctor_line[1]}"
    assert not any(ln.startswith("10.0.3.11 ") for ln in lines)
    agent = [ln for ln in lines if ln.endswith("dcos-provision:demo-agent-1")]
    assert agent == [f"10.0.3.20 {' '.join(host_key_line('demo-agent-1', 1).split()[:2])} "
                     "dcos-provision:demo-agent-1"]  # fmt: skip
    assert [ln for ln in lines if "demo-master-1" in ln] == master_line


def test_destroy_forgets_the_machines_host_keys(tmp_path: Path) -> None:
    runner = running_runner()
    runner.on(["vagrant", "destroy"], ok()).on(["lxc-ls"], ok(""))
    provider = make_provider(tmp_path, runner)
    provider.create(plan_machines(provider.spec))
    known_hosts = tmp_path / "state" / "known_hosts"
    known_hosts.write_text(known_hosts.read_text() + "10.9.9.9 ssh-ed25519 AAAA\n")

    provider.destroy(["demo-agent-1", "demo-agent-2"])

    lines = known_hosts.read_text().splitlines()
    assert [ln.split()[-1] for ln in lines] == ["dcos-provision:demo-master-1", "AAAA"]


def test_unreadable_host_keys_name_the_machine(tmp_path: Path) -> None:
    runner = running_runner()
    runner.on(["lxc-attach", "-n", "demo-agent-2"], failed("lxc-attach: no such container"))
    provider = make_provider(tmp_path, runner)
    with pytest.raises(ProviderError, match=r"^demo-agent-2: cannot read its SSH host keys"):
        provider.create(plan_machines(provider.spec))
    runner.on(["lxc-attach", "-n", "demo-agent-2"], ok("ssh-ed25519 AAAAC3NzaC1yc2EAAAA= x\n"))
    with pytest.raises(ProviderError, match=r"^demo-agent-2: unreadable SSH host key"):
        provider.create(plan_machines(provider.spec))


def test_virtualbox_machines_stay_non_strict_without_a_trusted_channel(tmp_path: Path) -> None:
    runner = running_runner()
    provider = make_provider(
        tmp_path, runner, vagrant_provider="virtualbox", private_network="192.168.56.10"
    )
    machines = provider.create(plan_machines(provider.spec))
    assert [m.strict_host_keys for m in machines] == [False] * 3
    assert runner.commands("lxc-attach") == []
    assert not (tmp_path / "state" / "known_hosts").exists()


def test_create_keeps_machines_that_left_the_plan_defined(tmp_path: Path) -> None:
    """Scaling down: the dropped agent stays in machines.json until destroy removes it."""
    runner = FakeRunner().on(["vagrant", "status"], ok(""))
    runner.on(["vagrant", "up"], ok())
    runner.on(["vagrant", "ssh-config"], ssh_config_for)
    provider = make_provider(tmp_path, runner)
    planned = plan_machines(provider.spec)
    provider.create(planned)
    provider.create(planned[:2])
    names = [m["name"] for m in json.loads(provider.machines_file.read_text())["machines"]]
    assert names == ["demo-master-1", "demo-agent-1", "demo-agent-2"]


def test_up_failure_names_machines_and_quotes_stderr(tmp_path: Path) -> None:
    stderr = "\n".join(f"noise {i}" for i in range(30)) + (
        # vagrant-lxc's message, wrapped as vagrant 2.3.4 prints it
        "\nThere is container on your system with the same name you've specified\n"
        "on your Vagrantfile (demo-agent-1), please choose a different one or\n"
        "run `lxc-destroy --name demo-agent-1` and try again.\n"
    )
    runner = FakeRunner().on(["vagrant", "status"], ok(""))
    runner.on(["vagrant", "up"], failed(stderr))
    provider = make_provider(tmp_path, runner)
    with pytest.raises(ProviderError) as caught:
        provider.create(plan_machines(provider.spec))
    message = str(caught.value)
    assert "vagrant up failed for demo-master-1, demo-agent-1, demo-agent-2 (exit 1)" in message
    assert "same name you've specified" in message
    assert "noise 29" in message and "noise 0\n" not in message  # only the tail is quoted
    assert caught.value.hint is not None
    assert "lxc-destroy -f -n demo-agent-1" in caught.value.hint
    assert len(runner.commands("vagrant", "up")) == 1  # other failures are not retried


LXC_INFO_ERROR = (
    "An error occurred while executing the action on the 'demo-agent-1'\n"
    "machine. Please handle this error then try again:\n\n"
    "There was an error executing lxc-info\n"
)


def test_up_asks_once_more_when_a_container_got_its_address_late(tmp_path: Path) -> None:
    answers = [failed(LXC_INFO_ERROR), ok()]
    runner = FakeRunner().on(["vagrant", "status"], ok(""))
    runner.on(["vagrant", "up"], lambda _args: answers.pop(0))
    runner.on(["vagrant", "ssh-config"], ssh_config_for)
    provider = make_provider(tmp_path, runner)
    machines = provider.create(plan_machines(provider.spec))
    ups = runner.commands("vagrant", "up")
    assert len(ups) == 2 and ups[0] == ups[1]
    assert [m.name for m in machines] == ["demo-master-1", "demo-agent-1", "demo-agent-2"]
    assert any("once more" in m for m in provider.messages)  # type: ignore[attr-defined]


def test_up_gives_up_after_the_second_address_timeout(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "status"], ok(""))
    runner.on(["vagrant", "up"], failed(LXC_INFO_ERROR))
    provider = make_provider(tmp_path, runner)
    with pytest.raises(ProviderError, match="error executing lxc-info"):
        provider.create(plan_machines(provider.spec))
    assert len(runner.commands("vagrant", "up")) == 2


# vagrant 2.3.4 after `up --parallel` when two of three machines failed (the third came up).
PARALLEL_FAILURE = (
    "An error occurred while executing multiple actions in parallel.\n"
    "Any errors that occurred are shown below.\n\n"
    "An error occurred while executing the action on the 'demo-agent-1'\n"
    "machine. Please handle this error then try again:\n\n"
    "There was an error executing lxc-start\n"
    "For more information on the failure, enable detailed logging.\n\n"
    "An error occurred while executing the action on the 'demo-agent-2'\n"
    "machine. Please handle this error then try again:\n\n"
    "Timed out while waiting for the machine to boot.\n"
)


def test_parallel_up_failure_names_only_the_machines_that_failed(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "status"], ok(""))
    runner.on(["vagrant", "up"], failed(PARALLEL_FAILURE))
    provider = make_provider(tmp_path, runner)
    with pytest.raises(ProviderError) as caught:
        provider.create(plan_machines(provider.spec))
    first, *rest = str(caught.value).splitlines()
    assert first == (
        "vagrant up failed for demo-agent-1, demo-agent-2 (exit 1); demo-master-1 came up:"
    )
    assert rest[:2] == [
        "  demo-agent-1: There was an error executing lxc-start For more information on the "
        "failure, enable detailed logging.",
        "  demo-agent-2: Timed out while waiting for the machine to boot.",
    ]


def test_up_failure_without_named_machines_asks_vagrant_which_are_running(
    tmp_path: Path,
) -> None:
    """A serial run prints the bare error: `vagrant status` tells which machines are not up."""
    before = STATUS_OUTPUT.replace("demo-agent-1,state,not_created", "x,y,z")
    after = STATUS_OUTPUT.replace("demo-agent-2,state,stopped", "demo-agent-2,state,running")
    statuses = [ok(before), ok(after)]
    runner = FakeRunner().on(["vagrant", "status"], lambda _args: statuses.pop(0))
    runner.on(["vagrant", "up"], failed("Timed out while waiting for the machine to boot."))
    provider = make_provider(tmp_path, runner)
    with pytest.raises(ProviderError) as caught:
        provider.create(plan_machines(provider.spec))
    assert str(caught.value).splitlines()[0] == (
        "vagrant up failed for demo-agent-1 (exit 1); demo-agent-2 came up:"
    )


def test_ssh_config_failure_is_a_provider_error(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "status"], ok(STATUS_OUTPUT.replace("not_created", "x")))
    runner.on(["vagrant", "up"], ok())
    runner.on(["vagrant", "ssh-config"], failed("not yet ready for SSH"))
    provider = make_provider(tmp_path, runner)
    with pytest.raises(
        ProviderError, match=r"(?s)ssh-config failed for demo-master-1.*not yet ready"
    ):
        provider.create(plan_machines(provider.spec))


def test_status_failure_is_a_provider_error(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "status"], failed("Vagrantfile error: boom"))
    provider = make_provider(tmp_path, runner)
    with pytest.raises(ProviderError, match=r"(?s)vagrant status failed for cluster demo.*boom"):
        provider.create(plan_machines(provider.spec))


# --------------------------------------------------------------------------- destroy


def write_machines(provider: VagrantProvider, names: list[str]) -> None:
    provider.state_dir.mkdir(parents=True, exist_ok=True)
    entries = [{"name": n, "cpus": 1, "memory_mb": 1024, "ip": None, "roles": ["agent"],
                "zookeeper_id": None} for n in names]  # fmt: skip
    provider.machines_file.write_text(json.dumps({"machines": entries}))


def test_destroy_refuses_other_clusters_machines(tmp_path: Path) -> None:
    runner = FakeRunner()
    provider = make_provider(tmp_path, runner)
    with pytest.raises(ProviderError, match="do not belong to cluster demo: demo-x-agent-1"):
        provider.destroy(["demo-agent-1", "demo-x-agent-1"])
    assert runner.calls == []


def test_destroy_runs_vagrant_then_removes_only_our_leftover_containers(tmp_path: Path) -> None:
    containers = {"demo-agent-1", "demo-agent-2", "demo-agent-10", "other-agent-1"}

    def lxc_destroy(args: list[str]) -> CommandResult:
        containers.discard(args[-1])
        return ok()

    runner = FakeRunner().on(["vagrant", "destroy"], ok())
    runner.on(["lxc-ls"], lambda _args: ok("\n".join(sorted(containers)) + "\n"))
    runner.on(["lxc-destroy"], lxc_destroy)
    provider = make_provider(tmp_path, runner)
    write_machines(provider, ["demo-master-1", "demo-agent-1", "demo-agent-2"])

    provider.destroy(["demo-agent-1", "demo-agent-2"])

    assert runner.commands("vagrant", "destroy") == [
        ["vagrant", "destroy", "-f", "--no-color", "--parallel", "demo-agent-1", "demo-agent-2"]
    ]
    assert runner.commands("lxc-destroy") == [
        ["lxc-destroy", "-f", "-n", "demo-agent-1"],
        ["lxc-destroy", "-f", "-n", "demo-agent-2"],
    ]
    assert containers == {"demo-agent-10", "other-agent-1"}
    left = [m["name"] for m in json.loads(provider.machines_file.read_text())["machines"]]
    assert left == ["demo-master-1"]


def test_destroy_unknown_names_is_a_noop_for_vagrant(tmp_path: Path) -> None:
    runner = FakeRunner().on(["lxc-ls"], ok("unrelated\n"))
    provider = make_provider(tmp_path, runner)
    provider.destroy(["demo-agent-7"])
    assert runner.commands("vagrant") == []
    assert runner.commands("lxc-destroy") == []


def test_destroy_failure_with_container_left_raises(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "destroy"], failed("lxc-destroy: busy"))
    runner.on(["lxc-ls"], ok("demo-agent-1\n"))
    runner.on(["lxc-destroy"], ok())  # claims success but the container stays
    provider = make_provider(tmp_path, runner)
    write_machines(provider, ["demo-agent-1"])
    with pytest.raises(ProviderError, match=r"(?s)vagrant destroy failed for demo-agent-1.*busy"):
        provider.destroy(["demo-agent-1"])


def test_destroy_failure_is_forgiven_when_the_container_is_gone(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "destroy"], failed("some vagrant hiccup"))
    runner.on(["lxc-ls"], ok("other\n"))
    provider = make_provider(tmp_path, runner)
    write_machines(provider, ["demo-agent-1"])
    (provider.dotfile_dir / "machines").mkdir(parents=True)
    provider.destroy(["demo-agent-1"])
    assert json.loads(provider.machines_file.read_text())["machines"] == []
    assert not provider.dotfile_dir.exists()


# --------------------------------------------------------------------------- list


def test_list_returns_running_machines_with_roles_from_machines_file(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "status"], ok(STATUS_OUTPUT))
    runner.on(["vagrant", "ssh-config"], ssh_config_for)
    provider = make_provider(tmp_path, runner)
    provider.state_dir.mkdir(parents=True)
    provider.machines_file.write_text(json.dumps({"machines": [
        {"name": "demo-master-1", "roles": ["master", "zookeeper"], "zookeeper_id": 1},
        {"name": "demo-agent-1", "roles": ["agent"], "zookeeper_id": None},
        {"name": "demo-agent-2", "roles": ["agent"], "zookeeper_id": None},
    ]}))  # fmt: skip
    machines = provider.list()
    assert [(m.name, m.roles, m.zookeeper_id) for m in machines] == [
        ("demo-master-1", ("master", "zookeeper"), 1)
    ]
    assert runner.commands("vagrant", "ssh-config") == [["vagrant", "ssh-config", "demo-master-1"]]


def test_vanished_is_not_created_only_never_stopped(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "status"], ok(STATUS_OUTPUT))
    provider = make_provider(tmp_path, runner)
    assert provider.vanished(["demo-agent-1"]) == []  # no machines file: nothing of ours
    provider.state_dir.mkdir(parents=True)
    provider.machines_file.write_text(json.dumps({"machines": []}))
    names = ["demo-master-1", "demo-agent-1", "demo-agent-2", "demo-agent-3"]
    # running, not_created, stopped, unknown to vagrant (also not created)
    assert provider.vanished(names) == ["demo-agent-1", "demo-agent-3"]
    with pytest.raises(ProviderError, match="do not belong to cluster demo"):
        provider.vanished(["other-master-1"])


def test_stopped_is_stopped_only(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "status"], ok(STATUS_OUTPUT))
    provider = make_provider(tmp_path, runner)
    assert provider.stopped(["demo-agent-2"]) == []  # no machines file: nothing of ours
    provider.state_dir.mkdir(parents=True)
    provider.machines_file.write_text(json.dumps({"machines": []}))
    names = ["demo-master-1", "demo-agent-1", "demo-agent-2", "demo-agent-3"]
    assert provider.stopped(names) == ["demo-agent-2"]
    with pytest.raises(ProviderError, match="do not belong to cluster demo"):
        provider.stopped(["other-agent-1"])


def test_start_brings_up_the_stopped_machine_and_records_its_new_address(tmp_path: Path) -> None:
    runner = FakeRunner().on(["vagrant", "up"], ok())
    runner.on(["vagrant", "ssh-config"], ok(ssh_block("demo-agent-2", "10.0.3.99")))
    provider = make_provider(tmp_path, runner)
    recorded = Machine("demo-agent-2", ("agent",), "10.0.3.12", "vagrant")
    [started] = provider.start([recorded])
    [up] = runner.commands("vagrant", "up")
    assert up[-1] == "demo-agent-2" and "--provider=lxc" in up
    assert (started.name, started.roles) == ("demo-agent-2", ("agent",))
    assert started.address == "10.0.3.99"
    # Its key, read through lxc-attach, is recorded for the new address.
    keys = paramiko.HostKeys(str(tmp_path / "state" / "known_hosts"))
    assert keys.lookup("10.0.3.99") is not None
    assert provider.start([]) == [] and len(runner.commands("vagrant", "up")) == 1


def test_names_are_every_defined_machine_without_asking_vagrant(tmp_path: Path) -> None:
    """What `down` destroys: the machines file's entries, also when `vagrant up` failed before
    any address was known (ssh-config would fail) or the containers are stopped."""
    runner = FakeRunner()
    provider = make_provider(tmp_path, runner)
    assert provider.names() == []
    # As create writes it, before `vagrant up`.
    provider._write_machines_file(
        [{"name": "demo-master-1", "roles": ["master"]}, {"name": "demo-agent-1", "roles": []}]
    )
    assert provider.names() == ["demo-master-1", "demo-agent-1"]
    assert runner.calls == []


def test_list_without_machines_file_runs_nothing(tmp_path: Path) -> None:
    runner = FakeRunner()
    assert make_provider(tmp_path, runner).list() == []
    assert runner.calls == []


# --------------------------------------------------------------------------- preflight


@pytest.fixture
def tools_present(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(vagrant_module.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    bridge = tmp_path / "lxcbr0"
    bridge.mkdir()
    monkeypatch.setattr(VagrantProvider, "bridge_path", bridge)
    monkeypatch.setattr(VagrantProvider, "proc_path", fake_proc(tmp_path / "proc", "lxcbr0"))
    flag = tmp_path / "network_up"
    flag.touch()
    monkeypatch.setattr(VagrantProvider, "lxc_net_flag", flag)
    return bridge


def fake_proc(proc: Path, *interfaces: str) -> Path:
    """A process table: an unrelated process, and a dnsmasq per interface (as lxc-net runs it)."""
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "cmdline").write_bytes(b"/sbin/init\0--interface=lxcbr0\0")
    for pid, interface in enumerate(interfaces, start=100):
        (proc / str(pid)).mkdir()
        (proc / str(pid) / "cmdline").write_bytes(
            b"\0".join([b"dnsmasq", b"-u", b"lxc-dnsmasq", f"--interface={interface}".encode()])
        )
    (proc / "self").mkdir()  # not a pid: never read
    return proc


def lab_runner(plugins: str = "vagrant-lxc (1.4.3, system)\n",
               boxes: str = "dcos-provision/debian12-lxc (lxc, 0)\n") -> FakeRunner:  # fmt: skip
    runner = FakeRunner().on(["vagrant", "plugin", "list"], ok(plugins))
    return runner.on(["vagrant", "box", "list"], ok(boxes))


def test_preflight_passes_on_a_ready_lab(tmp_path: Path, tools_present: Path) -> None:
    runner = lab_runner()
    make_provider(tmp_path, runner).preflight()
    assert [c.args[:3] for c in runner.calls] == [
        ["vagrant", "plugin", "list"],
        ["vagrant", "box", "list"],
    ]
    assert all("VAGRANT_CWD" not in c.env for c in runner.calls)


def test_preflight_without_vagrant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vagrant_module.shutil, "which", lambda tool: None)
    with pytest.raises(ToolMissingError, match="vagrant is not installed") as caught:
        make_provider(tmp_path, FakeRunner()).preflight()
    assert "sudo scripts/lab-setup.sh" in (caught.value.hint or "")


def test_preflight_without_lxc_plugin(tmp_path: Path, tools_present: Path) -> None:
    runner = lab_runner(plugins="vagrant-libvirt (0.11.2, system)\n")
    with pytest.raises(ToolMissingError, match="vagrant-lxc Vagrant plugin") as caught:
        make_provider(tmp_path, runner).preflight()
    assert "sudo scripts/lab-setup.sh" in (caught.value.hint or "")


def test_preflight_without_box(tmp_path: Path, tools_present: Path) -> None:
    runner = lab_runner(boxes="There are no installed boxes! Use `vagrant box add`\n")
    with pytest.raises(ToolMissingError, match="box dcos-provision/debian12-lxc") as caught:
        make_provider(tmp_path, runner).preflight()
    assert "sudo scripts/lab-setup.sh" in (caught.value.hint or "")


def test_preflight_without_bridge(tmp_path: Path, tools_present: Path) -> None:
    tools_present.rmdir()
    with pytest.raises(ProviderError, match="lxcbr0 is not up") as caught:
        make_provider(tmp_path, lab_runner()).preflight()
    assert "sudo scripts/lab-setup.sh" in (caught.value.hint or "")


def test_preflight_without_dhcp_on_the_bridge(
    tmp_path: Path, tools_present: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bridge is up but lxc-net's dnsmasq died with an earlier session: refused before any
    container starts (vagrant would fail minutes later on a container without an address)."""
    monkeypatch.setattr(VagrantProvider, "proc_path", fake_proc(tmp_path / "p2", "virbr0"))
    with pytest.raises(ProviderError, match=r"no DHCP server .* serves the LXC bridge lxcbr0") as e:
        make_provider(tmp_path, lab_runner()).preflight()
    assert "sudo scripts/lab-setup.sh" in (e.value.hint or "")


def test_a_bridge_lxc_net_does_not_run_is_not_checked_for_dhcp(
    tmp_path: Path, tools_present: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without lxc-net's flag the bridge is someone else's (its DHCP may be anything)."""
    monkeypatch.setattr(VagrantProvider, "proc_path", fake_proc(tmp_path / "p3"))
    monkeypatch.setattr(VagrantProvider, "lxc_net_flag", tmp_path / "absent")
    make_provider(tmp_path, lab_runner()).preflight()


def test_dhcp_serves_reads_the_real_process_table() -> None:
    """On this machine: no dnsmasq serves an interface that does not exist."""
    assert vagrant_module.dhcp_serves("dcos-no-such-if0") is False


def test_preflight_libvirt_needs_its_plugin_but_no_local_box(
    tmp_path: Path, tools_present: Path
) -> None:
    runner = lab_runner(plugins="vagrant-libvirt (0.11.2, system)\n", boxes="")
    make_provider(tmp_path, runner, vagrant_provider="libvirt").preflight()  # box not required
    assert runner.commands("vagrant", "box") == []
    runner = lab_runner(plugins="vagrant-lxc (1.4.3, system)\n")
    with pytest.raises(ToolMissingError, match="vagrant-libvirt") as caught:
        make_provider(tmp_path, runner, vagrant_provider="libvirt").preflight()
    assert caught.value.hint == "vagrant plugin install vagrant-libvirt"


# --------------------------------------------------------------------------- login key


def test_a_box_that_authorizes_the_cluster_key_gets_it_before_first_boot(
    tmp_path: Path, empty_vagrant_home: Path
) -> None:
    install_box(empty_vagrant_home, 'printf "%s" "$DCOS_PROVISION_AUTHORIZED_KEY"')
    runner = FakeRunner().on(["vagrant", "status"], ok(STATUS_OUTPUT))
    runner.on(["vagrant", "up"], ok())
    runner.on(["vagrant", "ssh-config"], ssh_config_for)
    provider = make_provider(tmp_path, runner)

    provider.create(plan_machines(provider.spec))

    key = tmp_path / "state" / "vagrant" / "ssh" / "id_ed25519"
    assert key.stat().st_mode & 0o777 == 0o600
    loaded = paramiko.Ed25519Key.from_private_key_file(str(key))
    public = f"ssh-ed25519 {loaded.get_base64()}"
    assert (key.parent / "id_ed25519.pub").read_text().startswith(public + " ")
    entries = json.loads((tmp_path / "state" / "machines.json").read_text())["machines"]
    assert {e["name"]: e.get("ssh_private_key") for e in entries} == {
        "demo-master-1": str(key),
        "demo-agent-1": str(key),
        "demo-agent-2": str(key),
    }
    up_call = next(c for c in runner.calls if c.args[1] == "up")
    assert up_call.env["DCOS_PROVISION_AUTHORIZED_KEY"].startswith(public + " ")
    # a second create keeps the key (machines already made with it must stay reachable)
    provider.create(plan_machines(provider.spec))
    assert paramiko.Ed25519Key.from_private_key_file(str(key)) == loaded


def test_machines_made_before_keep_vagrants_key_and_new_ones_get_the_cluster_key(
    tmp_path: Path, empty_vagrant_home: Path
) -> None:
    runner = FakeRunner().on(["vagrant", "status"], ok(STATUS_OUTPUT))
    runner.on(["vagrant", "up"], ok())
    runner.on(["vagrant", "ssh-config"], ssh_config_for)
    provider = make_provider(tmp_path, runner)
    provider.create(plan_machines(provider.spec)[:2])  # an old box: Vagrant's own key
    install_box(empty_vagrant_home, "... $DCOS_PROVISION_AUTHORIZED_KEY ...")

    provider.create(plan_machines(provider.spec))

    entries = json.loads((tmp_path / "state" / "machines.json").read_text())["machines"]
    key = str(tmp_path / "state" / "vagrant" / "ssh" / "id_ed25519")
    assert {e["name"]: e.get("ssh_private_key") for e in entries} == {
        "demo-master-1": None,
        "demo-agent-1": None,
        "demo-agent-2": key,
    }


@pytest.mark.parametrize(
    ("templates", "takes"),
    [
        ([None], False),  # vagrant-lxc's default template: no key
        (["#!/bin/sh\ntar xzf ..."], False),  # a template of another kind
        (["... DCOS_PROVISION_AUTHORIZED_KEY ..."], True),
        (["... DCOS_PROVISION_AUTHORIZED_KEY ...", None], False),  # one version without
    ],
)
def test_only_a_box_whose_every_version_ships_our_template_takes_the_key(
    tmp_path: Path, empty_vagrant_home: Path, templates: list[str | None], takes: bool
) -> None:
    for version, template in enumerate(templates):
        install_box(empty_vagrant_home, template, version=str(version))
    provider = make_provider(tmp_path, FakeRunner())
    assert provider._box_takes_login_key() is takes
    virtualbox = make_provider(tmp_path, FakeRunner(), vagrant_provider="virtualbox")
    assert virtualbox._box_takes_login_key() is False


# --------------------------------------------------------------------------- baked Mesos


def tarball_spec(tmp_path: Path, vagrant_provider: str = "lxc", **install: object) -> ClusterSpec:
    spec = ClusterSpec.model_validate(
        {
            "name": "demo",
            "provider": {"kind": "vagrant", "vagrant_provider": vagrant_provider},
            "mesos": {"version": "1.11.0", "install": install},
        }
    )
    spec._source = tmp_path / "specs" / "demo.yaml"
    return spec


def test_a_local_tarball_install_names_the_tarball_and_prefix_the_template_bakes(
    tmp_path: Path,
) -> None:
    spec = tarball_spec(tmp_path, method="tarball", path="../lab/mesos.tar.gz")
    provider = VagrantProvider(spec, tmp_path / "state", None, FakeRunner())

    env = provider._cluster_env()

    # the path the inventory gives the role (its marker holds it), the role's prefix
    assert env["DCOS_PROVISION_BAKE_MESOS_TARBALL"] == str(tmp_path / "lab" / "mesos.tar.gz")
    assert env["DCOS_PROVISION_BAKE_MESOS_PREFIX"] == "/opt/mesos-1.11.0"


@pytest.mark.parametrize(
    ("vagrant_provider", "install"),
    [
        ("lxc", {"method": "tarball", "url": "https://example.org/mesos.tar.gz"}),
        ("lxc", {"method": "repository"}),
        ("libvirt", {"method": "tarball", "path": "/srv/mesos.tar.gz"}),  # no lxc-template
    ],
)
def test_nothing_is_baked_for_downloads_packages_or_vms(
    tmp_path: Path, vagrant_provider: str, install: dict[str, object]
) -> None:
    spec = tarball_spec(tmp_path, vagrant_provider, **install)
    env = VagrantProvider(spec, tmp_path / "state", None, FakeRunner())._cluster_env()
    assert not {"DCOS_PROVISION_BAKE_MESOS_TARBALL", "DCOS_PROVISION_BAKE_MESOS_PREFIX"} & set(env)


def test_the_baked_prefix_is_role_mesos_installs_default() -> None:
    defaults = yaml.safe_load(
        (vagrant_dir().parent / "playbooks/roles/mesos_install/defaults/main.yml").read_text()
    )
    prefix = defaults["mesos_install_prefix"].replace("{{ mesos_install_version }}", "{version}")
    assert prefix == vagrant_module.TARBALL_PREFIX
