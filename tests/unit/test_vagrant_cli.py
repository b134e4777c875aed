"""The vagrant output parsers, address assignment and the command runner (no vagrant run)."""

from __future__ import annotations

import sys

from provisioner.providers.vagrant_cli import (
    assign_addresses,
    parse_machine_states,
    parse_ssh_config,
    run_command,
)

from .test_vagrant_provider import STATUS_OUTPUT, ssh_block


def test_parse_machine_states_reads_state_lines_only() -> None:
    assert parse_machine_states(STATUS_OUTPUT) == {
        "demo-master-1": "running",
        "demo-agent-1": "not_created",
        "demo-agent-2": "stopped",
    }


def test_parse_ssh_config_handles_several_hosts_quotes_and_case() -> None:
    text = (
        ssh_block("demo-master-1", "10.0.3.79")
        + "Host demo-agent-1\n  hostname 10.0.3.80\n  user admin\n  port 2200\n"
        '  IdentityFile "/path with space/key"\n  IdentityFile /second/key\n'
    )
    configs = parse_ssh_config(text)
    assert set(configs) == {"demo-master-1", "demo-agent-1"}
    master = configs["demo-master-1"]
    assert (master.hostname, master.user, master.port) == ("10.0.3.79", "vagrant", 22)
    assert master.identity_file == "/state/vagrant/machines/demo-master-1/lxc/private_key"
    agent = configs["demo-agent-1"]
    assert (agent.hostname, agent.user, agent.port) == ("10.0.3.80", "admin", 2200)
    assert agent.identity_file == "/path with space/key"


def test_parse_ssh_config_skips_blocks_without_hostname() -> None:
    assert parse_ssh_config("Host broken\n  User vagrant\n") == {}


def test_assign_addresses() -> None:
    assert assign_addresses(None, ["a", "b"], {}) == {"a": None, "b": None}
    assert assign_addresses("192.168.56.10", ["a", "b"], {}) == {
        "a": "192.168.56.10",
        "b": "192.168.56.11",
    }
    # a machine keeps its address; new ones take the lowest free one, skipping taken addresses
    recorded = {"b": "192.168.56.10", "gone-but-kept": "192.168.56.11"}
    assert assign_addresses("192.168.56.10", ["a", "b", "c"], recorded) == {
        "a": "192.168.56.12",
        "b": "192.168.56.10",
        "c": "192.168.56.13",
    }


def test_run_command_streams_stdout_and_keeps_stderr() -> None:
    seen: list[str] = []
    script = "import sys; print('one'); print('two'); print('oops', file=sys.stderr); sys.exit(3)"
    result = run_command([sys.executable, "-c", script], on_line=seen.append)
    assert seen == ["one", "two"]
    assert (result.returncode, result.stdout, result.stderr) == (3, "one\ntwo\n", "oops\n")
    assert result.tail() == "oops"


def test_run_command_missing_executable_is_127() -> None:
    result = run_command(["/nonexistent/vagrant", "status"])
    assert result.returncode == 127
    assert "/nonexistent/vagrant" in result.stderr
