"""Znode trees in and out of a backup against a real ZooKeeper (data, ACLs, conflicts).

Needs ZooKeeper at $DCOS_TEST_ZOOKEEPER (default 127.0.0.1:2181; `scripts/host-zookeeper.sh`).
"""

from __future__ import annotations

import json
import uuid

import pytest
from kazoo.security import ACL, READ_ACL_UNSAFE, Id, Permissions, make_digest_acl

from provisioner.backup import AutoBackup, before, take_backup, zktree
from provisioner.backup.archive import read_archive
from provisioner.cluster import open_cluster
from provisioner.domain import Machine
from provisioner.state import ClusterState

pytestmark = pytest.mark.zookeeper

OWN = ("mesos", "zookeeper-secret-1")
FRAMEWORK = ("marathon", "framework-secret-1")


@pytest.fixture
def client(zookeeper):
    with zktree.session([zookeeper], [OWN, FRAMEWORK], timeout_s=5) as started:
        yield started


@pytest.fixture
def root(client):
    path = f"/dcos-provision-backup-{uuid.uuid4().hex[:8]}"
    yield path
    client.delete(path, recursive=True)


def acl_of(client, path):
    acls, _ = client.get_acls(path)
    return {(a.id.scheme, a.id.id, int(a.perms)) for a in acls}


def make_tree(client, root):
    own_all = make_digest_acl(*OWN, all=True)
    # A parent that forbids creating children (no CREATE for anyone): restore must still
    # bring back its child, then set this ACL.
    locked = [make_digest_acl(*OWN, read=True, write=True, admin=True, delete=True)]
    client.create(root, b"top", acl=[own_all])
    client.create(f"{root}/app", b'{"v": 1}', acl=[own_all, *READ_ACL_UNSAFE])
    client.create(f"{root}/app/state", b"\x00\x01binary", acl=[own_all])
    client.create(f"{root}/app/state/leaf", b"", acl=[own_all])
    client.set_acls(f"{root}/app/state", locked)
    client.create(f"{root}/app/lock", b"me", acl=[own_all], ephemeral=True)


def test_dump_keeps_data_and_acls_and_leaves_ephemeral_znodes_out(client, root):
    make_tree(client, root)
    nodes, unreadable = zktree.dump(client, root)
    assert [n.path for n in nodes] == [root, f"{root}/app", f"{root}/app/state",
                                       f"{root}/app/state/leaf"]  # fmt: skip
    by_path = {n.path: n for n in nodes}
    assert by_path[f"{root}/app/state"].data == b"\x00\x01binary"
    assert set(by_path[f"{root}/app"].acl) == acl_of(client, f"{root}/app")
    assert unreadable == []
    again = [zktree.Znode.from_dict(json.loads(json.dumps(n.to_dict()))) for n in nodes]
    assert again == nodes


def test_write_brings_a_deleted_tree_back_with_its_acls(client, root):
    make_tree(client, root)
    nodes, _ = zktree.dump(client, root)
    acls = {n.path: acl_of(client, n.path) for n in nodes}
    client.delete(root, recursive=True)
    assert zktree.conflicts(client, nodes) == []
    written = zktree.write(client, nodes, OWN)
    assert written == [n.path for n in nodes]
    for node in nodes:
        data, _ = client.get(node.path)
        assert data == node.data
        assert acl_of(client, node.path) == acls[node.path]
    # The locked parent really forbids creating children again (its ACL was set last).
    from kazoo.exceptions import NoAuthError

    with pytest.raises(NoAuthError):
        client.create(f"{root}/app/state/new", b"")


def test_changed_znodes_are_conflicts_until_overwritten(client, root):
    make_tree(client, root)
    nodes, _ = zktree.dump(client, root)
    client.set(f"{root}/app", b'{"v": 2}')
    client.set_acls(root, [make_digest_acl(*OWN, all=True), *READ_ACL_UNSAFE])
    found = zktree.conflicts(client, nodes)
    assert found == [f"{root}: its ACL differs from the backup's",
                     f"{root}/app: its data differ from the backup's"]  # fmt: skip
    zktree.write(client, nodes, OWN)
    assert zktree.conflicts(client, nodes) == []


