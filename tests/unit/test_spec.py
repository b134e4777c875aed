"""The spec validator: defaults, every rule, and the all-at-once error report."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from provisioner.errors import SpecError
from provisioner.spec import ClusterSpec
from provisioner.spec.file import load_spec, parse_spec, set_agent_count

REPO = Path(__file__).resolve().parents[2]


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "c.yaml")
    return info.value.problems


def test_minimal_spec_is_a_one_master_one_agent_local_cluster():
    spec = parse_spec("name: x\nprovider: {kind: vagrant}\n")
    assert spec.masters.count == 1
    assert spec.agents.count == 1
    assert spec.provider.vagrant_provider == "lxc"
    assert spec.provider.effective_box == "dcos-provision/debian12-lxc"
    assert spec.mesos.install.method == "repository"
    assert spec.mesos_cluster_name == "x"
    assert (
        spec.agents.effective_resources.as_flag()
        == "cpus:1;mem:1024;disk:10240;ports:[31000-32000]"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nprovider: {kind: vagrant}\nmasters: {count: 4}\n",
            "c.yaml:3 masters.count: must be odd (1, 3, 5, 7) to keep a quorum: got 4",
        ),
        (
            "name: x\nprovider: {kind: vagrant}\nmastres: {count: 1}\n",
            "c.yaml:3 mastres: unknown key",
        ),
        ("name: x\nprovider: {kind: vagrant}\nagents: {count: -1}\n", "c.yaml:3 agents.count:"),
        (
            "name: x\nprovider: {kind: vagrant}\nagents: {count: two}\n",
            "c.yaml:3 agents.count: Input should be a valid integer",
        ),
        (
            "name: x\nprovider: {kind: vagrant}\nmasters: {memory_mb: 64}\n",
            "c.yaml:3 masters.memory_mb: Input should be greater than or equal to 512: got 64",
        ),
        ("name: x\nprovider: {kind: vagrant}\nmasters: {cpus: 0}\n", "c.yaml:3 masters.cpus:"),
        ("name: Not_OK\nprovider: {kind: vagrant}\n", "c.yaml:1 name: must be a DNS label"),
        (
            "name: x\nprovider: {kind: docker}\n",
            "c.yaml:2 provider: unknown kind 'docker': "
            "expected one of 'vagrant', 'static', 'pulumi'",
        ),
        (
            "name: x\nprovider: {kind: vagrant}\nmesos: {install: {method: package_url}}\n",
            "c.yaml:3 mesos.install.url: is required with method: package_url",
        ),
        (
            "name: x\nprovider: {kind: vagrant}\nmesos: {install: {method: tarball}}\n",
            "c.yaml:3 mesos.install.url: method: tarball needs `url` or `path`",
        ),
        (
            "name: x\nprovider: {kind: vagrant}\nzookeeper: {placement: dedicated}\n",
            "c.yaml:3 zookeeper.count: is required with placement: dedicated",
        ),
        (
            "name: x\nprovider: {kind: vagrant}\nzookeeper: {placement: dedicated, count: 2}\n",
            "c.yaml:3 zookeeper.count: must be odd",
        ),
        (
            "name: x\nprovider: {kind: vagrant}\nmesos: {master_flags: {zk: 'zk://x/mesos'}}\n",
            "c.yaml:3 mesos.master_flags: 'zk' is set by dcos-provision",
        ),
        (
            "name: x\nprovider: {kind: vagrant}\nmesos: {agent_flags: {master: x}}\n",
            "c.yaml:3 mesos.agent_flags: 'master' is set by dcos-provision",
        ),
        (
            "name: x\nprovider:\n  kind: static\n  hosts:\n"
            "    - {name: a, address: 10.0.0.256, roles: [master, zookeeper, agent]}\n",
            "c.yaml:5 provider.hosts[0].address: must be an IPv4 address",
        ),
        ("name: x\nprovider: {kind: vagrant}\nname: y\n", "c.yaml:3 YAML syntax error"),
    ],
)
def test_each_rule_names_file_line_and_field(text, expected):
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_all_problems_are_reported_at_once():
    text = (
        "name: Bad\n"
        "provider: {kind: vagrant, vagrant_provider: qemu}\n"
        "masters: {count: 2}\n"
        "agents: {count: -3, extra: 1}\n"
        "mesos: {install: {method: package_url}}\n"
    )
    found = problems(text)
    fields = [p.split(" ")[1].rstrip(":") for p in found]
    assert fields == [
        "name",
        "provider.vagrant_provider",
        "masters.count",
        "agents.count",
        "agents.extra",
        "mesos.install.url",
    ]


def test_static_duplicates_and_role_counts():
    text = (
        "name: x\nprovider:\n  kind: static\n  hosts:\n"
        "    - {name: a, address: 10.0.0.1, roles: [master, zookeeper]}\n"
        "    - {name: a, address: 10.0.0.1, roles: [master, agent]}\n"
    )
    found = problems(text)
    assert any("provider.hosts[1].name: duplicate name 'a'" in p for p in found)
    assert any("provider.hosts[1].address: duplicate address '10.0.0.1'" in p for p in found)
    assert any("hosts with role master must be 1, 3, 5 or 7: got 2" in p for p in found)


def test_static_counts_must_agree_with_masters_and_agents():
    text = (
        "name: x\nprovider:\n  kind: static\n  hosts:\n"
        "    - {name: a, address: 10.0.0.1, roles: [master, zookeeper]}\n"
        "    - {name: b, address: 10.0.0.2, roles: [agent]}\n"
        "agents: {count: 3}\n"
    )
    found = problems(text)
    assert any(
        "agents.count: is 3 but provider.hosts has 1 host(s) with role agent" in p for p in found
    ), found
    ok = text.replace("agents: {count: 3}", "agents: {count: 1}")
    assert parse_spec(ok).agents.count == 1


def test_file_errors(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(SpecError, match="the file is empty"):
        load_spec(empty)
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(binary)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec(listing)


def test_relative_paths_resolve_against_the_spec_file(tmp_path):
    spec_file = tmp_path / "sub" / "c.yaml"
    spec_file.parent.mkdir()
    spec_file.write_text(
        "name: x\nprovider: {kind: vagrant}\n"
        "mesos: {install: {method: tarball, path: ../m.tar.gz}}\n"
    )
    (tmp_path / "m.tar.gz").write_bytes(b"tarball")
    spec = load_spec(spec_file)
    assert spec.resolve_path(spec.mesos.install.path) == tmp_path / "m.tar.gz"


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.yaml")))
def test_examples_are_valid_and_match_the_json_schema(example, tmp_path, monkeypatch):
    # The files the examples name must exist (checked at load): a home with the key, and
    # the lab tarball next to a copy of the example.
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519").write_text("key\n")
    (tmp_path / ".lab").mkdir()
    (tmp_path / ".lab" / "mesos.tar.gz").write_bytes(b"tarball")
    copy = tmp_path / "examples" / example.name
    copy.parent.mkdir()
    copy.write_text(example.read_text())
    load_spec(copy)
    schema = ClusterSpec.model_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(example.read_text()), schema)


def test_schema_documents_every_field():
    schema = ClusterSpec.model_json_schema()

    def walk(node, where):
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{where}.{name} has no description"

    walk(schema, "ClusterSpec")
    for name, definition in schema["$defs"].items():
        walk(definition, name)
    json.dumps(schema)


def test_schema_rejects_what_the_validator_rejects():
    schema = ClusterSpec.model_json_schema()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "provider": {"kind": "vagrant"}, "typo": 1}, schema)


def test_set_agent_count_keeps_comments_and_validates(tmp_path):
    spec_file = tmp_path / "c.yaml"
    spec_file.write_text(
        "# my cluster\nname: x\nprovider: {kind: vagrant}\n"
        "agents:\n  count: 1   # grow later\n  cpus: 1\n"
    )
    assert set_agent_count(spec_file, 3) is True
    text = spec_file.read_text()
    assert "count: 3   # grow later" in text and text.startswith("# my cluster")
    assert load_spec(spec_file).agents.count == 3
    assert set_agent_count(spec_file, 3) is False
    flow = tmp_path / "f.yaml"
    flow.write_text("name: x\nprovider: {kind: vagrant}\nagents: {cpus: 1}\n")
    set_agent_count(flow, 2)
    assert load_spec(flow).agents.count == 2
    absent = tmp_path / "a.yaml"
    absent.write_text("name: x\nprovider: {kind: vagrant}\n")
    set_agent_count(absent, 4)
    assert load_spec(absent).agents.count == 4


def test_docs_spec_reference_is_generated_from_the_schema():
    from provisioner.spec.doc import embed

    page = (REPO / "docs" / "spec.md").read_text()
    assert embed(page) == page, "run: dcos-provision schema --markdown (docs/spec.md section)"
    assert "| `count` | integer | `1` | Number of masters: 1, 3, 5 or 7" in page
