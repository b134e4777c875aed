"""CLI behaviour through typer's CliRunner: exit codes, stdout JSON vs stderr messages."""

from __future__ import annotations

import json

import jsonschema
import yaml
from typer.testing import CliRunner

from provisioner.cli import app

runner = CliRunner()

STATIC = (
    "name: lab\nssh: {user: ops}\nprovider:\n  kind: static\n  hosts:\n"
    "    - {name: m1, address: 192.0.2.11, roles: [master, zookeeper]}\n"
    "    - {name: a1, address: 192.0.2.21, roles: [agent]}\n"
)


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_validate_reports_every_problem_with_exit_2_and_no_traceback(tmp_path):
    spec = write(tmp_path, "name: x\nprovider: {kind: vagrant}\nmasters: {count: 2}\nfoo: 1\n")
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    assert f"{spec}:3 masters.count: must be odd" in result.stderr
    assert f"{spec}:4 foo: unknown key" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_validate_json_goes_to_stdout(tmp_path):
    spec = write(tmp_path, "name: x\nprovider: {kind: vagrant}\nagents: {count: 2}\n")
    result = runner.invoke(app, ["validate", "--json", str(spec)])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["valid"] is True
    assert [m["name"] for m in data["machines"]] == ["x-master-1", "x-agent-1", "x-agent-2"]
    bad = runner.invoke(app, ["validate", "--json", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 2
    assert json.loads(bad.stdout)["problems"] == [f"{tmp_path / 'missing.yaml'}: no such file"]


def test_schema_is_json_schema_that_accepts_a_valid_spec():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.validate(yaml.safe_load(STATIC), schema)
    assert schema["properties"]["name"]["description"].startswith("Cluster name")


def test_plan_json_for_a_new_static_cluster_changes_nothing(tmp_path):
    spec = write(tmp_path, STATIC)
    result = runner.invoke(app, ["plan", "--json", str(spec)])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert [a["kind"] for a in plan["actions"]] == ["create", "converge", "wait_healthy"]
    assert plan["actions"][1]["playbook"] == "site.yml"
    assert not (tmp_path / ".dcos-provision" / "lab" / "state.json").exists()
    same = runner.invoke(app, ["up", "--plan-only", "--json", str(spec)])
    assert json.loads(same.stdout) == plan


def test_status_of_a_cluster_never_created_fails_clearly(tmp_path):
    spec = write(tmp_path, STATIC)
    result = runner.invoke(app, ["status", str(spec)])
    assert result.exit_code == 1
    assert "has no machines recorded" in result.stderr
    assert "run `dcos-provision up` first" in result.stderr
    vagrant = write(tmp_path, "name: v\nprovider: {kind: vagrant}\n", "v.yaml")
    result = runner.invoke(app, ["inventory", str(vagrant)])
    assert result.exit_code == 1 and "has no machines recorded" in result.stderr


def test_metrics_of_a_cluster_never_created_fails_clearly(tmp_path):
    spec = write(tmp_path, STATIC)
    result = runner.invoke(app, ["metrics", str(spec), "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "has no machines recorded" in json.loads(result.stdout)["error"]


def test_inventory_of_static_hosts_needs_no_state(tmp_path):
    spec = write(tmp_path, STATIC)
    result = runner.invoke(app, ["inventory", str(spec)])
    assert result.exit_code == 0, result.output
    inventory = yaml.safe_load(result.stdout)["all"]
    assert inventory["hosts"]["m1"]["ansible_host"] == "192.0.2.11"
    assert sorted(inventory["children"]["zookeeper"]["hosts"]) == ["m1"]


def test_down_asks_before_destroying_and_refuses_without_a_terminal(tmp_path):
    spec = write(tmp_path, "name: d\nprovider: {kind: vagrant}\n")
    state_dir = tmp_path / ".dcos-provision" / "d"
    state_dir.mkdir(parents=True)
    (state_dir / "state.json").write_text(
        json.dumps(
            {
                "version": 1,
                "cluster": "d",
                "provider": "vagrant",
                "converged": {},
                "history": [],
                "machines": {
                    "d-master-1": {
                        "name": "d-master-1",
                        "roles": ["master", "zookeeper"],
                        "address": "10.0.3.9",
                        "ssh_user": "vagrant",
                    }
                },
            }
        )
    )
    result = runner.invoke(app, ["down", str(spec)])
    assert result.exit_code == 2
    assert "refusing to destroy without confirmation" in result.stderr
    assert (state_dir / "state.json").exists()


def test_scale_rejects_negative_counts_before_touching_anything(tmp_path):
    spec = write(tmp_path, STATIC)
    before = spec.read_text()
    result = runner.invoke(app, ["scale", str(spec), "--agents", "-1"])
    assert result.exit_code == 2
    assert "--agents must be 0 or more" in result.stderr
    assert spec.read_text() == before


def test_bad_spec_on_any_command_is_exit_2(tmp_path):
    spec = write(tmp_path, "name: x\nprovider: {kind: nope}\n")
    for command in ("plan", "up", "status", "down"):
        result = runner.invoke(
            app, [command, "--yes", str(spec)] if command == "down" else [command, str(spec)]
        )
        assert result.exit_code == 2, (command, result.output)
        assert "unknown kind 'nope'" in result.stderr


def test_messages_with_brackets_are_printed_verbatim(tmp_path):
    folder = tmp_path / "lab[red]x"
    folder.mkdir()
    spec = write(folder, STATIC)
    result = runner.invoke(app, ["status", str(spec)])
    assert result.exit_code == 1
    assert "internal error" not in result.stderr
    assert "lab[red]x" in result.stderr


def test_plan_and_up_on_a_pulumi_spec_without_the_cli_say_how_to_install_it(
    tmp_path, monkeypatch, repo
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi anywhere
    monkeypatch.setenv("HOME", str(tmp_path))  # the example's ~/.ssh/id_ed25519 must exist
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519").write_text("key\n")
    spec = write(tmp_path, (repo / "examples/aws.yaml").read_text())
    for command in ("plan", "up"):
        result = runner.invoke(app, [command, str(spec)])
        assert result.exit_code == 1, result.output
        assert "the `pulumi` CLI is not on PATH" in result.stderr
        assert "get.pulumi.com" in result.stderr
    assert not (tmp_path / ".dcos-provision" / "cloud" / "state.json").exists()
