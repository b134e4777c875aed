"""PulumiProvider around the Automation API, with a fake stack instead of the pulumi CLI."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import paramiko
import pytest
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult

from provisioner.errors import ProviderError, ToolMissingError
from provisioner.providers import provider_for
from provisioner.providers.pulumi import PulumiProvider, first_error_lines
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines

PASSPHRASE = "correct horse battery staple"


def make_spec(tmp_path: Path, agents: int = 2) -> ClusterSpec:
    (tmp_path / "id_test").write_text("PRIVATE")
    (tmp_path / "id_test.pub").write_text("ssh-ed25519 AAAAfake test\n")
    return ClusterSpec.model_validate(
        {
            "name": "lab",
            "provider": {
                "kind": "pulumi",
                "backend": {
                    "type": "libvirt",
                    "ssh_public_key": str(tmp_path / "id_test.pub"),
                },
            },
            "agents": {"count": agents},
            "ssh": {"user": "ops"},
        }
    )


class FakeStack:
    """Runs the inline program's planned machines through a recorder instead of Pulumi."""

    def __init__(self, outputs: dict[str, Any] | None = None) -> None:
        self.calls: list[str] = []
        self.outputs_value = outputs or {}
        self.fail_with: str | None = None
        self.workspace = SimpleNamespace(
            install_plugin=lambda name, version: self.calls.append(f"plugin {name} {version}"),
            remove_stack=lambda name: self.calls.append(f"remove {name}"),
        )

    def up(self, on_output=None):
        self.calls.append("up")
        if self.fail_with:
            raise auto.CommandError(CommandResult("", self.fail_with, 255))
        self.outputs_value = {
            "machines": auto.OutputValue(value=self.program_records(), secret=False)
        }

    def destroy(self, on_output=None):
        self.calls.append("destroy")
        self.outputs_value = {}

    def preview(self, on_output=None):
        self.calls.append("preview")
        return SimpleNamespace(change_summary={auto.OpType.CREATE: 3, auto.OpType.SAME: 1})

    def outputs(self):
        return self.outputs_value

    def program_records(self) -> list[dict[str, Any]]:
        return [
            {
                "name": m.name,
                "roles": list(m.roles),
                "zookeeper_id": m.zookeeper_id,
                "address": m.address,
                "private_ip": m.address,
                "public_ip": None,
                "host_key": self.host_keys[m.name][1] if m.name in self.host_keys else None,
            }
            for m in self.planned
        ]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fake `pulumi` on PATH, the passphrase set, and the automation entry points faked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    stack = FakeStack()
    opened: list[dict[str, Any]] = []
    recorder: dict[str, Any] = {}

    def fake_program(spec, machines, public_key, host_keys):
        """Stands in for libvirt_program: the real one runs in test_pulumi_programs.py."""
        recorder["machines"] = machines
        recorder["key"] = public_key
        recorder["host_keys"] = host_keys

    monkeypatch.setattr("provisioner.providers.pulumi.program_for", lambda _type: fake_program)

    def open_stack(create: bool):
        def opener(stack_name, project_name, program, opts):
            opened.append(
                {"create": create, "stack": stack_name, "project": project_name, "opts": opts}
            )
            if not create and not stack.calls and not stack.outputs_value:
                raise auto.StackNotFoundError(CommandResult("", "no stack named lab", 255))
            program()  # the inline program closes over the planned machines
            stack.planned = recorder["machines"]
            stack.public_key = recorder["key"]
            stack.host_keys = recorder["host_keys"]
            return stack

        return opener

    monkeypatch.setattr(auto, "create_or_select_stack", open_stack(True))
    monkeypatch.setattr(auto, "select_stack", open_stack(False))
    return {"stack": stack, "opened": opened}


def test_preflight_without_cli_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without pulumi
    provider = provider_for(make_spec(tmp_path), tmp_path / "state")
    assert isinstance(provider, PulumiProvider)
    with pytest.raises(ToolMissingError) as caught:
        provider.preflight()
    assert "pulumi" in caught.value.message
    assert "curl -fsSL https://get.pulumi.com | sh" in caught.value.hint
    assert "pulumi plugin install resource libvirt" in caught.value.hint


