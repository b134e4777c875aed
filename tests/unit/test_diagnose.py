"""`diagnose` against an in-process SSH server and an unreachable host: what goes into the
bundle, what is marked as not collected, and that no planted secret gets in."""

from __future__ import annotations

import json
import os
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from typer.testing import CliRunner

from provisioner.cli import app
from provisioner.cluster import open_cluster
from provisioner.diagnose import collect_bundle
from provisioner.diagnose.host import items_for
from provisioner.redact import excluded_reason, redact_data, redact_text

from .fake_ssh_server import FakeHost, FakeSSHServer, Reply

PASSWORD = "MARKER-pw-7f3a"
PASSPHRASE = "MARKER-passphrase-91c2"
ENV_TOKEN = "MARKER-token-55d0"
PEM = paramiko.ECDSAKey.generate()


def pem_text() -> str:
    import io

    buffer = io.StringIO()
    PEM.write_private_key(buffer)
    return buffer.getvalue()


def test_redact_text_removes_pairs_key_blocks_and_known_values() -> None:
    text = (
        f"MESOS_SECRET={ENV_TOKEN}\n"
        f'{{"ansible_password": "{PASSWORD}", "port": 5050}}\n'
        f"--credential_token={ENV_TOKEN} --port=5050\n"
        f"key:\n{pem_text()}"
        f"the passphrase was {PASSPHRASE} in prose\n"
        "MESOS_ZK=zk://10.0.3.2:2181/mesos\n"
    )
    clean = redact_text(text, known_secrets=(PASSPHRASE,))
    for secret in (PASSWORD, PASSPHRASE, ENV_TOKEN, "PRIVATE KEY"):
        assert secret not in clean
    assert "MESOS_SECRET=<redacted>" in clean
    assert '"ansible_password": "<redacted>", "port": 5050' in clean
    assert "--port=5050" in clean and "MESOS_ZK=zk://10.0.3.2:2181/mesos" in clean


def test_redact_data_keeps_paths_and_drops_secret_values() -> None:
    data = {
        "ssh": {"user": "ops", "password": PASSWORD, "private_key": "keys/id"},
        "hosts": [{"ansible_ssh_private_key_file": "/k", "key": pem_text()}],
        "passphrase_env": "PULUMI_CONFIG_PASSPHRASE",
        "credentials": None,
    }
    assert redact_data(data) == {
        "ssh": {"user": "ops", "password": "<redacted>", "private_key": "keys/id"},
        "hosts": [{"ansible_ssh_private_key_file": "/k", "key": "<redacted private key>"}],
        "passphrase_env": "<redacted>",
        "credentials": None,
    }


def test_owner_only_and_secret_named_files_are_excluded(tmp_path: Path) -> None:
    plain, private, named = tmp_path / "run.log", tmp_path / "creds", tmp_path / "my-secret.txt"
    for path, mode in ((plain, 0o644), (private, 0o600), (named, 0o644)):
        path.write_text("x")
        path.chmod(mode)
    assert excluded_reason(plain) is None
    assert excluded_reason(private) == "readable by its owner only (mode 0600)"
    assert excluded_reason(named) == "named like a secret"


def test_items_follow_the_roles() -> None:
    master = {i.path for i in items_for(["master", "zookeeper"])}
    agent = {i.path for i in items_for(["agent"])}
    assert {"journal/zookeeper.log", "config/zoo.cfg", "config/myid"} <= master
    assert {"journal/mesos-master.log", "version/mesos-master.txt"} <= master
    assert "endpoints/master-health.txt" in master and "journal/mesos-agent.log" not in master
    assert {"journal/mesos-agent.log", "config/mesos-agent.env", "version/mesos-agent.txt"} <= agent
    assert "config/zoo.cfg" not in agent and "system/disk.txt" in agent


# --------------------------------------------------------------------------- a whole bundle


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeSSHServer]:
    key = paramiko.ECDSAKey.generate()
    key.write_private_key_file(str(tmp_path / "id_ecdsa"))
    replies = {
        # no passwordless sudo for this one command: it runs as the login user instead
        "sudo -n LC_ALL=C sh -c 'free -m'": Reply(1, "", "sudo: a password is required\n"),
        "journalctl -u zookeeper": Reply(0, f"zookeeper started\nauth password={PASSWORD}\n"),
        "journalctl -u mesos-master": Reply(0, "I1126 mesos-master elected leader\n"),
        "zoo.cfg": Reply(0, "tickTime=2000\nserver.1=127.0.0.1:2888:3888\n"),
        "myid": Reply(0, "1\n"),
        "zookeeper/conf/environment": Reply(1, "", "no such file: /etc/zookeeper/conf/environment"),
        "/etc/default/mesos-master": Reply(0, f"MESOS_QUORUM=1\nMESOS_SECRET_TOKEN={ENV_TOKEN}\n"),
        "mesos-master.service": Reply(0, "[Service]\nExecStart=/opt/mesos/sbin/mesos-master\n"),
        "--version": Reply(0, "mesos 1.12.0\n"),
        "df -h": Reply(
            0, "Filesystem Size Used Avail Use% Mounted on\n/dev/sda1 40G 8G 32G 20% /\n"
        ),
        "free -m": Reply(0, "Mem: 1024 512 512\n"),
        "uname -a": Reply(0, "Linux m1 6.1.0 x86_64\n"),
        "systemctl --failed": Reply(0, "0 loaded units listed.\n"),
    }
    host = FakeHost(user="ops", authorized_key=key, replies=replies)
    started = FakeSSHServer(host, paramiko.ECDSAKey.generate())
    yield started
    started.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        return probe.getsockname()[1]


