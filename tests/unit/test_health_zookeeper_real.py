"""Znode reads against a real ZooKeeper: the probes' wire client, straight and through SSH,
reads what kazoo's own client wrote and reads.

Needs ZooKeeper at $DCOS_TEST_ZOOKEEPER (default 127.0.0.1:2181; `.ci/run` starts one).
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from provisioner.domain import Machine
from provisioner.health.zookeeper import parse_srvr
from provisioner.remote.probes import DirectProbes, ProbeError
from provisioner.remote.ssh import SshProbes

from .ssh_fakes import FakeSshServer

pytestmark = pytest.mark.zookeeper


@pytest.fixture
def zk_address(zookeeper: str) -> tuple[str, int]:
    host, _, port = zookeeper.rpartition(":")
    return host, int(port)


@pytest.fixture
def mesos_like_znode(zk_address):
    from kazoo.client import KazooClient

    host, port = zk_address
    path = f"/dcos-provision-health-{uuid.uuid4().hex[:8]}"
    client = KazooClient(hosts=f"{host}:{port}", timeout=5)
    client.start(timeout=5)
    client.create(f"{path}/log_replicas", b"", makepath=True)
    for pid in ("master@10.0.3.11:5050", "master@10.0.3.12:5050"):
        client.create(
            f"{path}/json.info_", f'{{"pid":"{pid}"}}'.encode(), ephemeral=True, sequence=True
        )
    yield path, client
    client.delete(path, recursive=True)
    client.stop()
    client.close()


def _kazoo_children(client, path: str) -> dict[str, bytes]:
    return {name: client.get(f"{path}/{name}")[0] for name in client.get_children(path)}


def test_the_wire_client_reads_what_kazoo_reads_straight_and_through_ssh(
    zk_address, mesos_like_znode, tmp_path
):
    host, port = zk_address
    path, kazoo = mesos_like_znode
    hosts = [f"{host}:{port}"]
    straight = DirectProbes(zookeeper_port=port)
    direct = straight.zk_children(hosts, path)

    server = FakeSshServer(tmp_path)
    member = Machine(
        name="demo-master-1",
        roles=("master", "zookeeper"),
        address=host,
        ssh_user="vagrant",
        ssh_port=server.port,
        ssh_private_key=str(server.client_key_file),
        strict_host_keys=False,
    )
    probes = SshProbes([member], timeout_s=3, zookeeper_port=port)
    try:
        via_ssh = probes.zk_children(hosts, path)
        acls_via_ssh = probes.zk_acls(hosts, path)
        with pytest.raises(ProbeError, match="does not exist"):
            probes.zk_children(hosts, path + "-absent")
    finally:
        probes.close()
        server.stop()

    assert direct == via_ssh == _kazoo_children(kazoo, path)
    assert direct["log_replicas"] == b""
    pids = sorted(v for k, v in direct.items() if k.startswith("json.info_"))
    assert pids == [b'{"pid":"master@10.0.3.11:5050"}', b'{"pid":"master@10.0.3.12:5050"}']
    acls, _stat = kazoo.get_acls(path)
    expected = [(acl.id.scheme, acl.id.id, int(acl.perms)) for acl in acls]
    assert straight.zk_acls(hosts, path) == acls_via_ssh == expected == [("world", "anyone", 31)]


def test_a_restricted_acl_reads_as_zookeeper_keeps_it(zk_address, mesos_like_znode):
    """The masters' layout: their digest may do anything, the world only read (ZooKeeper 3.6+
    answers getACL only to who may read the znode)."""
    from kazoo.security import READ_ACL_UNSAFE, make_digest_acl

    host, port = zk_address
    path, kazoo = mesos_like_znode
    znode = f"{path}/log_replicas"
    kazoo.set_acls(znode, [make_digest_acl("mesos", "secret", all=True), *READ_ACL_UNSAFE])
    acls = DirectProbes(zookeeper_port=port).zk_acls([f"{host}:{port}"], znode)
    assert [(scheme, ident.split(":")[0], perms) for scheme, ident, perms in acls] == [
        ("digest", "mesos", 31),
        ("world", "anyone", 1),
    ]


def test_the_next_member_answers_when_the_first_is_down(zk_address, mesos_like_znode):
    host, port = zk_address
    path, kazoo = mesos_like_znode
    probes = DirectProbes(zookeeper_port=port, timeout_s=2)
    # 127.0.0.1:9 (discard) refuses: the read moves on to the real member
    assert probes.zk_children(["127.0.0.1:9", f"{host}:{port}"], path) == _kazoo_children(
        kazoo, path
    )
    with pytest.raises(ProbeError, match=r"no ZooKeeper member answered: 127\.0\.0\.1:9: "):
        probes.zk_children(["127.0.0.1:9"], path)


def test_missing_znode_and_srvr_mode(zk_address):
    host, port = zk_address
    probes = DirectProbes(zookeeper_port=port)
    with pytest.raises(ProbeError, match=r"^znode /dcos-provision-absent does not exist$"):
        probes.zk_children([f"{host}:{port}"], "/dcos-provision-absent")
    assert parse_srvr(probes.four_letter(host, "srvr")).mode in {"standalone", "leader", "follower"}


def test_the_probes_read_znodes_without_loading_kazoos_client(zk_address):
    """kazoo's client (its import and its threads) cost a `status` about 0.1 s of CPU."""
    host, port = zk_address
    code = (
        "import sys\n"
        "from provisioner.remote.probes import DirectProbes\n"
        f"probes = DirectProbes(zookeeper_port={port})\n"
        f"assert 'zookeeper' in probes.zk_children(['{host}:{port}'], '/')\n"
        f"assert probes.zk_acls(['{host}:{port}'], '/')\n"
        "assert 'kazoo.client' not in sys.modules, 'kazoo.client loaded'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
