"""The real CLI on real containers: up 1+1, no-op up, scale 1 -> 3 -> 1, a dead agent, down.

Covers: `up` ends verified healthy; a host whose SSH host key changed (a man in the middle) is
refused by name by `status` and `up`; a second `up` is a drift check that runs no play, and
`up --converge` reports changed=0; growing lets the new agents through the other hosts'
firewalls (firewall.yml, the rules file only), then runs scale.yml on the new agents only (the
existing hosts are not in that play); shrinking drains the removed
agents through the maintenance API before destroying them; `down --yes` leaves no container of
the cluster and touches no other container; a stopped agent container is started again by the
next `up` (its plan says `start`); with an agent dead (running, but neither sshd nor the agent
answers) scaling up still adds the new agent and names the dead one instead of hanging.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .cli_helpers import (
    cli,
    cli_json,
    container_ip,
    http_json,
    in_container,
    recap_hosts,
    status,
    write_spec,
)
from .lab import containers, remove_stale_containers, require_lab

CLUSTER = "e2e-small"
PREFIX = f"{CLUSTER}-"
DECOY = f"{CLUSTER}-foreign"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]
#: Inside a container: keep its host keys aside, give sshd new ones (what a man in the
#: middle presents) and restart it; RESTORE_KEYS puts the originals back.
REKEY = (
    "mkdir -p /root/hostkeys && cp -p /etc/ssh/ssh_host_* /root/hostkeys/ && "
    "rm -f /etc/ssh/ssh_host_* && ssh-keygen -q -A && systemctl restart ssh"
)
RESTORE_KEYS = (
    "rm -f /etc/ssh/ssh_host_* && cp -p /root/hostkeys/* /etc/ssh/ && rm -rf /root/hostkeys && "
    "systemctl restart ssh"
)


def leader_state(master: str) -> dict:
    code, state = http_json(container_ip(master), 5050, "/master/state")
    assert code == 200, code
    return state


def test_up_noop_scale_down(tmp_path: Path) -> None:
    require_lab()
    remove_stale_containers(PREFIX)
    # A stopped container whose name looks like ours but is no machine of the cluster: `down`
    # must leave it alone (other clusters' containers may come and go during the test).
    subprocess.run(["lxc-create", "-n", DECOY, "-t", "none", "-B", "dir"], check=True)
    spec = write_spec(tmp_path, CLUSTER, masters=1, agents=1)
    master, agent1 = f"{CLUSTER}-master-1", f"{CLUSTER}-agent-1"
    try:
        first = cli_json("up", str(spec))
        assert first["healthy"] is True
        assert [p["playbook"] for p in first["playbooks"]] == ["site.yml"]
        rc, report = status(spec)
        assert rc == 0 and report["healthy"] is True
        assert {c["layer"] for c in report["checks"]} == {
            "reachability",
            "zookeeper",
            "mesos_masters",
            "mesos_agents",
            "security",
        }

        # A no-op up: the fast drift check finds nothing, so no play runs at all ...
        second = cli_json("up", str(spec))
        assert [a["kind"] for a in second["plan"]["actions"]] == ["drift_check", "wait_healthy"]
        assert second["drift"] == {} and second["playbooks"] == []
        assert second["healthy"] is True
        # ... and the full play on request changes nothing either (the roles are idempotent).
        full = cli_json("up", str(spec), "--converge")
        assert [a["kind"] for a in full["plan"]["actions"]] == ["converge", "wait_healthy"]
        changed = full["playbooks"][0]["changed"]
        assert set(changed) == {master, agent1}
        assert all(count == 0 for count in changed.values()), changed

        # A man in the middle answers for agent-1 with another host key (issue 20; a re-keyed
        # sshd looks the same to the client): status and up refuse that host by name.
        in_container(agent1, "sh", "-c", REKEY)
        try:
            for command in (("status",), ("up",)):
                refused = cli(*command, str(spec))
                output = refused.stdout + refused.stderr
                assert refused.returncode != 0, output
                assert agent1 in output and "host key changed" in output, output
                assert master not in output.split("host key", 1)[1].split("\n", 1)[0], output
                assert "Traceback" not in output
        finally:
            in_container(agent1, "sh", "-c", RESTORE_KEYS)
        rc, report = status(spec)
        assert rc == 0 and report["healthy"] is True

        grown = cli_json("scale", str(spec), "--agents", "3")
        new = [f"{CLUSTER}-agent-2", f"{CLUSTER}-agent-3"]
        # The other hosts let the new agents in first (their rules file only, one parallel
        # run); Prometheus on the master follows the agents (its configuration and rules only).
        assert [(p["playbook"], p["limit"]) for p in grown["playbooks"]] == [
            ("firewall.yml", [master, agent1]),
            ("scale.yml", new),
            ("monitoring_targets.yml", [master]),
        ]
        assert recap_hosts(grown["playbooks"][1]["log"]) == set(new)
        new_addresses = [container_ip(name) for name in new]
        for host in (master, agent1):
            rules = in_container(host, "nft", "list", "table", "inet", "dcos_provision")
            assert all(a in rules for a in new_addresses), (host, rules)
        assert grown["healthy"] is True
        assert "count: 3" in spec.read_text()
        active = {s["hostname"] for s in leader_state(master)["slaves"] if s["active"]}
        assert active == {agent1, *new}

        removed_addresses = new_addresses
        shrunk = cli_json("scale", str(spec), "--agents", "1", "--yes")
        assert shrunk["playbooks"][0]["playbook"] == "remove_agents.yml"
        assert sorted(shrunk["destroyed"]) == new
        assert shrunk["healthy"] is True
        state = leader_state(master)
        assert {s["hostname"] for s in state["slaves"] if s["active"]} == {agent1}
        assert not set(new) & set(containers())
        # The removed addresses are in no remaining host's live firewall rules (issue 20) ...
        assert [(p["playbook"], p["limit"]) for p in shrunk["playbooks"]][1:] == [
            ("firewall.yml", [master, agent1]),
            ("monitoring_targets.yml", [master]),
        ]
        for host in (master, agent1):
            rules = in_container(host, "nft", "list", "table", "inet", "dcos_provision")
            assert not [a for a in removed_addresses if a in rules], (host, rules)
        # ... and the next up still changes nothing (the rewritten rules files were recorded).
        again = cli_json("up", str(spec))
        assert again["drift"] == {} and again["playbooks"] == [], again

        # A stopped machine (the lab host rebooted) is started again by the next `up`, which
        # plans it as a `start` and ends verified healthy with that agent registered.
        subprocess.run(["lxc-stop", "-n", agent1], check=True, timeout=120)
        restarted = cli_json("up", str(spec))
        kinds = [(a["kind"], a["hosts"]) for a in restarted["plan"]["actions"]]
        assert kinds[0] == ("start", [agent1]), kinds
        assert restarted["healthy"] is True
        assert {s["hostname"] for s in leader_state(master)["slaves"] if s["active"]} == {agent1}

        # A dead agent (the provider says it runs, but nothing answers: sshd and the agent are
        # gone) does not stop a scale-up: the new agent is added, the dead one named.
        in_container(agent1, "systemctl", "stop", "mesos-agent", "ssh")
        blocked = cli("scale", str(spec), "--agents", "2", "--wait", "90")
        assert blocked.returncode == 1
        assert agent1 in blocked.stderr and "not healthy" in blocked.stderr
        agent2 = f"{CLUSTER}-agent-2"  # a removed name may be used again
        active = {s["hostname"] for s in leader_state(master)["slaves"] if s["active"]}
        assert active == {agent2}
    finally:
        result = cli("down", "--yes", str(spec))
        leftovers = {c for c in containers() if c.startswith(PREFIX)}
        remove_stale_containers(PREFIX)
    assert result.returncode == 0, result.stderr
    assert leftovers == {DECOY}
