"""`up` off a terminal prints phase lines only; `diagnose` on a real 1+1 cluster with the agent's
service stopped writes a bundle with files from every host (service journals, rendered configs,
Mesos versions, endpoint answers), names what it could not collect, and holds no secret: a
marker password in the spec, a Pulumi passphrase in the environment, a 0600 credentials file
with a private key in the state dir and a password line in a host's config all stay out.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import paramiko
import pytest
import yaml

from .cli_helpers import cli, in_container, lab_mesos_kind, write_spec
from .lab import remove_stale_containers, require_lab

CLUSTER = "e2e-diag"
PREFIX = f"{CLUSTER}-"
MASTER, AGENT = f"{CLUSTER}-master-1", f"{CLUSTER}-agent-1"
PASSWORD = "MARKER-diag-pw-4c1e"
PASSPHRASE = "MARKER-diag-passphrase-d93b"
HOST_SECRET = "MARKER-diag-host-secret-77aa"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


def planted_key() -> tuple[str, str]:
    """A private key in PEM form and the base64 body line that would betray it."""
    import io

    buffer = io.StringIO()
    paramiko.ECDSAKey.generate().write_private_key(buffer)
    pem = buffer.getvalue()
    return pem, pem.splitlines()[-2]


def bundle_files(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        top = {m.name.split("/", 1)[0] for m in tar.getmembers()}
        assert top == {f"{CLUSTER}-diagnostics"}, top
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_up_plain_progress_and_diagnose_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_lab()
    remove_stale_containers(PREFIX)
    spec = write_spec(tmp_path, CLUSTER, masters=1, agents=1)
    data = yaml.safe_load(spec.read_text())
    data["ssh"] = {"user": "vagrant", "password": PASSWORD}
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    state_dir = tmp_path / ".dcos-provision" / CLUSTER
    try:
        up = cli("up", str(spec), "--json")
        assert up.returncode == 0, up.stderr[-3000:]
        result = json.loads(up.stdout)
        assert result["healthy"] is True
        # the workload phase runs where the cluster runs real Mesos (the stand-in runs no tasks)
        phases = ["machines", "converge", "health"]
        phases += ["workload"] if lab_mesos_kind() == "real" else []
        assert [p["name"] for p in result["phases"]] == phases
        assert all(p["ok"] and p["seconds"] >= 0 for p in result["phases"])
        assert all(p["seconds"] > 0 for p in result["phases"][:2])  # machines, converge
        saved = json.loads((state_dir / "state.json").read_text())["last_run_phases"]
        assert [p["name"] for p in saved] == phases
        # not a terminal: plain phase and host lines, no task stream, no control codes
        lines = up.stderr.splitlines()
        for phase in phases:
            assert f"{phase}: started: " in up.stderr
            assert any(re.match(rf"{phase}: done in \d+\.\ds ", line) for line in lines)
        assert re.search(rf"^converge: {MASTER} +ok=\d+ changed=\d+ failed=0$", up.stderr, re.M)
        assert re.search(rf"^converge: {AGENT} +ok=\d+ changed=\d+ failed=0$", up.stderr, re.M)
        assert "TASK [" not in up.stderr and "==>" not in up.stderr
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", up.stderr), "control codes in stderr"
        assert len(lines) < 60, len(lines)

        # plant secrets where a careless bundle would pick them up
        pem, pem_body = planted_key()
        credentials = state_dir / "credentials"
        credentials.write_text(f"admin:{PASSWORD}\n{pem}")
        credentials.chmod(0o600)
        planted_line = f"# MESOS_ADMIN_PASSWORD={HOST_SECRET}"
        in_container(AGENT, "sh", "-c", f"echo '{planted_line}' >> /etc/default/mesos-agent")
        monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
        in_container(AGENT, "systemctl", "stop", "mesos-agent")

        bundle = tmp_path / "bundle.tar.gz"
        diagnose = cli("diagnose", str(spec), "--output", str(bundle), "--json", timeout=600)
        assert diagnose.returncode == 0, diagnose.stderr[-3000:]
        summary = json.loads(diagnose.stdout)
        assert summary["bundle"] == str(bundle)
        assert f"bundle written: {bundle}" in diagnose.stderr
        files = bundle_files(bundle)

        # files from every host, service logs included
        for name in (
            "journal/zookeeper.log",
            "journal/mesos-master.log",
            "config/zoo.cfg",
            "config/myid",
            "config/mesos-master.env",
            "config/mesos-master.service",
            "version/mesos-master.txt",
            "system/disk.txt",
            "system/memory.txt",
            "endpoints/master-health.txt",
            "endpoints/master-state.json",
            "endpoints/zookeeper-srvr.txt",
        ):
            assert f"hosts/{MASTER}/{name}" in files, name
        for name in (
            "journal/mesos-agent.log",
            "config/mesos-agent.env",
            "config/mesos-agent.service",
            "version/mesos-agent.txt",
            "system/disk.txt",
        ):
            assert f"hosts/{AGENT}/{name}" in files, name
        assert files[f"hosts/{MASTER}/config/myid"].strip() == b"1"
        assert b"server.1=" in files[f"hosts/{MASTER}/config/zoo.cfg"]
        # the ZooKeeper URL (credentials inside) is a file the env names; that file is not
        # collected
        master_env = files[f"hosts/{MASTER}/config/mesos-master.env"]
        assert re.search(rb"^MESOS_ZK=(zk|file)://", master_env, re.M), master_env
        for host, binary in ((MASTER, "mesos-master"), (AGENT, "mesos-agent")):
            assert files[f"hosts/{host}/version/{binary}.txt"].strip() == b"mesos 1.12.0"
        agent_journal = files[f"hosts/{AGENT}/journal/mesos-agent.log"].decode()
        assert "Stopped" in agent_journal or "Stopping" in agent_journal, agent_journal[-500:]
        assert b"Mem:" in files[f"hosts/{AGENT}/system/memory.txt"]
        master_state = json.loads(files[f"hosts/{MASTER}/endpoints/master-state.json"])
        assert master_state["hostname"] == MASTER

        # what could not be collected is named, with the reason
        agent = summary["hosts"][AGENT]
        assert agent["reachable"] is True
        assert "connection refused" in agent["not_collected"]["endpoints/agent-health.txt"]
        not_collected = files[f"hosts/{AGENT}/NOT-COLLECTED.txt"].decode()
        assert "endpoints/agent-state.json: connection refused" in not_collected
        assert summary["hosts"][MASTER]["not_collected"] == {}
        health = json.loads(files["cluster/health.json"])
        assert health["healthy"] is False
        assert any(c["host"] == AGENT and not c["ok"] for c in health["checks"])
        assert {"cluster/state.json", "cluster/inventory.yml", "cluster/spec.yaml"} <= set(files)
        assert any(name.startswith("cluster/logs/") for name in files)
        assert summary["excluded"]["credentials"] == "named like a secret"

        # no secret anywhere in the bundle
        blob = b"\n".join(files.values())
        vagrant_key = json.loads((state_dir / "state.json").read_text())["machines"][MASTER]
        key_body = Path(vagrant_key["ssh_private_key"]).read_text().splitlines()[-2]
        for secret in (PASSWORD, PASSPHRASE, HOST_SECRET, pem_body, key_body, "PRIVATE KEY"):
            assert secret.encode() not in blob, secret
        assert b"MESOS_ADMIN_PASSWORD=<redacted>" in files[f"hosts/{AGENT}/config/mesos-agent.env"]
    finally:
        cli("down", str(spec), "--yes", timeout=600)
        remove_stale_containers(PREFIX)