def write_cluster(tmp_path: Path, server: FakeSSHServer) -> tuple[Path, Path]:
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        f"name: lab\nssh: {{user: ops, password: {PASSWORD}, private_key: id_ecdsa}}\n"
        "provider:\n  kind: static\n  hosts:\n"
        f"    - {{name: m1, address: 127.0.0.1, ssh_port: {server.port}, "
        "roles: [master, zookeeper]}\n"
        f"    - {{name: a1, address: 127.0.0.2, ssh_port: {closed_port()}, roles: [agent]}}\n"
    )
    state = tmp_path / ".dcos-provision" / "lab"
    (state / "logs").mkdir(parents=True)
    key = server.host_key
    (state / "known_hosts").write_text(
        f"[127.0.0.1]:{server.port} {key.get_name()} {key.get_base64()}\n"
    )
    (state / "state.json").write_text(
        json.dumps(
            {
                "version": 1,
                "cluster": "lab",
                "provider": "static",
                "machines": {},
                "history": [],
                "credentials": {"admin": PASSWORD},
            }
        )
    )
    (state / "inventory.yml").write_text(f"all:\n  vars:\n    ansible_password: {PASSWORD}\n")
    (state / "credentials").write_text(f"admin {PASSWORD}\n{pem_text()}")
    (state / "credentials").chmod(0o600)
    (state / "security.json").write_text(json.dumps({"token": ENV_TOKEN}))
    (state / "security.json").chmod(0o600)
    (state / "logs" / "20261126T100000.000000Z-site.log").write_text(
        f"TASK [x]\nok: [m1]\npassphrase {PASSPHRASE} echoed by a careless task\n"
    )
    (state / "logs" / "cluster-secret.log").write_text(f"{PASSWORD}\n")
    return spec, state


def read_bundle(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


@pytest.mark.timeout(120)
def test_bundle_holds_every_host_marks_what_is_missing_and_no_secret(
    tmp_path: Path, server: FakeSSHServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no real ~/.ssh/known_hosts
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    spec, _state = write_cluster(tmp_path, server)
    cluster = open_cluster(spec)
    result = collect_bundle(cluster, spec_file=spec, output=tmp_path / "out" / "b.tar.gz")

    assert result.bundle == tmp_path / "out" / "b.tar.gz"
    assert os.stat(result.bundle).st_mode & 0o777 == 0o600
    files = read_bundle(result.bundle)
    for name in (
        "hosts/m1/journal/zookeeper.log",
        "hosts/m1/journal/mesos-master.log",
        "hosts/m1/config/zoo.cfg",
        "hosts/m1/config/myid",
        "hosts/m1/config/mesos-master.env",
        "hosts/m1/version/mesos-master.txt",
        "hosts/m1/system/disk.txt",
        "hosts/a1/NOT-COLLECTED.txt",
        "cluster/health.json",
        "cluster/state.json",
        "cluster/inventory.yml",
        "cluster/spec.yaml",
        "cluster/state-dir.txt",
        "cluster/logs/20261126T100000.000000Z-site.log",
        "MANIFEST.json",
    ):
        assert name in files, (name, sorted(files))
    assert files["hosts/m1/version/mesos-master.txt"] == b"mesos 1.12.0\n"
    assert files["hosts/m1/system/memory.txt"] == b"Mem: 1024 512 512\n"  # sudo refused it
    assert any(c.startswith("LC_ALL=C sh -c 'free -m'") for c in server.host.commands)
    assert b"MESOS_QUORUM=1" in files["hosts/m1/config/mesos-master.env"]
    # one failing item does not stop the host; each one is named with its reason
    m1_missing = files["hosts/m1/NOT-COLLECTED.txt"].decode()
    assert "config/zookeeper-environment: exit 1: no such file" in m1_missing
    assert "endpoints/master-health.txt: connection refused" in m1_missing
    assert "hosts/a1/journal/mesos-agent.log" not in files
    a1_missing = files["hosts/a1/NOT-COLLECTED.txt"].decode()
    assert a1_missing.startswith("host unreachable: ssh ops@127.0.0.2")
    assert "journal/mesos-agent.log: not collected: ssh ops@127.0.0.2" in a1_missing
    manifest = json.loads(files["MANIFEST.json"])
    assert manifest["hosts"]["a1"]["reachable"] is False
    assert manifest["hosts"]["m1"]["reachable"] is True
    assert manifest["excluded"] == {
        "credentials": "named like a secret",
        "logs/cluster-secret.log": "named like a secret",
        "security.json": "readable by its owner only (mode 0600)",
    }
    assert json.loads(files["cluster/health.json"])["healthy"] is False
    # no secret anywhere: password, passphrase, env token, private keys, the credentials file
    blob = b"\n".join(files.values())
    for secret in (PASSWORD, PASSPHRASE, ENV_TOKEN, "PRIVATE KEY", "BEGIN EC"):
        assert secret.encode() not in blob, secret
    listing = files["cluster/state-dir.txt"].decode()
    assert "security.json  [excluded: readable by its owner only (mode 0600)]" in listing


def test_cli_diagnose_prints_the_bundle_and_json(
    tmp_path: Path, server: FakeSSHServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    spec, _state = write_cluster(tmp_path, server)
    bundle = tmp_path / "diag.tar.gz"
    result = CliRunner().invoke(app, ["diagnose", str(spec), "--output", str(bundle), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["bundle"] == str(bundle) and bundle.is_file()
    assert data["hosts"]["a1"]["reachable"] is False
    assert f"bundle written: {bundle}" in result.stderr
    assert "a1: unreachable" in result.stderr
