"""The static provider adopts the spec's hosts and never deletes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.errors import ProviderError
from provisioner.providers import provider_for
from provisioner.providers.static import StaticProvider
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines


def make_spec(tmp_path: Path, key: str = "keys/id_ops") -> ClusterSpec:
    spec = ClusterSpec.model_validate(
        {
            "name": "metal",
            "provider": {
                "kind": "static",
                "hosts": [
                    {"name": "m1", "address": "192.0.2.11", "roles": ["master", "zookeeper"]},
                    {
                        "name": "m2",
                        "address": "192.0.2.12",
                        "roles": ["zookeeper", "master"],
                        "zookeeper_id": 7,
                    },
                    {"name": "m3", "address": "192.0.2.13", "roles": ["master", "zookeeper"]},
                    {
                        "name": "a1",
                        "address": "192.0.2.21",
                        "roles": ["agent"],
                        "ssh_user": "root",
                        "ssh_port": 2222,
                        "ssh_private_key": "/srv/keys/agent",
                    },
                ],
            },
            "ssh": {"user": "ops", "private_key": key},
        }
    )
    spec._source = tmp_path / "cluster.yaml"
    return spec


def test_create_adopts_planned_hosts(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    provider = provider_for(spec, tmp_path / "state")
    assert isinstance(provider, StaticProvider)
    assert provider.deletes_machines is False
    machines = provider.create(plan_machines(spec))

    by_name = {m.name: m for m in machines}
    assert [m.name for m in machines] == ["m1", "m2", "m3", "a1"]
    m1 = by_name["m1"]
    assert (m1.address, m1.ssh_user, m1.ssh_port) == ("192.0.2.11", "ops", 22)
    assert m1.ssh_private_key == str(tmp_path / "keys" / "id_ops")
    assert m1.roles == ("master", "zookeeper")
    assert m1.strict_host_keys is True
    assert [by_name[n].zookeeper_id for n in ("m1", "m2", "m3", "a1")] == [1, 7, 2, None]
    a1 = by_name["a1"]
    assert (a1.ssh_user, a1.ssh_port, a1.ssh_private_key) == ("root", 2222, "/srv/keys/agent")


def test_list_is_the_spec_hosts_and_destroy_keeps_them(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    messages: list[str] = []
    provider = StaticProvider(spec, tmp_path / "state", messages.append)
    before = provider.list()
    provider.destroy(["a1"])
    assert provider.list() == before
    assert [m.name for m in before] == ["m1", "m2", "m3", "a1"]
    assert messages == ["releasing a1 (the host itself is left running)"]


def test_preflight_names_a_missing_key(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_ops").write_text("key")
    spec = make_spec(tmp_path)
    with pytest.raises(ProviderError, match=r"/srv/keys/agent of host a1 does not exist"):
        StaticProvider(spec, tmp_path).preflight()


def test_preflight_passes_when_keys_exist(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_ops").write_text("key")
    agent_key = tmp_path / "agent"
    agent_key.write_text("key")
    spec = ClusterSpec.model_validate(
        {
            "name": "metal",
            "provider": {
                "kind": "static",
                "hosts": [
                    {
                        "name": "m1",
                        "address": "192.0.2.11",
                        "roles": ["master", "zookeeper", "agent"],
                        "ssh_private_key": str(agent_key),
                    },
                ],
            },
            "ssh": {"user": "ops"},
        }
    )
    StaticProvider(spec, tmp_path).preflight()
    (machine,) = StaticProvider(spec, tmp_path).list()
    assert machine.roles == ("master", "zookeeper", "agent")
    assert machine.ssh_private_key == str(agent_key)
