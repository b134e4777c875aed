"""Fakes for the health tests: ZooKeeper four-letter-word servers on 127.0.0.1 and a scripted
Mesos cluster answering from the JSON fixtures (shaped like Mesos 1.11 answers)."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.domain import Machine, Role
from provisioner.health import CheckResult, HealthReport, check_cluster
from provisioner.remote.probes import DirectProbes, ProbeError
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / "mesos" / name).read_text())


def fixture_text(name: str) -> str:
    return (FIXTURES / "zookeeper" / name).read_text()


class FourLetterServer:
    """Answers ZooKeeper four-letter words from `answers`, one connection at a time (on
    127.0.0.1 and a free port unless told otherwise)."""

    def __init__(self, answers: dict[str, str], address: str = "127.0.0.1", port: int = 0) -> None:
        self.answers = answers
        self.commands: list[str] = []
        self.address = address
        self._sock = socket.socket()
        self._sock.bind((address, port))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                if self._stop.is_set():
                    break
                conn.settimeout(1)
                try:
                    command = conn.recv(4).decode()
                    self.commands.append(command)
                    conn.sendall(self.answers.get(command, "").encode())
                except OSError:
                    pass

    def stop(self) -> None:
        """After this, connections to the port are refused (the member is down)."""
        if not self._stop.is_set():
            self._stop.set()
            with contextlib.suppress(OSError):  # wake the accept() at once
                socket.create_connection((self.address, self.port), timeout=0.5).close()
            self._thread.join()
            self._sock.close()


def zk_answers(
    mode: str, *, size: int = 3, synced: int | None = None, learners: int | None = None
) -> dict[str, str]:
    """ruok/srvr/mntr answers of a ZooKeeper 3.8 member in `mode` (real captured output)."""
    if mode == "not_serving":
        text = fixture_text("not_serving.txt")
        return {"ruok": "imok", "srvr": text, "mntr": text}
    srvr = fixture_text(f"srvr_{mode}.txt")
    mntr = fixture_text("mntr_leader.txt" if mode == "leader" else "mntr_follower.txt")
    if mode == "leader":
        synced = size - 1 if synced is None else synced
        learners = synced if learners is None else learners
        mntr = (
            mntr.replace("zk_synced_followers\t2", f"zk_synced_followers\t{synced}")
            .replace("zk_learners\t2", f"zk_learners\t{learners}")
            .replace("zk_quorum_size\t3", f"zk_quorum_size\t{size}")
        )
    return {"ruok": "imok", "srvr": srvr, "mntr": mntr}


@dataclass
class FakeMaster:
    machine: Machine
    id: str
    running: bool = True
    elected: bool = False
    recovered: float = 1.0
    quorum_flag: str = "2"
    redirect_to: str | None = None  # machine name the master redirects to; None: 503
    #: This master's /version answer; None: FakeMesos.version.
    version: dict[str, Any] | None = None


@dataclass
class FakeAgent:
    machine: Machine
    id: str
    running: bool = True
    listed: bool = True  # in the leader's slaves[]
    active: bool = True
    recovered_only: bool = False  # in the leader's recovered_slaves[] instead
    #: What the agent advertises as its hostname (real Mesos: --hostname or its own lookup,
    #: "localhost" in a recorded run); None: the machine name.
    hostname: str | None = None
    slave_registered: float = 1.0
    #: This agent's /version answer; None: FakeMesos.version.
    version: dict[str, Any] | None = None
    resources: dict[str, Any] = field(
        default_factory=lambda: {
            "cpus": 2.0,
            "gpus": 0.0,
            "mem": 2048.0,
            "disk": 10240.0,
            "ports": "[31000-32000]",
        }
    )


class FakeMesos:
    """Masters, agents and the /mesos znode, answering like Mesos 1.11 does."""

    def __init__(self, machines: list[Machine]) -> None:
        masters = [m for m in machines if Role.MASTER in m.roles]
        quorum = str(len(masters) // 2 + 1)
        self.masters = {
            m.name: FakeMaster(m, f"master-uuid-{i}", quorum_flag=quorum)
            for i, m in enumerate(masters, 1)
        }
        agents = [m for m in machines if Role.AGENT in m.roles]
        self.agents = {m.name: FakeAgent(m, f"master-uuid-1-S{i}") for i, m in enumerate(agents)}
        self.znodes: dict[str, bytes] = {"log_replicas": b""}
        self.zk_error: str | None = None
        self._seq = 0
        self.requests: list[tuple[str, int, str]] = []
        #: The masters' /version answer (a real 1.12.0 build by default).
        self.version = fixture_json("master_version.json")
        for name in self.masters:
            self.join(name)

    # ---- scenario verbs
    def join(self, name: str) -> None:
        """The master contends: a new json.info_ member with the next sequence number."""
        self._seq += 1
        info = fixture_json("master_znode_info.json")
        master = self.masters[name]
        info.update(hostname=name, id=master.id, pid=self.pid(name))
        info["address"].update(hostname=name, ip=master.machine.address)
        self.znodes[f"json.info_{self._seq:010d}"] = json.dumps(info).encode()

    def expire(self, name: str) -> None:
        """The master's ZooKeeper session expired: its member znode is gone."""
        pid = self.pid(name).encode()
        self.znodes = {k: v for k, v in self.znodes.items() if pid not in v}

    def elect(self, name: str | None) -> None:
        for master in self.masters.values():
            master.elected = master.machine.name == name
            master.redirect_to = name if master.running else None

    def stop_master(self, name: str) -> None:
        self.masters[name].running = False
        self.masters[name].elected = False

    def pid(self, name: str) -> str:
        return f"master@{self.masters[name].machine.address}:5050"

    def leader(self) -> FakeMaster | None:
        elected = [m for m in self.masters.values() if m.running and m.elected]
        return elected[0] if elected else None

    # ---- probes
    def zk_children(self, hosts: list[str], path: str) -> dict[str, bytes]:
        if self.zk_error:
            raise ProbeError(self.zk_error)
        assert path == "/mesos"
        return dict(self.znodes)

    def http_get(self, address: str, port: int, path: str) -> tuple[int, dict[str, str], bytes]:
        self.requests.append((address, port, path))
        for master in self.masters.values():
            if master.machine.address == address and port == 5050:
                return self._master_get(master, path)
        for agent in self.agents.values():
            if agent.machine.address == address and port == 5051:
                return self._agent_get(agent, path)
        raise ProbeError("connection refused")

    def _master_get(self, master: FakeMaster, path: str) -> tuple[int, dict[str, str], bytes]:
        if not master.running:
            raise ProbeError("connection refused")
        name = master.machine.name
        if path == "/master/health":
            return 200, {}, b""
        if path == "/version":
            return _json(master.version or self.version)
        if path == "/metrics/snapshot?timeout=5secs":
            data = fixture_json(
                "metrics_master_leader.json" if master.elected else "metrics_master_nonleader.json"
            )
            data["master/elected"] = 1.0 if master.elected else 0.0
            data["registrar/log/recovered"] = master.recovered
            return _json(data)
        if path == "/master/flags":
            data = fixture_json("master_flags.json")
            data["flags"].update(
                quorum=master.quorum_flag, hostname=name, ip=master.machine.address
            )
            return _json(data)
        if path == "/master/redirect":
            if master.redirect_to is None:
                return 503, {}, b"No leader elected"
            answer = fixture_json("master_redirect_307.json")
            return answer["status"], {"location": f"//{master.redirect_to}:5050"}, b""
        if path == "/master/state":
            if master.elected:
                return _json(self._leader_state(master))
            if master.redirect_to is None:
                return 503, {}, b"No leader elected"
            answer = fixture_json("master_state_nonleader_307.json")
            return answer["status"], {"location": f"//{master.redirect_to}:5050{path}"}, b""
        return 404, {}, b""

    def _leader_state(self, master: FakeMaster) -> dict[str, Any]:
        state = fixture_json("master_state_leader.json")
        template = state["slaves"][0]
        name = master.machine.name
        pid = self.pid(name)
        state.update(id=master.id, pid=pid, hostname=name, leader=pid)
        state["leader_info"].update(id=master.id, pid=pid, hostname=name)
        state["flags"].update(quorum=master.quorum_flag, hostname=name, ip=master.machine.address)
        slaves, recovered = [], []
        for agent in self.agents.values():
            if agent.recovered_only:
                recovered.append(
                    {"id": agent.id, "hostname": agent.hostname or agent.machine.name, "port": 5051}
                )
            elif agent.listed:
                entry = copy.deepcopy(template)
                entry.update(
                    id=agent.id,
                    hostname=agent.hostname or agent.machine.name,
                    active=agent.active,
                    deactivated=not agent.active,
                    pid=f"slave(1)@{agent.machine.address}:5051",
                    resources=dict(agent.resources),
                )
                slaves.append(entry)
        state["slaves"], state["recovered_slaves"] = slaves, recovered
        state["activated_slaves"] = float(sum(s["active"] for s in slaves))
        state["deactivated_slaves"] = float(sum(not s["active"] for s in slaves))
        return state

    def _agent_get(self, agent: FakeAgent, path: str) -> tuple[int, dict[str, str], bytes]:
        if not agent.running:
            raise ProbeError("connection refused")
        if path == "/slave(1)/state":
            data = fixture_json("agent_state.json")
            leader = self.leader()
            data.update(
                id=agent.id if agent.listed else "",
                hostname=agent.machine.name,
                pid=f"slave(1)@{agent.machine.address}:5051",
                resources=dict(agent.resources),
            )
            if leader:
                data["master_hostname"] = leader.machine.name
            else:
                data.pop("master_hostname")
            return _json(data)
        if path == "/version":
            return _json(agent.version or self.version)
        if path == "/metrics/snapshot?timeout=5secs":
            data = fixture_json("metrics_agent.json")
            data["slave/registered"] = agent.slave_registered
            return _json(data)
        return 404, {}, b""


