"""The doctor's verdict rules over recorded command output (no SSH)."""

from __future__ import annotations

import pytest

from provisioner.doctor.checks import (
    CLOCK_COMMAND,
    GIB,
    MIN_FREE_BYTES_AGENT,
    MIN_FREE_BYTES_OTHER,
    CommandResult,
    clock_skew_verdict,
    disk_verdict,
    os_family_verdict,
    parse_listeners,
    ports_for_roles,
    ports_verdict,
    python_verdict,
    run_checks,
)

# `sudo ss -ltnpH` on a master+zookeeper host where our ZooKeeper and Mesos already run.
SS_OURS = """\
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=301,fd=3))
LISTEN 0      50                 *:2181             *:*    users:(("java",pid=1200,fd=47))
LISTEN 0      50   [::ffff:10.0.3.5]:2888             *:*    users:(("java",pid=1200,fd=60))
LISTEN 0      50     [::ffff:10.0.3.5]:3888           *:*    users:(("java",pid=1200,fd=52))
LISTEN 0      128       10.0.3.5:5050         0.0.0.0:*    users:(("python3",pid=1500,fd=5))
@@cmdlines@@
301 sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups
1200 java -cp /etc/zookeeper/conf org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg
1500 /usr/bin/python3 /opt/mesos/bin/mesos-master --work_dir=/var/lib/mesos
"""

# Plain `ss -ltnH` (no sudo): no process information.
SS_NO_PROCESS = """\
LISTEN 0      4096         0.0.0.0:22         0.0.0.0:*
LISTEN 0      4096            [::]:5051            [::]:*
@@cmdlines@@
"""

SS_STRANGERS = """\
LISTEN 0 50 *:2181 *:* users:(("java",pid=77,fd=4))
LISTEN 0 1 0.0.0.0:5050 0.0.0.0:* users:(("nc",pid=812,fd=3))
@@cmdlines@@
77 java -jar /opt/kafka/libs/kafka-server.jar
812 nc -l -p 5050
"""


def ok(stdout: str) -> CommandResult:
    return CommandResult(0, stdout, "")


def test_parse_listeners_handles_ipv4_ipv6_and_wildcards() -> None:
    listeners = parse_listeners(SS_OURS.partition("@@cmdlines@@")[0])
    assert [(x.port, x.process, x.pid) for x in listeners] == [
        (22, "sshd", 301),
        (2181, "java", 1200),
        (2888, "java", 1200),
        (3888, "java", 1200),
        (5050, "python3", 1500),
    ]
    assert [x.port for x in parse_listeners(SS_NO_PROCESS)] == [22, 5051]


def test_ports_held_by_our_services_are_ok() -> None:
    verdict = ports_verdict(ok(SS_OURS), ("master", "zookeeper"))
    assert verdict.ok
    assert verdict.detail == (
        "2181 in use by zookeeper (ours); 2888 in use by zookeeper (ours); "
        "3888 in use by zookeeper (ours); 5050 in use by mesos-master (ours)"
    )


def test_ports_held_by_strangers_are_named() -> None:
    verdict = ports_verdict(ok(SS_STRANGERS), ("master", "zookeeper", "agent"))
    assert not verdict.ok
    assert verdict.detail == "2181 in use by java (pid 77); 5050 in use by nc (pid 812)"


def test_ports_only_for_the_hosts_roles() -> None:
    assert ports_for_roles(("agent",)) == (5051,)
    assert ports_for_roles(("zookeeper", "master")) == (2181, 2888, 3888, 5050)
    # A stranger on 5050 does not matter on an agent-only host ...
    assert ports_verdict(ok(SS_STRANGERS), ("agent",)).detail == "5051 free"
    # ... and without process information a listener is reported as unknown.
    verdict = ports_verdict(ok(SS_NO_PROCESS), ("agent",))
    assert (verdict.ok, verdict.detail) == (False, "5051 in use by an unknown process")


def test_a_mesos_agent_on_the_master_port_is_not_ours() -> None:
    ss = (
        'LISTEN 0 128 0.0.0.0:5050 0.0.0.0:* users:(("mesos-agent",pid=9,fd=3))\n'
        "@@cmdlines@@\n9 /usr/sbin/mesos-agent --port=5050\n"
    )
    assert not ports_verdict(ok(ss), ("master",)).ok


def test_ports_command_failure() -> None:
    verdict = ports_verdict(CommandResult(127, "", "sh: ss: not found\n"), ("agent",))
    assert (verdict.ok, verdict.detail) == (False, "cannot list listening ports: sh: ss: not found")


