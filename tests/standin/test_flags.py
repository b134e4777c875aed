"""Flag loading, value parsing and start-up refusals of the Mesos stand-in (no ZooKeeper needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from standin.flagdefs import AGENT_FLAGS, MASTER_FLAGS
from standin.flags import FlagError, load
from standin.resources import ParseError, parse_attributes, parse_resources, summary
from standin.values import format_duration, ip_as_uint32, parse_duration

from .procs import BIN, PYTHON


def test_command_line_overrides_environment_and_unknown_environment_is_ignored() -> None:
    env = {
        "MESOS_QUORUM": "1",
        "MESOS_work_dir": "/var/lib/mesos",
        "MESOS_NO_SUCH_FLAG": "x",
        "PATH": "/bin",
    }
    flags = load(MASTER_FLAGS, env, ["--quorum=2", "--cluster=ci"])
    assert flags.get("quorum") == 2
    assert flags.get("work_dir") == "/var/lib/mesos"
    assert flags.shown["quorum"] == "2"
    assert flags.shown["cluster"] == "ci"
    assert "no_such_flag" not in flags.shown


def test_defaults_are_shown_as_mesos_prints_them() -> None:
    master = load(MASTER_FLAGS, {}, [])
    assert master.shown["port"] == "5050"
    assert master.shown["zk_session_timeout"] == "10secs"
    assert master.shown["registry_fetch_timeout"] == "1mins"
    assert master.shown["agent_ping_timeout"] == "15secs"
    assert master.shown["hostname_lookup"] == "true"
    assert master.shown["registry"] == "replicated_log"
    assert "zk" not in master.shown and "quorum" not in master.shown
    agent = load(AGENT_FLAGS, {}, ["--work_dir=/w"])
    assert agent.shown["port"] == "5051"
    assert agent.shown["registration_backoff_factor"] == "1secs"
    assert agent.shown["reconfiguration_policy"] == "equal"


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--no-hostname_lookup"], {}, False),
        (["--hostname_lookup=false"], {}, False),
        (["--hostname_lookup"], {"MESOS_HOSTNAME_LOOKUP": "false"}, True),
        ([], {"MESOS_HOSTNAME_LOOKUP": "false"}, False),
    ],
)
def test_boolean_forms(argv: list[str], env: dict[str, str], expected: bool) -> None:
    assert load(MASTER_FLAGS, env, argv).get("hostname_lookup") is expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--foo=bar"], "Failed to load unknown flag 'foo'"),
        (["--no-foo"], "Failed to load unknown flag 'foo' via 'no-foo'"),
        (["--quorum", "2"], "Failed to load non-boolean flag 'quorum': Missing value"),
        (["--quorum=1", "--quorum=2"], "Flag 'quorum' is already loaded via name 'quorum'"),
        (
            ["--agent_ping_timeout=5secs", "--slave_ping_timeout=5secs"],
            "Flag 'slave_ping_timeout' is already loaded via name 'agent_ping_timeout'",
        ),
        (
            ["--no-hostname_lookup=false"],
            "Failed to load boolean flag 'hostname_lookup' via 'no-hostname_lookup' with value "
            "'false'",
        ),
        (
            ["--hostname_lookup=yes"],
            "Failed to load flag 'hostname_lookup': Failed to load value "
            "'yes': Expecting a boolean (e.g., true or false)",
        ),
        (
            ["--zk_session_timeout=10"],
            "Failed to load flag 'zk_session_timeout': Failed to load "
            "value '10': Invalid duration '10'",
        ),
        (["--port=http"], "Failed to load flag 'port': Failed to load value 'http'"),
    ],
)
def test_flag_errors_use_stout_messages(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError) as caught:
        load(MASTER_FLAGS, {}, argv)
    assert str(caught.value).startswith(message)


def test_agent_work_dir_is_required() -> None:
    with pytest.raises(FlagError, match=r"^Flag 'work_dir' is required, but it was not provided$"):
        load(AGENT_FLAGS, {}, ["--master=10.0.0.1:5050"])


def test_file_values_are_read_and_zk_shows_the_path(tmp_path: Path) -> None:
    zk_file = tmp_path / "zk"
    zk_file.write_text("zk://10.0.0.1:2181,10.0.0.2:2181/mesos\n")
    quorum_file = tmp_path / "quorum"
    quorum_file.write_text("2")
    flags = load(
        MASTER_FLAGS, {"MESOS_ZK": f"file://{zk_file}"}, [f"--quorum=file://{quorum_file}"]
    )
    assert flags.get("zk").strip() == "zk://10.0.0.1:2181,10.0.0.2:2181/mesos"
    assert flags.shown["zk"] == str(zk_file)
    assert flags.get("quorum") == 2
    with pytest.raises(FlagError, match="Error reading file '/nonexistent'"):
        load(MASTER_FLAGS, {}, ["--cluster=file:///nonexistent"])


@pytest.mark.parametrize(
    ("text", "seconds", "shown"),
    [
        ("10secs", 10, "10secs"),
        ("4secs", 4, "4secs"),
        ("1mins", 60, "1mins"),
        ("90secs", 90, "1.5mins"),
        ("500ms", 0.5, "500ms"),
        ("2weeks", 1209600, "2weeks"),
    ],
)
def test_durations(text: str, seconds: float, shown: str) -> None:
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == shown


def test_master_info_ip_is_little_endian_s_addr() -> None:
    assert ip_as_uint32("10.0.0.11") == 184549386
    assert ip_as_uint32("127.0.0.1") == 16777343


def test_resources_text_and_json_forms() -> None:
    text = summary(parse_resources("cpus:2;mem:2048;disk:10240;ports:[31000-32000]"))
    assert text == {
        "cpus": 2.0,
        "gpus": 0.0,
        "mem": 2048.0,
        "disk": 10240.0,
        "ports": "[31000-32000]",
    }
    as_json = summary(
        parse_resources(
            '[{"name":"cpus","type":"SCALAR","scalar":{"value":1.5}},'
            '{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":2},'
            '{"begin":3,"end":9},{"begin":20,"end":30}]}},'
            '{"name":"zones","type":"SET","set":{"item":["b","a"]}}]'
        )
    )
    assert as_json == {
        "cpus": 1.5,
        "gpus": 0.0,
        "mem": 0.0,
        "disk": 0.0,
        "ports": "[1-9, 20-30]",
        "zones": "{a, b}",
    }
    assert summary(parse_resources("cpus(*):1;cpus(web):1"))["cpus"] == 2.0


@pytest.mark.parametrize(
    "text", ["cpus:two", "cpus", "cpus:-1", "ports:[1-", "mem:1:2", '[{"name":"cpus"}]']
)
def test_bad_resources_are_refused(text: str) -> None:
    with pytest.raises(ParseError):
        parse_resources(text)


def test_attributes_types() -> None:
    assert parse_attributes("rack:r1;level:10\nports:[1-3]") == {
        "rack": "r1",
        "level": 10.0,
        "ports": "[1-3]",
    }
    for bad in ("rack", "rack:", "zone:{a,b}"):
        with pytest.raises(ParseError):
            parse_attributes(bad)


def _run(role: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, str(BIN / f"mesos-{role}"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    ("role", "args", "message"),
    [
        (
            "master",
            ["--zk=zk://127.0.0.1:2181/mesos", "--work_dir={tmp}"],
            "Need to specify --quorum for replicated log based registry when using ZooKeeper",
        ),
        (
            "master",
            ["--zk=zk://127.0.0.1:2181/mesos", "--quorum=1"],
            "--work_dir needed for replicated log based registry",
        ),
        (
            "master",
            ["--zk=zk://127.0.0.1:2181/", "--quorum=1", "--work_dir={tmp}"],
            "Failed to create a master contender: Expecting a (chroot) path for ZooKeeper "
            "('/' is not supported)",
        ),
        (
            "master",
            ["--registry=in_memory", "--ip=localhost"],
            "Parsing LIBPROCESS_IP=localhost failed",
        ),
        ("master", ["--registry=in_memory", "--ip=::1"], "Parsing LIBPROCESS_IP=::1 failed"),
        (
            "master",
            ["--registry=leveldb"],
            "'leveldb' is not a supported option for registry persistence",
        ),
        ("master", ["--foo=bar"], "Failed to load unknown flag 'foo'"),
        ("master", ["--quorum", "2"], "Failed to load non-boolean flag 'quorum': Missing value"),
        (
            "agent",
            ["--master=127.0.0.1:5050"],
            "Flag 'work_dir' is required, but it was not provided",
        ),
        ("agent", ["--work_dir={tmp}"], "Missing required option `--master`"),
        (
            "agent",
            ["--master=zk://127.0.0.1:2181", "--work_dir={tmp}"],
            "Failed to create a master detector: Expecting a (chroot) path",
        ),
        (
            "agent",
            ["--master=127.0.0.1:5050", "--work_dir={tmp}", "--resources=cpus:two"],
            "Failed to determine agent resources: Bad type for resource cpus",
        ),
        (
            "agent",
            ["--master=127.0.0.1:5050", "--work_dir={tmp}", "--attributes=rack"],
            "Invalid attribute key:value pair 'rack'",
        ),
        (
            "agent",
            ["--master=127.0.0.1:5050", "--work_dir={tmp}", "--reconfiguration_policy=any"],
            "Unknown option for 'reconfiguration_policy'",
        ),
    ],
)
def test_refuses_to_start(role: str, args: list[str], message: str, tmp_path: Path) -> None:
    result = _run(role, *(arg.replace("{tmp}", str(tmp_path / "work")) for arg in args))
    assert result.returncode == 1, result.stderr
    assert message in result.stderr


def test_help_and_version() -> None:
    help_ = _run("master", "--help")
    assert help_.returncode == 0
    assert help_.stdout.startswith("Usage: mesos-master [options]")
    assert "--zk=VALUE" in help_.stdout and "--[no-]hostname_lookup" in help_.stdout
    version = _run("agent", "--version")
    assert version.returncode == 0
    assert "dcos-provision Mesos test stand-in" in version.stdout
    assert version.stdout.startswith("mesos 1.11.0 ")
