"""The zookeeper role's `tasks_from: acl` run for real by ansible-playbook against a real
ZooKeeper, confined to a fresh chroot node (its "/") so the shared test server's root stays
open: the root is locked, /mesos is created with the masters' digest ACL, a second run
changes nothing, and a /mesos someone else made is refused by name (issue 20, attack 5).

Needs ZooKeeper at $DCOS_TEST_ZOOKEEPER (default 127.0.0.1:2181; `.ci/run` starts one).
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.ansible import control_path_dir, run_playbook
from provisioner.errors import AnsibleError

pytestmark = [pytest.mark.zookeeper, pytest.mark.timeout(180)]

ZKCLI = Path("/usr/share/zookeeper/bin/zkCli.sh")
PLAY = """
- name: ACLs
  hosts: all
  gather_facts: false
  tasks:
    - name: Lock the root and create the Mesos znode
      ansible.builtin.include_role:
        name: zookeeper
        tasks_from: acl
"""
CREDENTIAL = {"principal": "mesos", "secret": "test-secret-0123456789"}


@pytest.fixture
def chroot(zookeeper: str) -> Iterator[tuple[str, Any]]:
    """An open node as the ACL tasks' root; removed (authenticated) afterwards."""
    from kazoo.client import KazooClient

    if not ZKCLI.exists():
        pytest.skip(f"{ZKCLI} missing (the zookeeper package)")
    client = KazooClient(hosts=zookeeper, timeout=5)
    client.start(timeout=5)
    path = f"/dcos-provision-acl-{uuid.uuid4().hex[:8]}"
    client.create(path, b"")
    try:
        yield f"{zookeeper}{path}", path
    finally:
        client.add_auth("digest", f"{CREDENTIAL['principal']}:{CREDENTIAL['secret']}")
        client.delete(path, recursive=True)
        client.stop()
        client.close()


def run(tmp_path: Path, server: str) -> Any:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"zookeeper": CREDENTIAL}))
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "zookeeper_acl": True,
        "zookeeper_secrets_file": str(secrets),
        "zookeeper_acl_server": server,
        "__zookeeper_cli": str(ZKCLI),
    }
    (tmp_path / "inv.yml").write_text(yaml.safe_dump({"all": {"hosts": {"z1": host}}}))
    (tmp_path / "play.yml").write_text(PLAY)
    state = tmp_path / "state"
    try:
        return run_playbook(
            str(tmp_path / "play.yml"), inventory=tmp_path / "inv.yml", state_dir=state
        )
    finally:
        shutil.rmtree(control_path_dir(state), ignore_errors=True)


def acl_of(client: Any, path: str) -> set[tuple[str, str, int]]:
    acls, _ = client.get_acls(path)
    return {(a.id.scheme, a.id.id.split(":")[0], a.perms) for a in acls}


def test_root_locked_and_mesos_created_with_the_masters_acl(
    tmp_path: Path, chroot: tuple[str, str], zookeeper: str
) -> None:
    from kazoo.client import KazooClient
    from kazoo.exceptions import NoAuthError

    server, root = chroot
    first = run(tmp_path, server)
    assert first.stats["z1"].changed == 1
    anonymous = KazooClient(hosts=zookeeper, timeout=5)
    anonymous.start(timeout=5)
    try:
        wanted = {("world", "anyone", 1), ("digest", "mesos", 31)}
        assert acl_of(anonymous, root) == wanted
        assert acl_of(anonymous, f"{root}/mesos") == wanted
        with pytest.raises(NoAuthError):
            anonymous.create(f"{root}/intruder", b"x")
        with pytest.raises(NoAuthError):
            anonymous.create(f"{root}/mesos/intruder", b"x")
    finally:
        anonymous.stop()
        anonymous.close()
    assert run(tmp_path, server).stats["z1"].changed == 0  # idempotent


def test_a_mesos_znode_made_by_someone_else_is_refused_by_name(
    tmp_path: Path, chroot: tuple[str, str], zookeeper: str
) -> None:
    from kazoo.client import KazooClient

    server, root = chroot
    attacker = KazooClient(hosts=zookeeper, timeout=5)
    attacker.start(timeout=5)
    try:
        attacker.create(f"{root}/mesos", b"")  # world:anyone:cdrwa, before any master
        with pytest.raises(AnsibleError) as failure:
            run(tmp_path, server)
        assert "ZooKeeper node /mesos already exists with ACL world:anyone:cdrwa" in str(
            failure.value
        )
        # Same principal name, another secret: its digest is not the masters' either.
        attacker.delete(f"{root}/mesos")
        attacker.add_auth("digest", "mesos:not-the-secret-000")
        from kazoo.security import make_acl

        attacker.create(
            f"{root}/mesos",
            b"",
            acl=[make_acl("world", "anyone", read=True), make_acl("auth", "", all=True)],
        )
        with pytest.raises(AnsibleError, match="already exists with ACL digest:mesos:x:cdrwa"):
            run(tmp_path, server)
    finally:
        attacker.stop()
        attacker.close()
