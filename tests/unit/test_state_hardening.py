"""state.json that is odd, future or corrupt gives one clear StateError (issue #12), and
`down` on a static cluster that was never adopted does nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from provisioner import operations, up_steps
from provisioner.cli import app
from provisioner.cluster import open_cluster
from provisioner.errors import StateError
from provisioner.state import STATE_VERSION, ClusterState, StateStore

runner = CliRunner()
MACHINE = {"name": "p-master-1", "roles": ["master"], "address": "10.0.3.9", "ssh_user": "vagrant"}


def good(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": STATE_VERSION,
        "cluster": "p",
        "provider": "vagrant",
        "machines": {"p-master-1": dict(MACHINE)},
        "converged": {},
        "applied": {},
        "history": [],
    }
    data.update(changes)
    return data


def load(tmp_path: Path, content: Any) -> ClusterState:
    text = content if isinstance(content, str) else json.dumps(content)
    (tmp_path / "state.json").write_text(text)
    return StateStore(tmp_path, "p", "vagrant").load()


def test_the_written_shape_loads(tmp_path: Path) -> None:
    assert load(tmp_path, good()).machines["p-master-1"].address == "10.0.3.9"


@pytest.mark.parametrize("version", [2, 0, "1", None, True, 1.5])
def test_an_unknown_version_is_refused(tmp_path: Path, version: Any) -> None:
    data = good(version=version)
    if version is None:
        del data["version"]
    with pytest.raises(StateError, match=r"unknown state version .* reads version 1") as info:
        load(tmp_path, data)
    assert "use the dcos-provision version that wrote it" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (good(machines=[]), "machines should be an object, not list"),
        (good(machines=None), "machines should be an object, not NoneType"),
        (good(machines={"m": None}), "machines.m should be an object"),
        (good(machines={"m": {**MACHINE, "zookeeper_id": "1"}}), "machines.m.zookeeper_id"),
        (good(machines={"m": {**MACHINE, "roles": "master"}}), "machines.m.roles should be a list"),
        (good(machines={"m": {**MACHINE, "ssh_port": "22"}}), "machines.m.ssh_port"),
        (good(machines={"m": {**MACHINE, "extra": []}}), "machines.m.extra"),
        (good(machines={"m": {"name": "m"}}), "machines.m.address"),
        (good(converged=[]), "converged should be an object"),
        (good(applied={"mesos_version": 1}), "applied.mesos_version should be a string"),
        (good(history={}), "history should be a list"),
        (good(history=[1]), "history[] should be an object"),
        (good(cluster=None), "cluster should be a string"),
        (None, "the file should be an object, not NoneType"),
        ([], "the file should be an object, not list"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"version": 1, "machines": {"m": ' * 5_000, "cannot read the cluster state"),
    ],
)
def test_odd_shapes_are_a_clear_state_error(tmp_path: Path, content: Any, names: str) -> None:
    with pytest.raises(StateError) as info:
        load(tmp_path, content)
    assert str(tmp_path / "state.json") in info.value.message
    assert names in info.value.message
    assert len(info.value.message) < 400


def test_a_corrupt_state_through_the_cli_is_one_line_exit_1(tmp_path: Path) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text("name: p\nprovider: {kind: vagrant}\n")
    state_dir = tmp_path / ".dcos-provision" / "p"
    state_dir.mkdir(parents=True)
    (state_dir / "state.json").write_text(json.dumps(good(machines=[])))
    result = runner.invoke(app, ["status", str(spec)])
    assert result.exit_code == 1
    assert "machines should be an object" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def static_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "c.yaml"
    spec.write_text(
        "name: s\nprovider:\n  kind: static\n  hosts:\n"
        "    - {name: m1, address: 10.0.0.1, roles: [master, zookeeper, agent]}\n"
    )
    return spec


def test_down_on_a_static_cluster_never_adopted_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(up_steps, "run_playbook", lambda *a, **k: ran.append("playbook"))
    spec = static_spec(tmp_path)
    for _ in range(2):
        result = runner.invoke(app, ["down", str(spec), "--yes", "--json"])
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout) == {"cluster": "s", "destroyed": []}
        assert "destroyed: nothing (no machines recorded)" in result.stderr
    assert ran == []
    assert not (tmp_path / ".dcos-provision" / "s" / "state.json").exists()


def test_down_on_an_adopted_static_cluster_resets_and_releases_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(
        up_steps, "run_playbook", lambda _c, action, *_a, **_k: ran.append(action.hosts)
    )
    spec = static_spec(tmp_path)
    cluster = open_cluster(spec)
    state = cluster.store.load()
    state.machines = {m.name: m for m in cluster.provider().list()}
    cluster.store.save(state)
    assert operations.down(cluster) == ["m1"]
    assert ran == [("m1",)]
    assert operations.down(open_cluster(spec)) == []


def test_down_after_an_up_that_failed_before_recording_destroys_what_the_provider_defined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`up` failed after `vagrant up` but before any machine was recorded (no address yet,
    so listing them fails): `down` still destroys the machines the provider defined."""
    from provisioner import cluster as cluster_module
    from provisioner.errors import ProviderError
    from provisioner.providers.base import Provider

    destroyed: list[str] = []

    class HalfCreated(Provider):
        def create(self, machines: list) -> list:
            raise AssertionError("down never creates")

        def destroy(self, names: list[str]) -> None:
            destroyed.extend(names)

        def list(self) -> list:
            raise ProviderError("vagrant ssh-config failed: There was an error executing lxc-info")

        def names(self) -> list[str]:
            return ["v-agent-1", "v-master-1"]

    monkeypatch.setattr(
        cluster_module,
        "provider_for",
        lambda spec, state_dir, progress: HalfCreated(spec, state_dir),
    )
    spec = tmp_path / "v.yaml"
    spec.write_text("name: v\nprovider: {kind: vagrant}\n")
    cluster = open_cluster(spec)
    assert cluster.store.load().machines == {}
    assert operations.down(cluster) == ["v-agent-1", "v-master-1"]
    assert destroyed == ["v-agent-1", "v-master-1"]
