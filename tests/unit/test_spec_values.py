"""Values that reach config files and command lines (issue #12): control characters,
attributes, port ranges, host addresses, local files and the SSH password."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from provisioner.cli import app
from provisioner.domain import Machine
from provisioner.errors import SpecError
from provisioner.inventory import render_inventory
from provisioner.spec.file import load_spec, parse_spec

from .role_render import cluster, render, role_vars

runner = CliRunner()
HEAD = "name: x\nprovider: {kind: vagrant}\n"


def problems(data: dict, source: str = "c.yaml") -> list[str]:
    text = yaml.safe_dump({"name": "x", "provider": {"kind": "vagrant"}, **data})
    with pytest.raises(SpecError) as info:
        parse_spec(text, source)
    return info.value.problems


def static(*hosts: dict, **extra) -> dict:
    return {"provider": {"kind": "static", "hosts": list(hosts)}, **extra}


def host(name: str = "m1", address: str = "10.0.0.1", **extra) -> dict:
    return {"name": name, "address": address, "roles": ["master", "zookeeper", "agent"], **extra}


# ---- control characters


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"name": "x\n"}, "name:"),
        ({"name": "demo\nMESOS_ZK=zk://evil/mesos"}, "name:"),
        ({"mesos": {"cluster_name": "prod\nMESOS_ZK=zk://evil/mesos"}}, "mesos.cluster_name:"),
        ({"mesos": {"master_flags": {"offer_timeout": "30secs\n"}}}, "master_flags.offer_timeout"),
        (
            {"mesos": {"agent_flags": {"launcher": "posix\nMESOS_MASTER=zk://evil/mesos"}}},
            "mesos.agent_flags.launcher:",
        ),
        ({"mesos": {"agent_flags": {"launcher\n": "posix"}}}, "mesos.agent_flags:"),
        ({"mesos": {"master_flags": {"roles\r": "a"}}}, "mesos.master_flags:"),
        ({"mesos": {"install": {"apt_repository": "deb http://x/ {codename} main\ndeb y"}}}, "apt"),
        ({"mesos": {"install": {"yum_baseurl": "http://x/\x1b[2J"}}}, "yum_baseurl"),
        ({"mesos": {"install": {"runtime_packages": ["zlib1g\n"]}}}, "runtime_packages"),
        ({"agents": {"attributes": {"rack": "r1\nzone:evil"}}}, "agents.attributes.rack:"),
        ({"ssh": {"user": "root\n"}}, "ssh.user:"),
        ({"provider": {"kind": "vagrant", "box": "debian/bookworm64\u2028"}}, "provider.box:"),
        (static(host(name="m1\n")), "provider.hosts[0].name:"),
        (static(host(ssh_user="ops\tx")), "provider.hosts[0].ssh_user:"),
        (static(host(address="10.0.0.1\n")), "provider.hosts[0].address:"),
    ],
)
def test_control_characters_are_refused_where_they_would_reach_a_file(data, where) -> None:
    found = problems(data)
    assert len(found) == 1, found
    assert where in found[0]
    assert "\n" not in found[0] and "\r" not in found[0] and "\x1b" not in found[0]


def test_a_trailing_newline_does_not_slip_past_the_name_rules() -> None:
    # `re.match` with `$` accepts "x\n"; every rule uses fullmatch now.
    for data in (
        {"name": "demo\n"},
        {"mesos": {"agent_flags": {"launcher\n": "posix"}}},
        static(host(name="m1\n")),
        {"mesos": {"version": "1.11.0\n"}},
    ):
        assert problems(data), data


def test_the_message_names_the_character_but_not_the_whole_value() -> None:
    (problem,) = problems({"mesos": {"agent_flags": {"launcher": "posix" + "x" * 10_000 + "\n"}}})
    assert "found '\\n'" in problem
    assert len(problem) < 300


def test_a_newline_in_a_flag_value_never_reaches_the_env_file() -> None:
    """Refused at validate; and the template itself could not have rendered an extra line."""
    evil = "posix\nMESOS_MASTER=zk://10.6.6.6:2181/mesos"
    (problem,) = problems({"mesos": {"agent_flags": {"launcher": evil}}})
    assert problem.startswith("c.yaml:")
    assert "mesos.agent_flags.launcher: must not contain control characters" in problem

    inventory = cluster(mesos={"agent_flags": {"launcher": "posix"}})
    agent_vars = inventory["all"]["children"]["mesos"]["children"]["mesos_agents"]["vars"]
    master_vars = inventory["all"]["children"]["mesos"]["children"]["mesos_masters"]["vars"]
    for value in (evil, "posix\n", "a\rb", "a\u2028MESOS_X=1"):
        agent_vars["mesos_agent_extra_flags"]["launcher"] = value  # as if validation were skipped
        with pytest.raises(Exception, match="refusing to render MESOS_LAUNCHER"):
            render(
                "mesos_agent",
                "mesos-agent.env.j2",
                role_vars("mesos_agent", inventory, "demo-agent-1"),
            )
        master_vars["mesos_master_extra_flags"]["webui_dir"] = value
        with pytest.raises(Exception, match="refusing to render MESOS_WEBUI_DIR"):
            render(
                "mesos_master",
                "mesos-master.env.j2",
                role_vars("mesos_master", inventory, "demo-master-1"),
            )
        master_vars["mesos_master_extra_flags"].clear()


def test_a_bad_flag_name_never_reaches_the_env_file() -> None:
    inventory = cluster()
    agent_vars = inventory["all"]["children"]["mesos"]["children"]["mesos_agents"]["vars"]
    agent_vars["mesos_agent_extra_flags"]["x\nMESOS_MASTER"] = "zk://evil"
    with pytest.raises(Exception, match="refusing to render"):
        render(
            "mesos_agent", "mesos-agent.env.j2", role_vars("mesos_agent", inventory, "demo-agent-1")
        )


# ---- attributes


@pytest.mark.parametrize("value", ["r1,r2", "r1;zone", "zone:b", "[1-2]:x", ""])
def test_attribute_values_that_break_the_attributes_flag_are_refused_by_name(value) -> None:
    (problem,) = problems({"agents": {"attributes": {"rack": value, "zone": "b"}}})
    assert "agents.attributes.rack:" in problem
    assert "attribute 'rack'" in problem


def test_every_bad_attribute_is_listed() -> None:
    found = problems({"agents": {"attributes": {"rack": "a,b", "zone": "c;d", "ok": "fine"}}})
    assert [p.split(": ")[0].split(" ")[1] for p in found] == [
        "agents.attributes.rack",
        "agents.attributes.zone",
    ]


def test_good_attributes_render_as_the_flag() -> None:
    spec = parse_spec(HEAD + "agents: {attributes: {rack: r1, zone: eu-1.b, gpus: 2}}\n")
    assert spec.agents.attributes_flag() == "gpus:2;rack:r1;zone:eu-1.b"


# ---- ports


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ("[32000-31000]", "range 32000-31000 is reversed"),
        ("[31000-70000]", "range 31000-70000 is outside 1-65535"),
        ("[0-100]", "range 0-100 is outside 1-65535"),
        ("[31000-32000, 31500-33000]", "ranges 31000-32000 and 31500-33000 overlap"),
        ("[5000-6000, 1000-5000]", "ranges 1000-5000 and 5000-6000 overlap"),
        ("[31000-32000]\n", "must not contain control characters"),
        ("[1-" + "9" * 5000 + "]", "must look like"),
    ],
)
def test_port_ranges_are_checked(ports: str, message: str) -> None:
    (problem,) = problems(
        {"agents": {"resources": {"cpus": 1, "mem": 512, "disk": 1024, "ports": ports}}}
    )
    assert "agents.resources.ports:" in problem
    assert message in problem
    assert len(problem) < 300


def test_valid_port_ranges_pass() -> None:
    ports = "[1000-2000, 2001-2001, 31000-65535]"
    spec = parse_spec(
        HEAD + f"agents: {{resources: {{cpus: 1, mem: 512, disk: 64, ports: '{ports}'}}}}\n"
    )
    assert spec.agents.effective_resources.ports == "[1000-2000, 2001-2001, 31000-65535]"


# ---- addresses


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("0.0.0.0", "the unspecified address"),
        ("255.255.255.255", "the broadcast address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
    ],
)
def test_static_hosts_need_a_unicast_address(address: str, why: str) -> None:
    (problem,) = problems(static(host(address=address)))
    assert (
        f"provider.hosts[0].address: must be a unicast address of a host: {address} is {why}"
        in problem
    )


def test_vagrant_private_network_needs_a_unicast_address() -> None:
    (problem,) = problems(
        {
            "provider": {
                "kind": "vagrant",
                "vagrant_provider": "libvirt",
                "private_network": "0.0.0.0",
            }
        }
    )
    assert "provider.private_network: must be a unicast address" in problem


def test_loopback_and_private_addresses_are_fine() -> None:
    for address in ("127.0.0.1", "10.1.2.3", "192.168.56.10"):
        text = yaml.safe_dump({"name": "x", **static(host(address=address))})
        assert parse_spec(text).provider.hosts[0].address == address


# ---- local files


def spec_file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "provider": {"kind": "vagrant"}, **data}))
    return path


def load_problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return info.value.problems


def test_tarball_and_keys_are_checked_when_the_spec_is_loaded(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    path = spec_file(
        tmp_path,
        {
            "mesos": {"install": {"method": "tarball", "path": "missing.tar.gz"}},
            "ssh": {"private_key": "keys"},
            **static(host(ssh_private_key="/dev/null"), host("m2", "10.0.0.2", roles=["agent"])),
        },
    )
    found = load_problems(path)
    assert len(found) == 3, found
    text = "\n".join(found)
    assert f"mesos.install.path: tarball {tmp_path}/missing.tar.gz does not exist" in text
    assert f"ssh.private_key: private key {tmp_path}/keys is a directory, not a file" in text
    assert "provider.hosts[0].ssh_private_key: private key /dev/null is not a regular file" in text


def test_existing_files_pass_and_relative_paths_follow_the_spec(tmp_path: Path) -> None:
    (tmp_path / "mesos.tar.gz").write_bytes(b"x")
    (tmp_path / "id").write_text("key")
    path = spec_file(
        tmp_path,
        {
            "mesos": {"install": {"method": "tarball", "path": "mesos.tar.gz"}},
            "ssh": {"private_key": "id"},
        },
    )
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    cwd = Path.cwd()
    os.chdir(elsewhere)
    try:
        assert load_spec(path).ssh.private_key == "id"
    finally:
        os.chdir(cwd)


def test_specs_built_in_code_are_not_tied_to_local_files() -> None:
    spec = parse_spec(HEAD + "ssh: {private_key: /nonexistent/id}\n")
    assert spec.ssh.private_key == "/nonexistent/id"


# ---- the SSH password


def test_a_static_host_with_only_a_password_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        {
            "ssh": {"user": "ops", "password": "hunter2-secret"},
            **static(host(), host("m2", "10.0.0.2", roles=["agent"])),
        },
    )
    for args in ([], ["--json"]):
        result = runner.invoke(app, ["validate", str(path), *args])
        assert result.exit_code == 2
        assert "ssh.password: is only used by `doctor`" in result.stderr
        assert "host(s) m1, m2 have none" in result.stderr
        assert "hunter2" not in result.stdout + result.stderr


def test_a_password_next_to_keys_is_kept_for_doctor_and_never_reaches_the_inventory(
    tmp_path: Path,
) -> None:
    (tmp_path / "id").write_text("key")
    path = spec_file(
        tmp_path,
        {
            "ssh": {"user": "ops", "password": "hunter2-secret", "private_key": "id"},
            **static(host()),
        },
    )
    spec = load_spec(path)
    assert spec.ssh.password.get_secret_value() == "hunter2-secret"
    machine = Machine("m1", ("master", "zookeeper", "agent"), "10.0.0.1", "ops", zookeeper_id=1)
    inventory = render_inventory(spec, [machine])
    assert "hunter2" not in inventory
    assert "password" not in inventory
    assert "hunter2" not in json.dumps(spec.model_dump(mode="json"))
    assert "hunter2" not in repr(spec)
