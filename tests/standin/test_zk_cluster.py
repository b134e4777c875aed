"""Three stand-in masters and an agent on a real ZooKeeper: election, znodes, redirects,
failover and quorum loss, checked the way the health module checks a real Mesos cluster."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from .procs import Proc, Procs, leader_of, wait_until

pytestmark = pytest.mark.zookeeper
FAST = "--zk_session_timeout=4secs"  # the server's minimum (2 x tickTime)
EXPECTED_HOSTNAME = (lambda ip: socket.gethostbyaddr(ip)[0])("127.0.0.1")


def _masters(procs: Procs, zk_url: str, count: int = 3) -> list[Proc]:
    return [procs.master(f"--zk={zk_url}", "--quorum=2", FAST) for _ in range(count)]


def _formed(masters: list[Proc]) -> Proc | None:
    """The leader once exactly one leads and every master sees all log replicas."""
    leader = leader_of(masters)
    if leader is None:
        return None
    for master in masters:
        metrics = master.metrics()
        if (
            metrics["registrar/log/ensemble_size"] != len(masters)
            or metrics["registrar/log/recovered"] != 1.0
        ):
            return None
    return leader


@contextlib.contextmanager
def _client(zookeeper: str) -> Iterator[Any]:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zookeeper, timeout=5)
    client.start(timeout=10)
    try:
        yield client
    finally:
        client.stop()
        client.close()


def _znodes(zookeeper: str, path: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
    with _client(zookeeper) as client:
        members = {
            c: client.get(f"{path}/{c}")[0]
            for c in client.get_children(path)
            if c != "log_replicas"
        }
        replicas = {
            c: client.get(f"{path}/log_replicas/{c}")[0]
            for c in client.get_children(f"{path}/log_replicas")
        }
    return members, replicas


def test_three_masters_elect_one_leader_with_mesos_znodes(
    zk_cluster: tuple[str, str, Procs], zookeeper: str
) -> None:
    zk_url, path, procs = zk_cluster
    masters = _masters(procs, zk_url)
    leader = wait_until(lambda: _formed(masters), "one leader and 3 log replicas")
    followers = [m for m in masters if m is not leader]

    members, replicas = _znodes(zookeeper, path)
    assert sorted(members) == [f"json.info_{n:010d}" for n in (1, 2, 3)]
    lowest = members["json.info_0000000001"].decode()
    info = json.loads(lowest)
    assert list(info) == sorted(info)  # written with sorted keys, like JSON::protobuf
    assert info["pid"] == f"master@127.0.0.1:{leader.port}"
    assert info["ip"] == 16777343 and info["port"] == leader.port
    assert info["address"] == {
        "hostname": EXPECTED_HOSTNAME,
        "ip": "127.0.0.1",
        "port": leader.port,
    }
    assert info["hostname"] == EXPECTED_HOSTNAME and info["version"] == "1.11.0"
    assert {"type": "AGENT_UPDATE"} in info["capabilities"]
    state = leader.get("/master/state").json()
    assert state["leader"] == info["pid"] and state["id"] == info["id"]
    assert state["leader_info"]["hostname"] == EXPECTED_HOSTNAME
    assert sorted(replicas.values()) == sorted(
        f"log-replica(1)@127.0.0.1:{m.port}".encode() for m in masters
    )

    base = f"//{EXPECTED_HOSTNAME}:{leader.port}"
    for master in masters:
        redirect = master.get("/master/redirect")
        assert (redirect.status, redirect.headers["Location"]) == (307, base)
        assert master.get("/master/health").status == 200
        flags = master.get("/master/flags").json()["flags"]
        assert flags["quorum"] == "2" and flags["zk_session_timeout"] == "4secs"
        assert flags["zk"] == zk_url
    for follower in followers:
        for target in ("/master/state?jsonp=cb", "/state", "/master/maintenance/schedule"):
            reply = follower.get(target)
            assert (reply.status, reply.headers["Location"]) == (307, base + target)
        metrics = follower.metrics()
        assert metrics["master/elected"] == 0.0 and metrics["master/slaves_active"] == 0.0
        assert follower.get("/master/redirect/x").status == 404

    # A leader whose znode disappears has lost its candidacy: it exits for its supervisor.
    with _client(zookeeper) as client:
        client.delete(f"{path}/json.info_0000000001")
    assert leader.popen.wait(timeout=15) == 1
    assert "Lost candidacy as a leader... committing suicide!" in leader.output()
    wait_until(lambda: leader_of(followers), "a follower to take over")


def _slave(master: Proc, agent_id: str) -> dict[str, Any] | None:
    state = master.get("/master/state").json()
    return next((s for s in state["slaves"] if s["id"] == agent_id), None)


def test_agent_keeps_its_id_across_failover_and_is_deactivated_when_stopped(
    zk_cluster: tuple[str, str, Procs],
) -> None:
    zk_url, _, procs = zk_cluster
    masters = _masters(procs, zk_url)
    agent = procs.agent(
        zk_url,
        FAST,
        "--resources=cpus:2;mem:2048;disk:10240;ports:[31000-32000]",
        "--attributes=rack:r1;level:10",
    )
    leader = wait_until(lambda: _formed(masters), "one leader and 3 log replicas")
    agent_id = wait_until(lambda: agent.get("/slave(1)/state").json()["id"], "registration")
    slave = wait_until(lambda: _slave(leader, agent_id), "the leader to list the agent")
    assert slave["active"] is True and slave["attributes"] == {"rack": "r1", "level": 10.0}
    assert slave["resources"]["cpus"] == 2.0 and slave["resources"]["ports"] == "[31000-32000]"
    assert leader.get("/master/state").json()["activated_slaves"] == 1.0
    agent_state = agent.get("/slave(1)/state").json()
    assert agent_state["master_hostname"] == EXPECTED_HOSTNAME
    assert agent_state["flags"]["master"] == zk_url

    leader.kill()  # SIGKILL: its znode lingers until the 4 s session expires
    survivors = [m for m in masters if m is not leader]
    new_leader = wait_until(lambda: leader_of(survivors), "a new leader", timeout=30)
    slave = wait_until(lambda: _slave(new_leader, agent_id), "the agent to re-register", timeout=20)
    assert slave["active"] is True
    assert new_leader.metrics()["master/slave_reregistrations"] == 1.0
    assert agent.get("/slave(1)/state").json()["id"] == agent_id
    follower = next(m for m in survivors if m is not new_leader)
    wait_until(
        lambda: (
            follower.get("/master/redirect").headers["Location"]
            == f"//{EXPECTED_HOSTNAME}:{new_leader.port}"
        ),
        "followers to redirect anew",
    )

    agent.kill()
    wait_until(
        lambda: _slave(new_leader, agent_id)["active"] is False,
        "the leader to deactivate the stopped agent",
    )
    assert new_leader.get("/master/state").json()["deactivated_slaves"] == 1.0


def test_losing_two_of_three_masters_loses_the_log_quorum(
    zk_cluster: tuple[str, str, Procs],
) -> None:
    zk_url, _, procs = zk_cluster
    masters = _masters(procs, zk_url)
    wait_until(lambda: _formed(masters), "one leader and 3 log replicas")
    for master in masters[:2]:
        master.kill()
    remaining = masters[2]
    wait_until(
        lambda: remaining.metrics()["registrar/log/ensemble_size"] == 1.0,
        "the dead masters' log replicas to expire",
    )
    assert remaining.metrics()["registrar/log/recovered"] == 0.0
    assert remaining.alive()