def test_znodes_the_cluster_cannot_read_are_named(client, root):
    other = ACL(Permissions.ALL, Id("digest", "someone:AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    client.create(root, b"", acl=[make_digest_acl(*OWN, all=True)])
    admin_only = make_digest_acl(*OWN, admin=True)  # lets the test clean up, not read
    client.create(f"{root}/private", b"x", acl=[other, admin_only])
    try:
        nodes, unreadable = zktree.dump(client, root)
    finally:
        client.set_acls(f"{root}/private", [make_digest_acl(*OWN, all=True)])
    assert [n.path for n in nodes] == [root]
    assert unreadable == [f"{root}/private: no read permission for the cluster's identities"]


def test_masters_and_zookeepers_own_subtrees_are_left_out(client):
    nodes, _ = zktree.dump(client, "/")
    assert not [n.path for n in nodes if n.path.startswith(("/zookeeper", "/mesos"))]


def _cluster_on_local_zookeeper(tmp_path, zookeeper, secure=False):
    """A recorded cluster whose only master/ZooKeeper host is the test ZooKeeper's address
    (no Mesos there: the backup of a broken cluster)."""
    host = zookeeper.rpartition(":")[0]
    spec = tmp_path / "c.yaml"
    security = "" if secure else "security: {authentication: false, zookeeper_acl: false}\n"
    spec.write_text(
        f"name: lab\nssh: {{user: ops}}\n{security}"
        "provider:\n  kind: static\n  hosts:\n"
        f"    - {{name: m1, address: {host}, roles: [master, zookeeper]}}\n"
    )
    cluster = open_cluster(spec, tmp_path / "state")
    state = ClusterState(cluster="lab", provider="static")
    state.machines["m1"] = Machine("m1", ("master", "zookeeper"), host, "ops", zookeeper_id=1)
    cluster.store.save(state)
    return cluster


def test_backup_of_a_cluster_without_a_leader_fails_unless_partial(tmp_path, zookeeper, client):
    cluster = _cluster_on_local_zookeeper(tmp_path, zookeeper)
    from provisioner.backup.mesos_api import MesosApiError

    with pytest.raises(MesosApiError, match="no leading Mesos master"):
        take_backup(cluster, passphrase=None, output=tmp_path / "strict.tar.gz")
    assert not (tmp_path / "strict.tar.gz").exists()
    said: list[str] = []
    cluster.progress = said.append
    result = before(cluster, "down", AutoBackup(), partial_ok=True)
    assert result is not None
    assert result.path.parent == cluster.state_dir / "backups"
    assert "mesos" in result.missing and "zookeeper" not in result.missing
    assert any(line.startswith("WARNING: the backup before down lacks mesos") for line in said)
    archive = read_archive(result.path)
    assert "state/state.json" in archive.members
    assert archive.manifest["cluster_id"] == cluster.store.load().cluster_id != ""
    assert archive.manifest["contents"]["znodes"] >= 0


def test_no_backup_says_so_and_strict_failures_stop_the_operation(tmp_path, zookeeper):
    cluster = _cluster_on_local_zookeeper(tmp_path, zookeeper)
    said: list[str] = []
    cluster.progress = said.append
    assert before(cluster, "upgrade", AutoBackup(enabled=False)) is None
    assert said == ["automatic backup before upgrade skipped (--no-backup)"]
    from provisioner.errors import ProvisionError

    with pytest.raises(ProvisionError, match="automatic backup before upgrade failed") as caught:
        before(cluster, "upgrade", AutoBackup())
    assert "--no-backup" in (caught.value.hint or "")
    assert not (cluster.state_dir / "backups").exists()


def test_automatic_backups_keep_the_newest(tmp_path, zookeeper, monkeypatch):
    from provisioner.backup import run

    cluster = _cluster_on_local_zookeeper(tmp_path, zookeeper)
    stamps = iter(f"20260101T0000{n:02d}Z" for n in range(10))
    monkeypatch.setattr(run, "_stamp", lambda: next(stamps))
    monkeypatch.setattr(run, "KEEP", 3)
    for _ in range(5):
        before(cluster, "down", AutoBackup(), partial_ok=True)
    kept = [p.name for p in run.automatic_backups(cluster)]
    assert kept == [f"lab-pre-down-20260101T0000{n:02d}Z.tar.gz" for n in (2, 3, 4)]


def test_restore_refuses_a_cluster_without_masters_and_changes_nothing(tmp_path, zookeeper):
    from provisioner.backup import restore
    from provisioner.errors import RefusedError

    cluster = _cluster_on_local_zookeeper(tmp_path, zookeeper)
    result = before(cluster, "down", AutoBackup(), partial_ok=True)
    assert result is not None
    state_before = cluster.store.state_file.read_bytes()
    with pytest.raises(RefusedError, match="not healthy enough to restore onto") as caught:
        restore(cluster, result.path, passphrase=None)
    assert "mesos_masters" in caught.value.message
    assert "`dcos-provision up`" in (caught.value.hint or "")
    assert cluster.store.state_file.read_bytes() == state_before


def test_restore_without_credentials_or_passphrase_names_the_missing_file(tmp_path, zookeeper):
    from provisioner.backup import restore
    from provisioner.errors import CredentialsError

    cluster = _cluster_on_local_zookeeper(tmp_path, zookeeper, secure=True)
    archive = before(cluster, "down", AutoBackup(), partial_ok=True)
    assert archive is not None
    with pytest.raises(CredentialsError, match=r"secrets\.json: the cluster's credentials are"):
        restore(cluster, archive.path, passphrase=None)
