"""Backup, restore and recovery of a control plane that is gone, on real Mesos (issue 24).

One cluster (1 master with ZooKeeper + 1 agent). A framework znode tree with data and ACLs,
a maintenance window, a quota and a role weight are set; `upgrade` takes its automatic
backup; every master container is destroyed with its ZooKeeper data; `up` recreates it and
`restore` of the pre-upgrade backup brings the znodes, window, quota and weight back; the
workload passes. A damaged archive and a wrong passphrase are refused with nothing changed.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cli_helpers import (
    basic_auth,
    cli,
    cli_json,
    mesos_connection,
    relabelled_mesos,
    secrets_of,
    write_spec,
)
from .lab import containers, remove_stale_containers, require_lab

pytestmark = pytest.mark.e2e

CLUSTER = "e2e-bk24"
PREFIX = f"{CLUSTER}-"
MASTER, AGENT = f"{CLUSTER}-master-1", f"{CLUSTER}-agent-1"
# The same build under another label: the health check compares the part before "-" with
# what /version reports (the resize test does the same).
UPGRADE_VERSION = "1.12.0-relabel"
PASSPHRASE = "e2e backup passphrase"
FRAMEWORK_ROOT = "/e2e-framework"
ROLE = "analytics"


def state_of(spec: Path) -> dict[str, Any]:
    return json.loads((spec.parent / ".dcos-provision" / CLUSTER / "state.json").read_text())


def address(spec: Path, name: str) -> str:
    return state_of(spec)["machines"][name]["address"]


def operator_call(spec: Path, body: dict[str, Any]) -> dict[str, Any]:
    connection = mesos_connection(address(spec, MASTER), 5050, timeout=15)
    try:
        connection.request(
            "POST",
            "/api/v1",
            body=json.dumps(body),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": basic_auth(secrets_of(spec)["operator"]),
            },
        )
        answer = connection.getresponse()
        data = answer.read()
    finally:
        connection.close()
    assert answer.status in (200, 202), (body["type"], answer.status, data[:300])
    return json.loads(data) if data.strip() else {}


def zk_client(spec: Path, identity: str = "operator") -> Any:
    """A ZooKeeper session authenticated as one of the cluster's digest identities: the
    operator (what frameworks use) or `zookeeper` (the masters', which alone may create
    znodes at the root)."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=f"{address(spec, MASTER)}:2181", timeout=10)
    client.start(timeout=20)
    credential = secrets_of(spec)[identity]
    client.add_auth("digest", f"{credential['principal']}:{credential['secret']}")
    return client


def framework_tree(spec: Path) -> dict[str, tuple[bytes, list[tuple[str, str, int]]]]:
    """{path: (data, sorted ACL)} of every znode under FRAMEWORK_ROOT."""
    client = zk_client(spec)
    found: dict[str, tuple[bytes, list[tuple[str, str, int]]]] = {}
    try:

        def visit(path: str) -> None:
            if not client.exists(path):
                return
            data, _ = client.get(path)
            acls, _ = client.get_acls(path)
            found[path] = (data, sorted((a.id.scheme, a.id.id, a.perms) for a in acls))
            for child in sorted(client.get_children(path)):
                visit(f"{path}/{child}")

        visit(FRAMEWORK_ROOT)
    finally:
        client.stop()
        client.close()
    return found


def set_framework_state(spec: Path) -> None:
    from kazoo.security import READ_ACL_UNSAFE, make_digest_acl

    operator = secrets_of(spec)["operator"]
    own = make_digest_acl(operator["principal"], operator["secret"], all=True)
    # The root is writable only by the masters' identity (strict security I): the operator
    # makes the framework's top znode with it, owned by the framework's identity.
    admin = zk_client(spec, "zookeeper")
    try:
        admin.create(FRAMEWORK_ROOT, b'{"framework": "e2e"}', acl=[own, *READ_ACL_UNSAFE])
    finally:
        admin.stop()
        admin.close()
    client = zk_client(spec)
    try:
        client.create(f"{FRAMEWORK_ROOT}/state", b"\x00\x01 task state", acl=[own])
        client.create(f"{FRAMEWORK_ROOT}/state/task-1", b"RUNNING", acl=[own, *READ_ACL_UNSAFE])
    finally:
        client.stop()
        client.close()
    agent_ip = address(spec, AGENT)
    start_ns = (int(time.time()) + 86400) * 1_000_000_000
    window = {
        "machine_ids": [{"hostname": AGENT, "ip": agent_ip}],
        "unavailability": {
            "start": {"nanoseconds": start_ns},
            "duration": {"nanoseconds": 3600 * 1_000_000_000},
        },
    }
    operator_call(
        spec,
        {
            "type": "UPDATE_MAINTENANCE_SCHEDULE",
            "update_maintenance_schedule": {"schedule": {"windows": [window]}},
        },
    )
    limits = {"cpus": {"value": 0.5}, "mem": {"value": 128}}
    operator_call(
        spec,
        {
            "type": "UPDATE_QUOTA",
            "update_quota": {"force": True, "quota_configs": [{"role": ROLE, "limits": limits}]},
        },
    )
    operator_call(
        spec,
        {
            "type": "UPDATE_WEIGHTS",
            "update_weights": {"weight_infos": [{"role": ROLE, "weight": 2.5}]},
        },
    )


def operator_state(spec: Path) -> dict[str, Any]:
    """Empty parts are left out of Mesos' JSON answers (proto3-style), hence the defaults."""
    schedule = operator_call(spec, {"type": "GET_MAINTENANCE_SCHEDULE"})
    quota = operator_call(spec, {"type": "GET_QUOTA"})
    weights = operator_call(spec, {"type": "GET_WEIGHTS"})
    return {
        "schedule": schedule.get("get_maintenance_schedule", {}).get("schedule", {}),
        "quota": quota.get("get_quota", {}).get("status", {}).get("configs", []),
        "weights": weights.get("get_weights", {}).get("weight_infos", []),
    }


