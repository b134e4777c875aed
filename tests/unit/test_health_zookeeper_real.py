"""Znode reads against a real ZooKeeper: kazoo (DirectProbes) and the SSH wire client agree.

Needs ZooKeeper at $DCOS_TEST_ZOOKEEPER (default 127.0.0.1:2181; `.ci/run` starts one).
"""

from __future__ import annotations

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
    yield path
    client.delete(path, recursive=True)
    client.stop()
    client.close()


def test_kazoo_and_wire_client_read_the_same_children(zk_address, mesos_like_znode, tmp_path):
    host, port = zk_address
    via_kazoo = DirectProbes().zk_children([f"{host}:{port}"], mesos_like_znode)

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
        via_ssh = probes.zk_children([f"{host}:{port}"], mesos_like_znode)
        with pytest.raises(ProbeError, match="does not exist"):
            probes.zk_children([f"{host}:{port}"], mesos_like_znode + "-absent")
    finally:
        probes.close()
        server.stop()

    assert via_kazoo == via_ssh
    assert via_kazoo["log_replicas"] == b""
    pids = sorted(v for k, v in via_kazoo.items() if k.startswith("json.info_"))
    assert pids == [b'{"pid":"master@10.0.3.11:5050"}', b'{"pid":"master@10.0.3.12:5050"}']


def test_missing_znode_and_srvr_mode(zk_address):
    host, port = zk_address
    probes = DirectProbes(zookeeper_port=port)
    with pytest.raises(ProbeError, match=r"^znode /dcos-provision-absent does not exist$"):
        probes.zk_children([f"{host}:{port}"], "/dcos-provision-absent")
    assert parse_srvr(probes.four_letter(host, "srvr")).mode in {"standalone", "leader", "follower"}
