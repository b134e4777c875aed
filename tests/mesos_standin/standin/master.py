"""Master state: leadership, registry quorum, registered agents, pings and counters.

Election itself happens in contender.py; this module holds what an elected (or following)
master knows and the rules for agents: registration, re-registration after failover, pings,
deactivation on missed pings and removal as unreachable after agent_ping_timeout x max.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from typing import Any

from . import log
from .flags import Flags
from .http_util import call
from .maintenance import Maintenance, machine_key
from .values import format_duration, ip_as_uint32, parse_pid

CAPABILITIES = ["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"]
PING_INTERVAL = 2.0  # seconds between ping rounds; a missed ping deactivates the agent
COUNTERS = (
    "slave_registrations",
    "slave_reregistrations",
    "slave_removals",
    "dropped_messages",
    "slave_shutdowns_scheduled",
)


@dataclasses.dataclass
class AgentRecord:
    id: str
    pid: str
    hostname: str
    port: int
    resources: dict[str, Any]
    attributes: dict[str, Any]
    version: str
    capabilities: list[str]
    registered_time: float
    reregistered_time: float | None = None
    active: bool = True
    last_pong: float = dataclasses.field(default_factory=time.monotonic)

    @property
    def ip(self) -> str:
        return parse_pid(self.pid)[1]

    @property
    def machine(self) -> dict[str, str]:
        """The agent's MachineID: its SlaveInfo hostname and the IP of its PID."""
        return {"hostname": self.hostname, "ip": self.ip}