def agent_ids(spec: Path) -> list[str]:
    agents = operator_call(spec, {"type": "GET_AGENTS"}).get("get_agents", {})
    return [a["agent_info"]["id"]["value"] for a in agents.get("agents", [])]


def set_mesos(spec: Path, version: str, tarball: Path) -> None:
    data = yaml.safe_load(spec.read_text())
    data["mesos"]["version"] = version
    data["mesos"]["install"]["path"] = str(tarball)
    spec.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_cluster_that_lost_every_master_comes_back_with_its_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_lab()
    remove_stale_containers(PREFIX)
    spec = write_spec(tmp_path, CLUSTER, masters=1, agents=1)
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    passphrase_file.chmod(0o600)
    try:
        assert cli_json("up", str(spec))["healthy"] is True
        set_framework_state(spec)
        tree, mesos_state = framework_tree(spec), operator_state(spec)
        assert len(tree) == 3 and mesos_state["quota"] and mesos_state["weights"]
        assert mesos_state["schedule"]["windows"]

        # A backup by hand: --json says what it holds; the secrets are sealed, not in clear.
        manual = tmp_path / "manual.tar.gz"
        made = cli_json("backup", str(spec), "-o", str(manual),
                        "--passphrase-file", str(passphrase_file))  # fmt: skip
        contents = made["manifest"]["contents"]
        assert contents["znodes"] >= 3 and contents["znodes_unreadable"] == []
        assert contents["maintenance_windows"] == 1
        assert contents["quota_roles"] == [ROLE] and contents["weights_roles"] == [ROLE]
        assert contents["secrets"].startswith("sealed")
        secret = secrets_of(spec)["operator"]["secret"]
        listing = subprocess.run(["tar", "-xzOf", str(manual)], capture_output=True, check=True)
        assert secret.encode() not in listing.stdout

        # A flipped byte, and a wrong passphrase: refused by name, one message, no change.
        flipped = tmp_path / "flipped.tar.gz"
        data = bytearray(manual.read_bytes())
        data[len(data) // 3] ^= 0x10
        flipped.write_bytes(bytes(data))
        wrong = tmp_path / "wrong-passphrase"
        wrong.write_text("not the passphrase\n")
        for archive, passphrase, why in (
            (flipped, passphrase_file, "not a usable backup"),
            (manual, wrong, "wrong passphrase"),
        ):
            refused = cli("restore", str(spec), str(archive), "--passphrase-file", str(passphrase))
            assert refused.returncode == 2, refused.stderr
            assert [line for line in refused.stderr.splitlines() if line.startswith("error:")]
            assert why in refused.stderr and str(archive) in refused.stderr.replace("\n", "")
            assert "Traceback" not in refused.stderr
        assert framework_tree(spec) == tree and operator_state(spec) == mesos_state

        # `upgrade` backs up first (into the state directory), the passphrase from the env.
        monkeypatch.setenv("DCOS_PROVISION_BACKUP_PASSPHRASE", PASSPHRASE)
        set_mesos(spec, UPGRADE_VERSION, relabelled_mesos(tmp_path, UPGRADE_VERSION))
        upgraded = cli("upgrade", str(spec))
        assert upgraded.returncode == 0, upgraded.stderr[-3000:]
        assert f"backing up {CLUSTER} before upgrade" in upgraded.stderr
        backups = sorted((spec.parent / ".dcos-provision" / CLUSTER / "backups").iterdir())
        assert [p.name.startswith(f"{CLUSTER}-pre-upgrade-") for p in backups] == [True]
        pre_upgrade = backups[0]

        # Every master container is destroyed, and its ZooKeeper data with it.
        agents_before = agent_ids(spec)
        assert len(agents_before) == 1
        subprocess.run(["lxc-destroy", "-f", "-n", MASTER], check=True, capture_output=True)
        assert MASTER not in containers()
        rebuilt = cli_json("up", str(spec))
        assert rebuilt["healthy"] is True, rebuilt
        assert MASTER in containers()
        history = [h["operation"] for h in state_of(spec)["history"]]
        assert "vanished" in history
        assert framework_tree(spec) == {}  # a new ZooKeeper: the framework's znodes are gone
        # The new master's registry is empty, yet it admits the re-registering agent under its
        # old ID (Mesos: master.cpp, "we admit the slave anyway"), so its tasks keep running.
        assert agent_ids(spec) == agents_before
        empty = operator_state(spec)
        assert not empty["quota"] and not empty["schedule"].get("windows")

        restored = cli_json("restore", str(spec), str(pre_upgrade))
        assert FRAMEWORK_ROOT in restored["znodes"]
        assert framework_tree(spec) == tree
        after = operator_state(spec)
        assert after["schedule"] == mesos_state["schedule"]  # the agent kept its address
        assert after["quota"] == mesos_state["quota"]
        assert after["weights"] == mesos_state["weights"]

        # A second restore finds the same data and changes nothing it must refuse.
        assert cli_json("restore", str(spec), str(pre_upgrade))["znodes"]
        verified = cli_json("verify", str(spec))
        assert verified["healthy"] is True
        assert any(c["layer"] == "workload" and c["ok"] for c in verified["checks"])
    finally:
        cli("down", "--yes", "--no-backup", str(spec))
        remove_stale_containers(PREFIX)
    assert not {c for c in containers() if c.startswith(PREFIX)}