def _json(data: Any) -> tuple[int, dict[str, str], bytes]:
    return 200, {"content-type": "application/json"}, json.dumps(data).encode()


class FakeProbes(DirectProbes):
    """Real sockets for reachability and four-letter words (to local fakes), Mesos from
    FakeMesos."""

    def __init__(self, mesos: FakeMesos, endpoints: dict[tuple[str, int], tuple[str, int]]):
        super().__init__(timeout_s=1.0, endpoints=endpoints)
        self.mesos = mesos

    def http_get(self, address: str, port: int, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.mesos.http_get(address, port, path)

    def zk_children(self, hosts: list[str], path: str) -> dict[str, bytes]:
        return self.mesos.zk_children(hosts, path)


def demo_spec(masters: int = 3, agents: int = 2, **extra: Any) -> ClusterSpec:
    return ClusterSpec.model_validate(
        {
            "name": "demo",
            "masters": {"count": masters},
            "agents": {"count": agents, "resources": {"cpus": 2, "mem": 2048, "disk": 10240}},
            # What the fakes' /version answers (a recorded 1.12.0 build).
            "mesos": {"version": "1.12.0"},
            **extra,
        }
    )


def demo_machines(spec: ClusterSpec) -> list[Machine]:
    """Masters at 10.0.3.11.., agents at 10.0.3.21.. (never dialled: endpoints remap them)."""
    machines, next_master, next_agent = [], 11, 21
    for planned in plan_machines(spec):
        if Role.MASTER in planned.roles or Role.ZOOKEEPER in planned.roles:
            address, next_master = f"10.0.3.{next_master}", next_master + 1
        else:
            address, next_agent = f"10.0.3.{next_agent}", next_agent + 1
        machines.append(
            Machine(
                name=planned.name,
                roles=planned.roles,
                address=address,
                ssh_user="vagrant",
                strict_host_keys=False,
                zookeeper_id=planned.zookeeper_id,
            )
        )
    return machines


class FakeCluster:
    """A healthy cluster: ZooKeeper member 1 leads, master 1 is elected, agents active."""

    def __init__(self, masters: int = 3, agents: int = 2) -> None:
        self.spec = demo_spec(masters, agents)
        self.machines = demo_machines(self.spec)
        self.ssh_listener = socket.socket()
        self.ssh_listener.bind(("127.0.0.1", 0))
        self.ssh_listener.listen(64)  # connects succeed from the backlog; nothing is read
        ssh = self.ssh_listener.getsockname()
        self.zookeepers: dict[str, FourLetterServer] = {}
        endpoints: dict[tuple[str, int], tuple[str, int]] = {}
        members = [m for m in self.machines if Role.ZOOKEEPER in m.roles]
        for index, member in enumerate(members):
            mode = "standalone" if len(members) == 1 else ("leader" if index == 0 else "follower")
            server = FourLetterServer(zk_answers(mode, size=len(members)))
            self.zookeepers[member.name] = server
            endpoints[(member.address, 2181)] = ("127.0.0.1", server.port)
        for machine in self.machines:
            endpoints[(machine.address, 22)] = ssh
        self.mesos = FakeMesos(self.machines)
        self.mesos.elect(self.machines[0].name)
        self.probes = FakeProbes(self.mesos, endpoints)

    def machine(self, name: str) -> Machine:
        return next(m for m in self.machines if m.name == name)

    def set_zk(self, name: str, mode: str, **kwargs: Any) -> None:
        self.zookeepers[name].answers = zk_answers(mode, size=len(self.zookeepers), **kwargs)

    def unreachable(self, name: str) -> None:
        """SSH port of this machine refuses connections."""
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        self.probes.endpoints[(self.machine(name).address, 22)] = ("127.0.0.1", port)

    def close(self) -> None:
        for server in self.zookeepers.values():
            server.stop()
        self.ssh_listener.close()


# ---- helpers for asserting on reports


def run(cluster: FakeCluster) -> HealthReport:
    return check_cluster(cluster.spec, cluster.machines, probes=cluster.probes)


def one(report: HealthReport, layer: str, name: str, host: str | None = None) -> CheckResult:
    found = [c for c in report.checks if (c.layer, c.name, c.host) == (layer, name, host)]
    assert len(found) == 1, f"{layer}/{name}/{host}: {found}\n{report.checks}"
    return found[0]


def failed(report: HealthReport, layer: str) -> set[tuple[str, str | None]]:
    return {(c.name, c.host) for c in report.checks if c.layer == layer and not c.ok}


def statuses(report: HealthReport) -> list[tuple[str, str]]:
    return [(s.layer, s.status) for s in report.layers()]


ALL_OK = [
    ("reachability", "ok"),
    ("zookeeper", "ok"),
    ("mesos_masters", "ok"),
    ("mesos_agents", "ok"),
]
MASTERS = ["demo-master-1", "demo-master-2", "demo-master-3"]
AGENTS = ["demo-agent-1", "demo-agent-2"]