class Master:
    """One master process' view of the cluster; every method is safe to call from any thread."""

    def __init__(self, flags: Flags, version: str, ip: str, port: int, hostname: str) -> None:
        self.flags = flags
        self.version = version
        self.id = str(uuid.uuid4())
        self.ip, self.port, self.hostname = ip, port, hostname
        self.pid = f"master@{ip}:{port}"
        self.start_time = time.time()
        self.started = time.monotonic()
        self.lock = threading.RLock()
        self.elected = False
        self.elected_time: float | None = None
        self.leader: dict[str, Any] | None = None
        self.registry_recovered = False
        self.uses_log = flags.get("registry") != "in_memory"
        self.quorum = int(flags.get("quorum") or 1)
        self.ensemble_size: int | None = 1 if self.uses_log and "zk" not in flags else None
        self.no_quorum_since: float | None = None
        self.agents: dict[str, AgentRecord] = {}
        self.unreachable: dict[str, AgentRecord] = {}
        self.removed: set[str] = set()
        self.next_agent = 0
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.maintenance = Maintenance()
        self.ping_timeout = float(flags.get("agent_ping_timeout"))
        self.unreachable_after = self.ping_timeout * int(flags.get("max_agent_ping_timeouts"))

    def info(self) -> dict[str, Any]:
        """MasterInfo as the contender writes it to ZooKeeper (keys sorted when serialised)."""
        return {
            "address": {"hostname": self.hostname, "ip": self.ip, "port": self.port},
            "capabilities": [{"type": name} for name in CAPABILITIES],
            "hostname": self.hostname,
            "id": self.id,
            "ip": ip_as_uint32(self.ip),
            "pid": self.pid,
            "port": self.port,
            "version": self.version,
        }

    def info_json(self) -> bytes:
        return json.dumps(self.info(), sort_keys=True, separators=(",", ":")).encode()

    # Leadership and the registry -------------------------------------------------------------

    def become_leader(self) -> None:
        with self.lock:
            if self.elected:
                return
            self.elected = True
            self.elected_time = time.time()
            self.leader = self.info()
        log.info("Elected as the leading master!")
        self.tick()

    def set_leader(self, info: dict[str, Any] | None) -> None:
        with self.lock:
            if info != self.leader:
                self.leader = info
                log.info(
                    f"The newly elected leader is {info['pid']} with id {info.get('id')}"
                    if info
                    else "No master is currently leading"
                )

    def set_ensemble(self, size: int | None) -> None:
        with self.lock:
            self.ensemble_size = size

    def log_recovered(self) -> bool:
        """registrar/log/recovered: this replica sees a quorum of live replicas."""
        if not self.uses_log:
            return True
        return self.ensemble_size is not None and self.ensemble_size >= self.quorum

    def tick(self) -> None:
        """Registry recovery of the leader; without a quorum for too long it exits like Mesos."""
        timeout = float(self.flags.get("registry_fetch_timeout"))
        with self.lock:
            if not self.elected:
                return
            now = time.monotonic()
            if self.log_recovered():
                self.no_quorum_since = None
                if not self.registry_recovered:
                    self.registry_recovered = True
                    log.info("Recovered registrar; the master is ready to admit agents")
                return
            if self.no_quorum_since is None:
                self.no_quorum_since = now
                log.warning(
                    f"The replicated log sees {self.ensemble_size or 0} of the "
                    f"{self.quorum} replicas it needs"
                )
            if now - self.no_quorum_since < timeout:
                return
            if not self.registry_recovered:
                log.fatal(
                    "Recovery failed: Failed to recover registrar: Failed to perform "
                    f"fetch within {format_duration(timeout)}"
                )
            log.fatal(
                f"Registrar aborting: Failed to perform store within {format_duration(timeout)}"
            )

    # Agents ------------------------------------------------------------------------------------

    def register(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(Re-)registration of an agent; returns the HTTP status and body for the agent."""
        with self.lock:
            if not self.elected or not self.registry_recovered:
                self.counters["dropped_messages"] += 1
                reason = "Not the leading master" if not self.elected else "Not recovered yet"
                return 503, {"error": reason}
            pid, hostname = str(payload["pid"]), str(payload["hostname"])
            record = AgentRecord(
                id=str(payload.get("id") or ""),
                pid=pid,
                hostname=hostname,
                port=int(payload["port"]),
                resources=dict(payload["resources"]),
                attributes=dict(payload.get("attributes") or {}),
                version=str(payload.get("version", "")),
                capabilities=list(payload.get("capabilities") or []),
                registered_time=time.time(),
            )
            if self.maintenance.is_down(record.machine):
                log.warning(
                    f"Refusing registration of agent at {pid} because the machine "
                    f"'{record.machine}' that it is running on is `DOWN`"
                )
                return 409, {"shutdown": "Machine is `DOWN`"}
            if record.id:
                return self._reregister(record)
            for stale in [a for a in self.agents.values() if a.pid == pid]:
                self._remove(stale, "a new agent registered at the same address")
            record.id = f"{self.id}-S{self.next_agent}"
            self.next_agent += 1
            self.agents[record.id] = record
            self.counters["slave_registrations"] += 1
            log.info(f"Registered agent {record.id} at {pid} ({hostname})")
            return 200, self._registered(record)

    def _reregister(self, record: AgentRecord) -> tuple[int, dict[str, Any]]:
        if record.id in self.removed:
            log.warning(
                f"Agent {record.id} at {record.pid} attempted to re-register after "
                "removal; shutting it down"
            )
            return 409, {"shutdown": "Agent attempted to re-register after removal"}
        previous = self.agents.get(record.id) or self.unreachable.pop(record.id, None)
        if previous is not None:
            record.registered_time = previous.registered_time
        record.reregistered_time = time.time()
        self.agents[record.id] = record
        self.counters["slave_reregistrations"] += 1
        log.info(f"Re-registered agent {record.id} at {record.pid} ({record.hostname})")
        return 200, self._registered(record)

    def _registered(self, record: AgentRecord) -> dict[str, Any]:
        return {
            "slave_id": record.id,
            "master_id": self.id,
            "master_pid": self.pid,
            "ping_timeout_secs": self.unreachable_after,
        }

    def _remove(self, record: AgentRecord, reason: str) -> None:
        self.agents.pop(record.id, None)
        self.removed.add(record.id)
        self.counters["slave_removals"] += 1
        log.info(f"Removed agent {record.id} ({record.hostname}): {reason}")

    def shut_down_machines(self, machines: list[dict[str, Any]], reason: str) -> None:
        """machine/down: tell agents on these machines to shut down, then remove them."""
        keys = {machine_key(machine) for machine in machines}
        with self.lock:
            doomed = [a for a in self.agents.values() if machine_key(a.machine) in keys]
            for record in doomed:
                self._remove(record, reason)
        for record in doomed:
            self._send_shutdown(record.pid, reason)

    def _send_shutdown(self, pid: str, reason: str) -> None:
        _, ip, port = parse_pid(pid)

        def send() -> None:
            try:
                call(
                    "POST",
                    ip,
                    port,
                    "/slave(1)/_standin/shutdown",
                    {"master_pid": self.pid, "message": reason},
                )
            except OSError as err:
                log.warning(f"Failed to send shutdown to {pid}: {err}")

        threading.Thread(target=send, daemon=True).start()

    def start_pinger(self) -> None:
        threading.Thread(target=self._ping_forever, name="pinger", daemon=True).start()

    def _ping_forever(self) -> None:
        while True:
            time.sleep(PING_INTERVAL)
            if self.elected:
                self.ping_round()

    def ping_round(self) -> None:
        with self.lock:
            targets = [(a.id, a.pid) for a in self.agents.values()]
        results: dict[str, bool] = {}

        def ping(agent_id: str, pid: str) -> None:
            _, ip, port = parse_pid(pid)
            try:
                status, body = call(
                    "POST",
                    ip,
                    port,
                    "/slave(1)/_standin/ping",
                    {"master_pid": self.pid, "slave_id": agent_id},
                    timeout=PING_INTERVAL,
                )
                results[agent_id] = (
                    status == 200 and isinstance(body, dict) and body.get("slave_id") == agent_id
                )
            except OSError:
                results[agent_id] = False

        threads = [threading.Thread(target=ping, args=target, daemon=True) for target in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(PING_INTERVAL + 1)
        now = time.monotonic()
        with self.lock:
            for agent_id, answered in results.items():
                record = self.agents.get(agent_id)
                if record is None:
                    continue
                if answered:
                    record.last_pong = now
                    if not record.active:
                        record.active = True
                        log.info(f"Agent {agent_id} ({record.hostname}) answers pings again")
                    continue
                if record.active:
                    record.active = False
                    log.info(
                        f"Agent {agent_id} at {record.pid} ({record.hostname}) "
                        "disconnected; deactivating it"
                    )
                if now - record.last_pong >= self.unreachable_after:
                    del self.agents[agent_id]
                    self.unreachable[agent_id] = record
                    self.counters["slave_removals"] += 1
                    log.info(
                        f"Marking agent {agent_id} ({record.hostname}) unreachable: no "
                        f"pong for {format_duration(self.unreachable_after)}"
                    )
