"""Resize the masters of a real cluster: 1 -> 3 and back 3 -> 1, through `up` with a new
`masters.count`, and a rolling `upgrade` of the three masters in between.

Covers: the plan lists the resize steps; each resize ends verified healthy with the new
`--quorum` on every master, a ZooKeeper ensemble of the new size (one leader, synced
followers) and the agent active on the leader under the id it had before; afterwards `plan` is
a drift check (no play: nothing drifted) and `up --converge` changes nothing; shrinking destroys
the leaving masters and drops their addresses from the remaining hosts' live firewall.
`upgrade` (through the CLI) restarts the masters one at a time, the leader last, then the
agent, every host on the new install, and ends verified healthy with the agent's id kept.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from .cli_helpers import (
    cli,
    cli_json,
    container_ip,
    four_letter,
    http_json,
    in_container,
    play_hosts,
    relabelled_mesos,
    status,
    write_spec,
)
from .lab import containers, remove_stale_containers, require_lab

CLUSTER = "e2e-resize"
PREFIX = f"{CLUSTER}-"
MASTERS = [f"{CLUSTER}-master-{i}" for i in (1, 2, 3)]
AGENT = f"{CLUSTER}-agent-1"
RESIZE = ("resize", "resize_masters.yml")
UPGRADE_VERSION = "1.12.0-relabel"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


def set_masters(spec: Path, count: int) -> None:
    data = yaml.safe_load(spec.read_text())
    data["masters"]["count"] = count
    spec.write_text(yaml.safe_dump(data, sort_keys=False))


def set_mesos(spec: Path, version: str, tarball: Path) -> None:
    data = yaml.safe_load(spec.read_text())
    data["mesos"]["version"] = version
    data["mesos"]["install"]["path"] = str(tarball)
    spec.write_text(yaml.safe_dump(data, sort_keys=False))


def uptime(master: str) -> float:
    code, metrics = http_json(container_ip(master), 5050, "/metrics/snapshot")
    assert code == 200, code
    return float(metrics["master/uptime_secs"])


def steps(plan: dict) -> list[tuple[str, str | None]]:
    return [(action["kind"], action["playbook"]) for action in plan["actions"]]


def zk_mode(master: str) -> str:
    return four_letter(container_ip(master), "srvr").split("Mode: ")[1].split()[0]


def listed(address: str, ruleset: str) -> bool:
    """The address is an element of the live nft ruleset (not a prefix of another one)."""
    return re.search(rf"(?<![\d.]){re.escape(address)}(?![\d.])", ruleset) is not None


def agent_id() -> str:
    code, state = http_json(container_ip(AGENT), 5051, "/slave(1)/state")
    assert code == 200 and state["id"], (code, state)
    return state["id"]


def assert_verified(spec: Path, masters: list[str], agent: str) -> None:
    """Healthy, the quorum of len(masters) everywhere, the agent active on the leader."""
    rc, report = status(spec)
    assert rc == 0 and report["healthy"], [c for c in report["checks"] if not c["ok"]]
    quorum = str(len(masters) // 2 + 1)
    zk_hosts = {f"{container_ip(m)}:2181" for m in masters}
    for master in masters:
        code, flags = http_json(container_ip(master), 5050, "/master/flags")
        assert code == 200 and flags["flags"]["quorum"] == quorum, (master, flags["flags"])
        zk = flags["flags"]["zk"]
        if not zk.startswith("zk://"):  # a file:// value (ZooKeeper credentials inside)
            zk = in_container(master, "cat", zk.removeprefix("file://")).strip()
        zk = zk.removeprefix("zk://").rsplit("@", 1)[-1].removesuffix("/mesos")
        assert set(zk.split(",")) == zk_hosts, (master, zk)
    leader = report["leader"]
    assert leader in masters, leader
    code, state = http_json(container_ip(leader), 5050, "/master/state")
    assert code == 200 and state["leader"] == state["pid"]
    active = {(s["hostname"], s["id"]) for s in state["slaves"] if s["active"]}
    assert active == {(AGENT, agent)}, active


def test_resize_masters_one_to_three_and_back(tmp_path: Path) -> None:
    require_lab()
    remove_stale_containers(PREFIX)
    spec = write_spec(tmp_path, CLUSTER, masters=1, agents=1)
    try:
        first = cli_json("up", str(spec))
        assert first["healthy"] is True
        agent = agent_id()

        set_masters(spec, 3)
        plan = cli_json("plan", str(spec))
        assert steps(plan) == [("create", None), *[RESIZE] * 4, ("wait_healthy", None)]
        assert plan["actions"][0]["hosts"] == MASTERS[1:]
        grown = cli_json("up", str(spec))
        assert grown["healthy"] is True
        assert [p["playbook"] for p in grown["playbooks"]] == ["resize_masters.yml"] * 4
        assert_verified(spec, MASTERS, agent)
        assert sorted(zk_mode(m) for m in MASTERS) == ["follower", "follower", "leader"]
        zk_leader = next(m for m in MASTERS if zk_mode(m) == "leader")
        assert "zk_synced_followers\t2" in four_letter(container_ip(zk_leader), "mntr")
        assert agent_id() == agent

        drift = cli_json("plan", str(spec))
        assert steps(drift) == [("drift_check", "site.yml"), ("wait_healthy", None)]
        again = cli_json("up", str(spec), "--converge")
        changed = again["playbooks"][0]["changed"]
        assert set(changed) == {*MASTERS, AGENT} and set(changed.values()) == {0}, changed

        _, before = status(spec)
        old_leader = before["leader"]
        set_mesos(spec, UPGRADE_VERSION, relabelled_mesos(tmp_path, UPGRADE_VERSION))
        upgraded = cli_json("upgrade", str(spec))
        assert upgraded["healthy"] is True
        assert [p["playbook"] for p in upgraded["playbooks"]] == ["upgrade.yml"]
        log = upgraded["playbooks"][0]["log"]
        order = play_hosts(log, "Upgrade the masters one by one")
        assert sorted(order) == MASTERS and order[-1] == old_leader, order
        assert play_hosts(log, "Upgrade the agents in batches") == [AGENT]
        for host in [*MASTERS, AGENT]:
            link = in_container(host, "readlink", "/opt/mesos").strip()
            assert link == f"/opt/mesos-{UPGRADE_VERSION}", (host, link)
        assert all(uptime(m) < upgraded["seconds"] for m in MASTERS)
        assert_verified(spec, MASTERS, agent)
        assert agent_id() == agent

        departed = [container_ip(m) for m in MASTERS[1:]]
        for host in (MASTERS[0], AGENT):  # in every allow-list while they are masters
            ruleset = in_container(host, "nft", "list", "ruleset")
            assert all(listed(a, ruleset) for a in departed), (host, departed, ruleset)
        set_masters(spec, 1)
        shrunk = cli_json("up", str(spec))
        assert shrunk["healthy"] is True
        assert shrunk["destroyed"] == [MASTERS[2], MASTERS[1]]
        assert not set(MASTERS[1:]) & containers()
        for host in (MASTERS[0], AGENT):  # issue 20: the departed left every allow-list
            ruleset = in_container(host, "nft", "list", "ruleset")
            assert not [a for a in departed if listed(a, ruleset)], (host, departed, ruleset)
        assert_verified(spec, MASTERS[:1], agent)
        assert zk_mode(MASTERS[0]) == "standalone"
        assert agent_id() == agent
        after = cli_json("up", str(spec))
        assert steps(after["plan"]) == [("drift_check", "site.yml"), ("wait_healthy", None)]
        assert after["drift"] == {} and after["playbooks"] == []
    finally:
        result = cli("down", "--yes", str(spec))
        remove_stale_containers(PREFIX)
    assert result.returncode == 0, result.stderr
    assert not {c for c in containers() if c.startswith(PREFIX)}
