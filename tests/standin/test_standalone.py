"""A master without ZooKeeper (`--registry=in_memory`) with agents: registration, pings,
restarts and the maintenance API. These need no ZooKeeper."""

from __future__ import annotations

from typing import Any

from .procs import Proc, Procs, request, wait_until

RESOURCES = "--resources=cpus:2;mem:2048;disk:10240;ports:[31000-32000]"


def _slaves(master: Proc) -> list[dict[str, Any]]:
    return master.get("/master/slaves").json()["slaves"]


def _agent_id(agent: Proc) -> str:
    return agent.get("/slave(1)/state").json()["id"]


def test_agent_deactivated_unreachable_then_back_with_same_id(procs: Procs) -> None:
    master = procs.master(
        "--registry=in_memory", "--agent_ping_timeout=3secs", "--max_agent_ping_timeouts=2"
    )
    agent = procs.agent(f"127.0.0.1:{master.port}", RESOURCES, "--attributes=rack:r1;level:10")
    agent_id = wait_until(lambda: _agent_id(agent), "the agent to register")
    state = master.get("/master/state").json()
    assert state["leader"] == state["pid"] == f"master@127.0.0.1:{master.port}"
    assert state["activated_slaves"] == 1.0
    [slave] = state["slaves"]
    assert slave["id"] == agent_id and slave["active"] is True
    assert slave["pid"] == f"slave(1)@127.0.0.1:{agent.port}"
    assert slave["attributes"] == {"rack": "r1", "level": 10.0}
    assert slave["resources"] == {
        "cpus": 2.0,
        "gpus": 0.0,
        "mem": 2048.0,
        "disk": 10240.0,
        "ports": "[31000-32000]",
    }
    assert agent.metrics()["slave/registered"] == 1.0

    agent.kill()
    wait_until(
        lambda: _slaves(master) and not _slaves(master)[0]["active"],
        "the leader to deactivate the stopped agent",
    )
    metrics = master.metrics()
    assert metrics["master/slaves_inactive"] == 1.0
    assert metrics["master/slaves_disconnected"] == 1.0
    assert master.get("/master/state").json()["deactivated_slaves"] == 1.0
    wait_until(
        lambda: master.metrics()["master/slaves_unreachable"] == 1.0,
        "the agent to become unreachable after 2 missed 3secs pings",
    )
    assert _slaves(master) == []
    assert master.get("/master/state").json()["unreachable_slaves"] == 1.0

    work_dir = agent.flag("work_dir")
    changed = procs.start(
        "agent",
        f"--master=127.0.0.1:{master.port}",
        f"--work_dir={work_dir}",
        "--resources=cpus:4;mem:2048;disk:10240",
        "--attributes=rack:r1;level:10",
        port=agent.port,
    )
    assert changed.popen.wait(timeout=30) == 1
    assert "Incompatible agent info detected" in changed.output()
    assert f"rm -f {work_dir}/meta/slaves/latest" in changed.output()

    back = procs.start("agent", *agent.restart_args(), port=agent.port)
    wait_until(
        lambda: _slaves(master) and _slaves(master)[0]["active"],
        "the restarted agent to re-register",
    )
    assert _slaves(master)[0]["id"] == agent_id == _agent_id(back)
    metrics = master.metrics()
    assert metrics["master/slave_reregistrations"] == 1.0
    assert metrics["master/slave_registrations"] == 1.0
    assert metrics["master/slaves_unreachable"] == 0.0


def test_agent_re_registers_when_its_master_restarts_at_the_same_address(procs: Procs) -> None:
    master = procs.master("--registry=in_memory")
    agent = procs.agent(f"127.0.0.1:{master.port}", RESOURCES)
    agent_id = wait_until(lambda: _agent_id(agent), "the agent to register")
    master.kill()
    restarted = procs.start("master", *master.restart_args(), port=master.port)
    wait_until(
        lambda: [s["id"] for s in _slaves(restarted)] == [agent_id],
        "the agent to re-register with the restarted master",
    )
    assert restarted.metrics()["master/slave_reregistrations"] == 1.0


