"""CLI surface: --version, shell completion, help without odd metavars, scale's confirmation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provisioner import __version__, cli
from provisioner.cli import app

runner = CliRunner()


def test_version_option_and_command() -> None:
    for args in (["--version"], ["version"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"dcos-provision {__version__}\n"


def test_shell_completion_is_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["--help"])
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout
    # Typer detects the calling shell (shellingham) unless told not to; under CI's `sh` it
    # finds an unsupported one. Without detection, `--show-completion` takes the shell name.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    shown = runner.invoke(app, ["--show-completion", "bash"])
    assert shown.exit_code == 0
    assert "complete" in shown.stdout and "dcos-provision" in shown.stdout


@pytest.mark.parametrize("command", ["up", "scale", "status", "down", "diagnose", "plan"])
def test_help_shows_no_type_metavars(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout and "<list[str]>" not in result.stdout
    assert "--json" in result.stdout and "--state-dir DIR" in result.stdout


def test_scale_options_name_their_values() -> None:
    text = runner.invoke(app, ["scale", "--help"]).stdout
    for option in ("--agents N", "--remove NAME", "--wait SECONDS", "-y, --yes"):
        assert option in text, option


def cluster_with_two_agents(tmp_path: Path) -> Path:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\nprovider: {kind: vagrant}\nagents: {count: 2}\n")
    state_dir = tmp_path / ".dcos-provision" / "s"
    state_dir.mkdir(parents=True)
    machines = {
        name: {"name": name, "roles": roles, "address": address, "ssh_user": "vagrant"}
        for name, roles, address in (
            ("s-master-1", ["master", "zookeeper"], "10.0.3.9"),
            ("s-agent-1", ["agent"], "10.0.3.10"),
            ("s-agent-2", ["agent"], "10.0.3.11"),
        )
    }
    machines["s-master-1"]["zookeeper_id"] = 1
    state = {"version": 1, "cluster": "s", "provider": "vagrant", "machines": machines}
    (state_dir / "state.json").write_text(json.dumps(state))
    return spec


def test_scale_down_refuses_without_confirmation_off_a_terminal(tmp_path: Path) -> None:
    spec = cluster_with_two_agents(tmp_path)
    before = spec.read_text()
    result = runner.invoke(app, ["scale", str(spec), "--agents", "1"])
    assert result.exit_code == 2
    assert "refusing to remove agents without confirmation" in result.stderr
    assert "pass --yes" in result.stderr
    assert spec.read_text() == before  # agents.count untouched


def test_scale_down_asks_and_a_no_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = cluster_with_two_agents(tmp_path)
    before = spec.read_text()
    monkeypatch.setattr(cli, "_interactive", lambda: True)  # CliRunner's stdin is no tty
    result = runner.invoke(app, ["scale", str(spec), "--remove", "s-agent-1"], input="n\n")
    assert result.exit_code == 1, result.output
    assert "Drain and destroy 1 agent(s): s-agent-1?" in result.stderr
    assert "nothing changed" in result.stderr
    assert spec.read_text() == before
