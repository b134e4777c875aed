"""run_doctor against in-process SSH servers: login, host keys, verdicts, unreachable hosts."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from pydantic import SecretStr

from provisioner.doctor import DoctorReport, fingerprint, run_doctor
from provisioner.doctor.checks import CHECKS
from provisioner.domain import Machine
from provisioner.spec import ClusterSpec

from .fake_ssh_server import FakeHost, FakeSSHServer, Reply

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
DF = (
    "Filesystem     1024-blocks    Used Available Capacity Mounted on\n"
    "/dev/sda1         41152736 8000000  31000000      21% /\n"
)
SS_FREE = 'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=310,fd=3))\n@@cmdlines@@\n'
SS_NC_ON_5050 = (
    'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=310,fd=3))\n'
    'LISTEN 0 1   0.0.0.0:5050 0.0.0.0:* users:(("nc",pid=812,fd=3))\n'
    "@@cmdlines@@\n310 sshd: /usr/sbin/sshd -D\n812 nc -l -p 5050\n"
)
NOW = 1_700_000_000.0


def healthy_replies(ss: str = SS_FREE) -> dict[str, Reply]:
    return {
        "sudo -n true": Reply(0),
        "sys.version_info": Reply(0, "3.11.2\n"),
        "os-release": Reply(0, OS_RELEASE),
        "ss -ltn": Reply(0, ss),
        "date +%s": Reply(0, f"{NOW + 0.25:.9f}\n"),
        "df -Pk": Reply(0, DF),
    }


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real ~/.ssh/known_hosts or agent leaks into the tests."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


@pytest.fixture
def client_key(tmp_path: Path) -> tuple[paramiko.PKey, Path]:
    key = paramiko.ECDSAKey.generate()
    path = tmp_path / "id_ecdsa"
    key.write_private_key_file(str(path))
    return key, path


@pytest.fixture
def servers() -> Iterator[list[FakeSSHServer]]:
    started: list[FakeSSHServer] = []
    yield started
    for server in started:
        server.close()


def start(servers: list[FakeSSHServer], host: FakeHost) -> FakeSSHServer:
    server = FakeSSHServer(host, paramiko.ECDSAKey.generate())
    servers.append(server)
    return server


def machine_for(
    server: FakeSSHServer,
    key: Path | None,
    name: str = "node-1",
    roles: tuple[str, ...] = ("master", "zookeeper"),
    strict: bool = True,
) -> Machine:
    return Machine(
        name=name,
        roles=roles,
        address="127.0.0.1",
        ssh_user="ops",
        ssh_port=server.port,
        ssh_private_key=str(key) if key else None,
        strict_host_keys=strict,
    )


def known_hosts_line(server: FakeSSHServer, key: paramiko.PKey | None = None) -> str:
    key = key or server.host_key
    return f"[127.0.0.1]:{server.port} {key.get_name()} {key.get_base64()}\n"


def spec(password: str | None = None) -> ClusterSpec:
    data: dict = {"name": "doc"}
    if password:
        data["ssh"] = {"user": "ops", "password": password}
    return ClusterSpec.model_validate(data)


def doctor(machines: list[Machine], **kwargs) -> DoctorReport:
    kwargs.setdefault("clock", lambda: NOW)
    return run_doctor(kwargs.pop("spec", spec()), machines, **kwargs)


def test_healthy_host_passes_every_check(servers, client_key, tmp_path: Path) -> None:
    key, key_path = client_key
    server = start(servers, FakeHost(authorized_key=key, replies=healthy_replies()))
    known = tmp_path / "known_hosts"
    known.write_text(known_hosts_line(server))

    report = doctor([machine_for(server, key_path)], known_hosts=known)

    assert [c.check for c in report.checks] == list(CHECKS)
    assert report.ok, report.failures
    details = {c.check: c.detail for c in report.checks}
    assert details["ssh_login"] == f"logged in as ops@127.0.0.1:{server.port}"
    assert details["python3"] == "python3 3.11.2"
    assert details["os_family"] == "Debian GNU/Linux 12 (bookworm) (Debian family)"
    assert details["ports_free"] == "2181, 2888, 3888, 5050 free"
    assert details["clock_skew"] == "clock is 0.25 s ahead of this machine"
    assert details["disk_space"].startswith("29.6 GiB free on /var/lib")
    assert report.to_dict()["ok"] is True
    assert report.failed_hosts == []


def test_unknown_host_key_is_refused_and_later_checks_skipped(
    servers, client_key, tmp_path: Path
) -> None:
    key, key_path = client_key
    server = start(servers, FakeHost(authorized_key=key, replies=healthy_replies()))
    report = doctor([machine_for(server, key_path)], known_hosts=tmp_path / "known_hosts")

    login = report.check("node-1", "ssh_login")
    assert not login.ok
    assert "host key of node-1" in login.detail and "is not known" in login.detail
    assert fingerprint(server.host_key) in login.detail
    assert "ssh-keygen -lf /etc/ssh/ssh_host_ecdsa_key.pub" in login.detail
    assert "--accept-new-host-keys" in login.detail
    assert all(c.skipped and not c.ok for c in report.checks if c.check != "ssh_login")
    assert report.failed_hosts == ["node-1"]
    assert [c.check for c in report.failures] == ["ssh_login"]
    assert server.host.commands == []  # nothing ran on a host we do not trust
    assert not (tmp_path / "known_hosts").exists()


def test_accept_new_records_the_key_then_plain_runs_pass(
    servers, client_key, tmp_path: Path
) -> None:
    key, key_path = client_key
    server = start(servers, FakeHost(authorized_key=key, replies=healthy_replies()))
    known = tmp_path / "state" / "known_hosts"
    machine = machine_for(server, key_path)

    first = doctor([machine], known_hosts=known, accept_new_host_keys=True)
    assert first.ok, first.failures
    assert known.read_text() == known_hosts_line(server)
    assert first.recorded_host_keys == (f"[127.0.0.1]:{server.port}",)
    assert "new host key recorded" in first.check("node-1", "ssh_login").detail

    second = doctor([machine], known_hosts=known)
    assert second.ok
    assert second.recorded_host_keys == ()


def test_changed_host_key_is_refused_even_with_accept_new(
    servers, client_key, tmp_path: Path
) -> None:
    key, key_path = client_key
    server = start(servers, FakeHost(authorized_key=key, replies=healthy_replies()))
    known = tmp_path / "known_hosts"
    old_key = paramiko.ECDSAKey.generate()
    known.write_text(known_hosts_line(server, old_key))

    report = doctor([machine_for(server, key_path)], known_hosts=known, accept_new_host_keys=True)
    detail = report.check("node-1", "ssh_login").detail
    assert "CHANGED" in detail
    assert fingerprint(old_key) in detail and fingerprint(server.host_key) in detail
    assert known.read_text() == known_hosts_line(server, old_key)


def test_user_known_hosts_is_read_too(servers, client_key, isolated_home: Path) -> None:
    key, key_path = client_key
    server = start(servers, FakeHost(authorized_key=key, replies=healthy_replies()))
    (isolated_home / ".ssh").mkdir()
    (isolated_home / ".ssh" / "known_hosts").write_text(known_hosts_line(server))
    assert doctor([machine_for(server, key_path)]).ok


def test_non_strict_machines_skip_host_key_checking(servers, client_key, tmp_path: Path) -> None:
    key, key_path = client_key
    server = start(servers, FakeHost(authorized_key=key, replies=healthy_replies()))
    known = tmp_path / "known_hosts"
    report = doctor(
        [machine_for(server, key_path, strict=False)], known_hosts=known, accept_new_host_keys=True
    )
    assert report.ok
    assert not known.exists()  # throw-away keys are not recorded


def test_wrong_key_fails_login_naming_user_and_key_path(servers, client_key, tmp_path) -> None:
    key, key_path = client_key
    other = paramiko.ECDSAKey.generate()
    server = start(servers, FakeHost(authorized_key=other, replies=healthy_replies()))
    report = doctor([machine_for(server, key_path, strict=False)])
    detail = report.check("node-1", "ssh_login").detail
    assert detail == f"authentication as ops@127.0.0.1:{server.port} failed (key {key_path})"
    assert key.get_base64() not in json.dumps(report.to_dict())


def test_password_login_never_leaks_the_password(servers) -> None:
    secret = "s3cr3t-Pa55"
    server = start(servers, FakeHost(password=secret, replies=healthy_replies()))
    report = doctor([machine_for(server, None, strict=False)], spec=spec(password=secret))
    assert report.ok, report.failures

    refused = doctor([machine_for(server, None, strict=False)], password="wrong-" + secret)
    assert "failed (password)" in refused.check("node-1", "ssh_login").detail
    for result in (report, refused):
        assert secret not in json.dumps(result.to_dict())
    assert isinstance(spec(password=secret).ssh.password, SecretStr)


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    machine = Machine(
        name="node-9",
        roles=("agent",),
        address="127.0.0.1",
        ssh_user="ops",
        ssh_private_key=str(tmp_path / "nope"),
    )
    report = doctor([machine])
    assert report.check("node-9", "ssh_login").detail == (
        f"private key file {tmp_path / 'nope'} does not exist"
    )


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_unreachable_host_is_named_and_others_still_checked(
    servers, client_key, tmp_path: Path
) -> None:
    key, key_path = client_key
    server = start(servers, FakeHost(authorized_key=key, replies=healthy_replies()))
    good = machine_for(server, key_path, name="node-ok", strict=False)
    port = closed_port()
    dead = Machine(
        name="node-dead",
        roles=("agent",),
        address="127.0.0.1",
        ssh_user="ops",
        ssh_port=port,
        ssh_private_key=str(key_path),
        strict_host_keys=False,
    )

    report = doctor([good, dead], timeout_s=2)
    assert report.failed_hosts == ["node-dead"]
    assert report.check("node-dead", "ssh_login").detail == (
        f"cannot reach 127.0.0.1:{port}: connection refused"
    )
    assert all(c.ok for c in report.for_host("node-ok"))
    assert [c.host for c in report.checks] == ["node-ok"] * 7 + ["node-dead"] * 7


def test_port_taken_and_failed_commands_fail_only_their_checks(servers, client_key) -> None:
    key, key_path = client_key
    replies = healthy_replies(ss=SS_NC_ON_5050)
    replies["sudo -n true"] = Reply(1, "", "sudo: a password is required\n")
    replies["date +%s"] = Reply(0, f"{NOW - 7.5:.9f}\n")
    server = start(servers, FakeHost(authorized_key=key, replies=replies))

    report = doctor([machine_for(server, key_path, strict=False)])
    failed = {c.check: c.detail for c in report.failures}
    assert set(failed) == {"sudo", "ports_free", "clock_skew"}
    assert failed["sudo"] == (
        "`sudo -n true` failed (sudo: a password is required); give ops NOPASSWD sudo"
    )
    assert failed["ports_free"] == "5050 in use by nc (pid 812)"
    assert failed["clock_skew"].startswith("clock is 7.50 s behind this machine")
    data = report.to_dict()
    assert data["ok"] is False and data["failed_hosts"] == ["node-1"]
    assert {"host", "check", "ok", "detail", "skipped"} == set(data["checks"][0])


def test_empty_machine_list_is_an_empty_report() -> None:
    report = doctor([])
    assert report.checks == () and report.to_dict()["checks"] == []