def _machine(hostname: str) -> dict[str, str]:
    return {"hostname": hostname, "ip": "127.0.0.1"}


def _window(*machines: dict[str, str], duration: int = 3600 * 10**9) -> dict[str, Any]:
    return {
        "machine_ids": list(machines),
        "unavailability": {
            "start": {"nanoseconds": 1700000000 * 10**9},
            "duration": {"nanoseconds": duration},
        },
    }


def test_maintenance_down_removes_the_agent_and_up_lets_it_back(procs: Procs) -> None:
    master = procs.master("--registry=in_memory")
    procs.agent(f"127.0.0.1:{master.port}", "--hostname=keep.test", RESOURCES)
    drain = procs.agent(f"127.0.0.1:{master.port}", "--hostname=Drain.Test", RESOURCES)
    wait_until(lambda: len(_slaves(master)) == 2, "both agents to register")
    drain_id = _agent_id(drain)

    def call(path: str, body: Any, method: str = "POST") -> tuple[int, str]:
        reply = request(master.port, path, method, body)
        return reply.status, reply.text

    assert master.get("/master/maintenance/schedule").json() == {}
    assert master.get("/master/maintenance/status").json() == {}
    for bad, message in [
        ({"windows": [_window()]}, "List of machines in the maintenance window is empty"),
        (
            {"windows": [_window(_machine("a")), _window(_machine("A"))]},
            "appears more than once in the schedule",
        ),
        ({"windows": [_window({"hostname": "a", "ip": "300.1.1.1"})]}, "Failed to parse IP"),
        ({"windows": [_window({})]}, "Both 'hostname' and 'ip' for a machine are empty"),
        ({"windows": [_window(_machine("a"), duration=-1)]}, "'duration' is negative"),
    ]:
        status, text = call("/master/maintenance/schedule", bad)
        assert status == 400 and message in text
    assert call("/master/maintenance/schedule", {}, "PUT")[0] == 405
    assert master.get("/master/machine/down").status == 405

    schedule = {"windows": [_window(_machine("drain.test"))]}
    assert call("/master/maintenance/schedule", schedule) == (200, "")
    assert master.get("/master/maintenance/schedule").json() == schedule
    assert master.get("/master/maintenance/status").json() == {
        "draining_machines": [{"id": _machine("drain.test")}]
    }
    status, text = call("/master/machine/down", [_machine("keep.test")])
    assert status == 400 and "is not part of a maintenance schedule" in text

    assert call("/master/machine/down", [_machine("drain.test")]) == (200, "")
    assert [s["hostname"] for s in _slaves(master)] == ["keep.test"]
    assert drain.popen.wait(timeout=20) == 0  # the agent obeys the shutdown and exits
    assert master.get("/master/maintenance/status").json() == {
        "down_machines": [_machine("drain.test")]
    }
    assert master.metrics()["master/slave_removals"] == 1.0
    status, text = call("/master/maintenance/schedule", {})
    assert status == 400 and "is deactivated and cannot be removed from the schedule" in text

    refused = procs.start("agent", *drain.restart_args(), port=drain.port)
    assert refused.popen.wait(timeout=20) == 0
    assert "Machine is `DOWN`" in refused.output()
    assert [s["hostname"] for s in _slaves(master)] == ["keep.test"]

    assert call("/master/machine/up", [_machine("drain.test")]) == (200, "")
    assert master.get("/master/maintenance/schedule").json() == {}
    assert master.get("/master/maintenance/status").json() == {}
    again = procs.start("agent", *drain.restart_args(), port=drain.port)
    wait_until(lambda: len(_slaves(master)) == 2, "the agent to register after machine/up")
    assert _agent_id(again) not in ("", drain_id)  # shut down agents forget their id