def test_missing_passphrase_is_a_provider_error_with_hint(
    tmp_path: Path, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    spec = make_spec(tmp_path)
    with pytest.raises(ProviderError, match="PULUMI_CONFIG_PASSPHRASE") as caught:
        PulumiProvider(spec, tmp_path / "state").create(plan_machines(spec))
    assert "export PULUMI_CONFIG_PASSPHRASE" in caught.value.hint


def test_create_uses_local_backend_and_maps_outputs_to_machines(
    tmp_path: Path, env: dict[str, Any]
) -> None:
    spec = make_spec(tmp_path)
    state = tmp_path / "state"
    machines = PulumiProvider(spec, state).create(plan_machines(spec))

    opts = env["opened"][-1]["opts"]
    assert env["opened"][-1]["stack"] == "lab"
    assert env["opened"][-1]["project"] == "dcos-provision"
    assert opts.project_settings.backend.url == f"file://{state / 'pulumi'}"
    assert opts.secrets_provider == "passphrase"
    assert opts.env_vars["PULUMI_CONFIG_PASSPHRASE"] == PASSPHRASE  # only to the CLI process
    assert env["stack"].calls[:2] == ["plugin libvirt v0.5.4", "up"]
    assert env["stack"].public_key == "ssh-ed25519 AAAAfake test"

    assert [(m.name, m.address, m.zookeeper_id) for m in machines] == [
        ("lab-master-1", "10.17.3.11", 1),
        ("lab-agent-1", "10.17.3.12", None),
        ("lab-agent-2", "10.17.3.13", None),
    ]
    first = machines[0]
    assert first.roles == ("master", "zookeeper")
    assert first.ssh_user == "ops"
    assert first.ssh_private_key == str(tmp_path / "id_test")  # the .pub's private half
    assert all(m.strict_host_keys for m in machines)  # host keys injected and recorded
    assert PASSPHRASE not in repr(machines)


def test_list_without_a_stack_is_empty(tmp_path: Path, env: dict[str, Any]) -> None:
    spec = make_spec(tmp_path)
    provider = PulumiProvider(spec, tmp_path / "state")
    assert provider.list() == []  # no state directory yet: the CLI is not even asked
    (tmp_path / "state" / "pulumi").mkdir(parents=True)
    assert provider.list() == []  # the backend exists but has no stack for this cluster
    assert [o["create"] for o in env["opened"]] == [False]


def test_destroy_some_runs_up_with_the_rest_and_keeps_addresses(
    tmp_path: Path, env: dict[str, Any]
) -> None:
    spec = make_spec(tmp_path, agents=3)
    provider = PulumiProvider(spec, tmp_path / "state")
    provider.create(plan_machines(spec))
    env["stack"].calls.clear()

    provider.destroy(["lab-agent-2", "lab-not-there"])
    assert env["stack"].calls == ["up"]
    assert [(m.name, m.address) for m in env["stack"].planned] == [
        ("lab-master-1", "10.17.3.11"),
        ("lab-agent-1", "10.17.3.12"),
        ("lab-agent-3", "10.17.3.14"),
    ]
    assert [m.name for m in provider.list()] == ["lab-master-1", "lab-agent-1", "lab-agent-3"]


def test_destroy_all_destroys_and_removes_the_stack(tmp_path: Path, env: dict[str, Any]) -> None:
    spec = make_spec(tmp_path)
    provider = PulumiProvider(spec, tmp_path / "state")
    created = provider.create(plan_machines(spec))
    env["stack"].calls.clear()
    provider.destroy([m.name for m in created])
    assert env["stack"].calls == ["destroy", "remove lab"]


def test_preview_reports_change_counts(tmp_path: Path, env: dict[str, Any]) -> None:
    spec = make_spec(tmp_path)
    summary = PulumiProvider(spec, tmp_path / "state").preview(plan_machines(spec))
    assert summary == {"create": 3, "same": 1}


def test_automation_errors_name_the_stack_and_first_error_lines(
    tmp_path: Path, env: dict[str, Any]
) -> None:
    env["stack"].fail_with = (
        "Updating (lab):\n    pulumi:pulumi:Stack dcos-provision-lab running\n"
        "error: libvirt: failed to connect: Failed to connect socket to "
        "'/var/run/libvirt/libvirt-sock': No such file or directory\n"
    )
    spec = make_spec(tmp_path)
    with pytest.raises(ProviderError) as caught:
        PulumiProvider(spec, tmp_path / "state").create(plan_machines(spec))
    message = caught.value.message
    assert message.startswith("pulumi up stack lab failed:")
    assert "error: libvirt: failed to connect" in message
    assert PASSPHRASE not in message + (caught.value.hint or "")


def test_first_error_lines_falls_back_to_the_last_lines() -> None:
    assert first_error_lines("a\nb\nerror: one\nerror: two\n") == "error: one\nerror: two"
    assert first_error_lines("\n".join(str(i) for i in range(10)), limit=2) == "8\n9"


def test_create_injects_host_keys_and_records_them(tmp_path: Path, env: dict[str, Any]) -> None:
    spec = make_spec(tmp_path)
    state = tmp_path / "state"
    machines = PulumiProvider(spec, state).create(plan_machines(spec))

    injected = env["stack"].host_keys
    assert sorted(injected) == sorted(m.name for m in machines)
    known = paramiko.HostKeys(str(state / "known_hosts"))
    assert (state / "known_hosts").stat().st_mode & 0o777 == 0o600
    for machine in machines:
        private_file = state / "host-keys" / machine.name
        assert private_file.stat().st_mode & 0o777 == 0o600
        private, public = injected[machine.name]
        assert private_file.read_text() == private
        key = paramiko.Ed25519Key.from_private_key_file(str(private_file))
        assert public.split()[:2] == [key.get_name(), key.get_base64()]
        assert known.lookup(machine.address)["ssh-ed25519"] == key

    # The next run injects the same keys (the user data, hence the machines, stay the same).
    PulumiProvider(spec, state).create(plan_machines(spec))
    assert env["stack"].host_keys == injected


def test_destroy_forgets_host_keys(tmp_path: Path, env: dict[str, Any]) -> None:
    spec = make_spec(tmp_path, agents=2)
    state = tmp_path / "state"
    provider = PulumiProvider(spec, state)
    provider.create(plan_machines(spec))
    provider.destroy(["lab-agent-2"])
    assert "lab-agent-2" not in (state / "known_hosts").read_text()
    assert "lab-agent-1" in (state / "known_hosts").read_text()
    assert sorted(p.name for p in (state / "host-keys").iterdir()) == [
        "lab-agent-1", "lab-agent-1.pub", "lab-master-1", "lab-master-1.pub"
    ]  # fmt: skip
    provider.destroy(["lab-master-1", "lab-agent-1"])
    assert (state / "known_hosts").read_text() == ""
    assert list((state / "host-keys").iterdir()) == []


def test_machines_made_before_injection_keep_their_keys_and_stay_non_strict(
    tmp_path: Path, env: dict[str, Any]
) -> None:
    """Their user data is left as it was (changing it could replace a running machine)."""
    spec = make_spec(tmp_path, agents=1)
    stack = env["stack"]
    stack.planned = plan_machines(spec)
    stack.host_keys = {}
    stack.outputs_value = {"machines": auto.OutputValue(stack.program_records(), secret=False)}
    stack.calls.append("up")  # the stack exists
    (tmp_path / "state" / "pulumi").mkdir(parents=True)

    grown = make_spec(tmp_path, agents=2)
    machines = PulumiProvider(grown, tmp_path / "state").create(plan_machines(grown))

    assert sorted(stack.host_keys) == ["lab-agent-2"]
    strict = {m.name: m.strict_host_keys for m in machines}
    assert strict == {"lab-master-1": False, "lab-agent-1": False, "lab-agent-2": True}
    lines = (tmp_path / "state" / "known_hosts").read_text().splitlines()
    assert [line.split()[-1] for line in lines] == ["dcos-provision:lab-agent-2"]