@pytest.mark.parametrize(
    ("remote", "expected_ok", "detail"),
    [
        ("1000.400000000", True, "clock is 0.40 s ahead of this machine"),
        ("998.100000000", True, "clock is 1.90 s behind this machine"),
        (
            "1002.500000000",
            False,
            "clock is 2.50 s ahead of this machine (more than 2 s; enable NTP/chrony)",
        ),
        ("996", False, "clock is 4.00 s behind this machine (more than 2 s; enable NTP/chrony)"),
    ],
)
def test_clock_skew_uses_the_round_trip_midpoint(
    remote: str, expected_ok: bool, detail: str
) -> None:
    verdict = clock_skew_verdict(ok(remote + "\n"), sent=999.5, received=1000.5)
    assert (verdict.ok, verdict.detail) == (expected_ok, detail)


def test_clock_skew_unreadable() -> None:
    assert not clock_skew_verdict(CommandResult(1, "", "date: bad"), 0.0, 0.0).ok


def df(available_kb: int) -> CommandResult:
    return ok(
        "Filesystem     1024-blocks    Used Available Capacity Mounted on\n"
        f"/dev/vda1      100000000 1 {available_kb} 50% /var\n"
    )


def test_disk_thresholds_depend_on_the_agent_role() -> None:
    three_gib = 3 * GIB // 1024
    assert MIN_FREE_BYTES_OTHER < 3 * GIB < MIN_FREE_BYTES_AGENT
    master = disk_verdict(df(three_gib), ("master", "zookeeper"))
    assert (master.ok, master.detail) == (True, "3.0 GiB free on /var/lib (mounted at /var)")
    agent = disk_verdict(df(three_gib), ("agent",))
    assert not agent.ok
    assert agent.detail.endswith("an agent needs at least 5 GiB")
    assert not disk_verdict(df(GIB // 1024), ("master",)).ok
    assert not disk_verdict(CommandResult(1, "", "df: no such file"), ("agent",)).ok


@pytest.mark.parametrize(
    ("os_release", "expected_ok", "detail"),
    [
        (
            'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
            True,
            "Debian GNU/Linux 12 (bookworm) (Debian family)",
        ),
        (
            'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"',
            True,
            "Ubuntu 22.04.4 LTS (Debian family)",
        ),
        (
            'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky 9.3"',
            True,
            "Rocky 9.3 (RedHat family)",
        ),
        (
            'ID=debian\nVERSION_ID="10"\nPRETTY_NAME="Debian GNU/Linux 10 (buster)"',
            False,
            "Debian GNU/Linux 10 (buster) is too old (debian 11+ is supported)",
        ),
        (
            'ID=linuxmint\nID_LIKE="ubuntu debian"\nPRETTY_NAME="Linux Mint 21"',
            True,
            "Linux Mint 21 (Debian family by ID_LIKE; not tested)",
        ),
        (
            'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"',
            False,
            "Fedora Linux 40 is not supported (supported: almalinux, centos, debian, ol, rhel, "
            "rocky, ubuntu)",
        ),
    ],
)
def test_os_family(os_release: str, expected_ok: bool, detail: str) -> None:
    verdict = os_family_verdict(ok(os_release))
    assert (verdict.ok, verdict.detail) == (expected_ok, detail)


def test_python_versions() -> None:
    assert python_verdict(ok("3.11.2\n")).detail == "python3 3.11.2"
    too_old = python_verdict(ok("3.6.8\n"))
    assert (too_old.ok, too_old.detail) == (False, "python3 3.6.8 is too old (Ansible needs 3.8+)")
    missing = python_verdict(CommandResult(127, "", "sh: python3: not found"))
    assert (missing.ok, missing.detail) == (
        False,
        "python3 not found (Ansible needs it on every host)",
    )


def test_run_checks_isolates_a_failing_command() -> None:
    def run(command: str) -> CommandResult:
        if command == CLOCK_COMMAND:
            raise TimeoutError("timed out")
        if command == "sudo -n true":
            return ok("")
        if "sys.version_info" in command:
            return ok("3.11.2\n")
        if "os-release" in command:
            return ok('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian 12"')
        if "ss -ltn" in command:
            return ok("@@cmdlines@@\n")
        return df(50 * GIB // 1024)

    ticks = iter([10.0, 10.2])
    verdicts = dict(run_checks(run, ("agent",), "ops", lambda: next(ticks)))
    assert list(verdicts) == [
        "sudo",
        "python3",
        "os_family",
        "ports_free",
        "clock_skew",
        "disk_space",
    ]
    assert verdicts["clock_skew"].detail == "could not run: TimeoutError: timed out"
    assert [name for name, v in verdicts.items() if not v.ok] == ["clock_skew"]
