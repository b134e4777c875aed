"""Agent behaviour: checkpointed id, master detection, (re-)registration with backoff, pings.

The id is checkpointed like Mesos does (`<work_dir>/meta/slaves/latest` -> `.../<id>`) so a
restarted agent re-registers under the same id, and a changed agent info is refused under
`--reconfiguration_policy=equal`.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from typing import Any

from . import log
from .auth import read_credential
from .flags import Flags
from .http_util import call
from .values import format_duration, parse_pid, reverse_lookup

CAPABILITIES = [
    "MULTI_ROLE",
    "HIERARCHICAL_ROLE",
    "RESERVATION_REFINEMENT",
    "RESOURCE_PROVIDER",
    "RESIZE_VOLUME",
    "AGENT_OPERATION_FEEDBACK",
    "AGENT_DRAINING",
    "TASK_RESOURCE_LIMITS",
]
MAX_BACKOFF = 60.0  # REGISTER_RETRY_INTERVAL_MAX
DEFAULT_PING_TIMEOUT = 75.0  # agent_ping_timeout x max_agent_ping_timeouts, until told otherwise
# Without pings for this long, ask the master whether it still knows us: stands in for the TCP
# link whose breaking tells a real agent at once that its master exited or restarted.
LINK_CHECK = 5.0


class Checkpoint:
    """`<work_dir>/meta/slaves/<id>/slave.info` plus the `latest` symlink that names the id."""

    def __init__(self, work_dir: str) -> None:
        self.slaves_dir = os.path.join(work_dir, "meta", "slaves")
        self.latest = os.path.join(self.slaves_dir, "latest")

    def recover(self) -> tuple[str, dict[str, Any] | None]:
        if os.path.islink(self.latest):
            agent_id = os.path.basename(os.readlink(self.latest).rstrip("/"))
        elif os.path.isfile(self.latest):
            with open(self.latest, encoding="utf-8") as handle:
                agent_id = handle.read().strip()
        else:
            return "", None
        try:
            with open(
                os.path.join(self.slaves_dir, agent_id, "slave.info"), encoding="utf-8"
            ) as handle:
                return agent_id, json.load(handle)
        except (OSError, ValueError):
            return agent_id, None

    def save(self, agent_id: str, info: dict[str, Any]) -> None:
        directory = os.path.join(self.slaves_dir, agent_id)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "slave.info"), "w", encoding="utf-8") as handle:
            json.dump(info, handle, sort_keys=True)
        if os.path.lexists(self.latest):
            os.remove(self.latest)
        os.symlink(directory, self.latest)

    def forget(self) -> None:
        if os.path.lexists(self.latest):
            os.remove(self.latest)


def incompatible(old: dict[str, Any], new: dict[str, Any], policy: str) -> bool:
    """slave/compatibility.cpp in short: `equal` wants the same info, `additive` allows growth."""
    keys = ("hostname", "port", "resources", "attributes")
    if policy == "equal":
        return any(old.get(key) != new.get(key) for key in keys)
    if old.get("hostname") != new.get("hostname") or old.get("port") != new.get("port"):
        return True
    for name, value in (old.get("attributes") or {}).items():
        if new["attributes"].get(name) != value:
            return True
    for name, value in (old.get("resources") or {}).items():
        current = new["resources"].get(name)
        if isinstance(value, float) and isinstance(current, float):
            if current < value:
                return True
        elif current != value:
            return True
    return False


class Agent:
    def __init__(
        self,
        flags: Flags,
        version: str,
        ip: str,
        port: int,
        hostname: str,
        resources: dict[str, Any],
        attributes: dict[str, Any],
    ) -> None:
        self.flags = flags
        self.version = version
        self.ip, self.port, self.hostname = ip, port, hostname
        self.pid = f"slave(1)@{ip}:{port}"
        self.resources, self.attributes = resources, attributes
        self.start_time = time.time()
        self.started = time.monotonic()
        self.checkpoint = Checkpoint(flags.get("work_dir"))
        self.id = ""
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.detected: dict[str, Any] | None = None  # MasterInfo of the detected leader
        self.master_hostname: str | None = None
        self.registered_with: str | None = None  # master PID we are registered with
        self.last_ping = time.monotonic()
        self.last_link_check = 0.0
        self.ping_timeout = DEFAULT_PING_TIMEOUT

    def slave_info(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "port": self.port,
            "resources": self.resources,
            "attributes": self.attributes,
        }

    def recover(self) -> None:
        """Recover the checkpointed id; refuse an incompatible agent info like Mesos."""
        agent_id, old = self.checkpoint.recover()
        policy = self.flags.get("reconfiguration_policy")
        if agent_id and old is not None and incompatible(old, self.slave_info(), policy):
            log.fatal(
                "Failed to perform recovery: Incompatible agent info detected.\n"
                f"Old agent info: {json.dumps(old, sort_keys=True)}\n"
                f"New agent info: {json.dumps(self.slave_info(), sort_keys=True)}\n"
                "To remedy this do as follows:\n"
                f"Step 1: rm -f {self.checkpoint.latest}\n"
                "        This ensures agent doesn't recover old live executors.\n"
                "Step 2: Restart the agent."
            )
        self.id = agent_id
        if agent_id:
            log.info(f"Recovered agent {agent_id}")

    # Detection -------------------------------------------------------------------------------

    def on_detected(self, info: dict[str, Any] | None) -> None:
        with self.lock:
            self.detected = info
            self.registered_with = None
        if info is None:
            log.info("Lost leading master")
            self.master_hostname = None
        else:
            log.info(f"New master detected at {info.get('pid')}")
            self.master_hostname = reverse_lookup(parse_pid(info["pid"])[1])
        self.wake.set()

    # Registration loop -------------------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self._run, name="registration", daemon=True).start()

    def _run(self) -> None:
        factor = float(self.flags.get("registration_backoff_factor"))
        backoff, next_attempt, seen = factor, time.monotonic(), None
        while True:
            self.wake.wait(0.5)
            self.wake.clear()
            now = time.monotonic()
            if self._link_broken(now):
                with self.lock:
                    self.registered_with = None
                next_attempt = now + random.uniform(0, factor)
            with self.lock:
                master = self.detected
                if master is not seen:
                    seen, backoff = master, factor
                    next_attempt = now + random.uniform(0, backoff)
                if self.registered_with and now - self.last_ping > self.ping_timeout:
                    log.warning(
                        "No pings from master received within "
                        f"{format_duration(self.ping_timeout)}; re-registering"
                    )
                    self.registered_with = None
                    next_attempt = now + random.uniform(0, factor)
                due = master is not None and self.registered_with is None and now >= next_attempt
            if not due or master is None:
                continue
            if self._register(master):
                backoff = factor
            else:
                backoff = min(max(backoff * 2, factor), MAX_BACKOFF)
                next_attempt = time.monotonic() + random.uniform(0, backoff)

    def _link_broken(self, now: float) -> bool:
        """True when our master went away or no longer knows us (e.g. it restarted)."""
        with self.lock:
            master_pid = self.registered_with
            quiet = now - max(self.last_ping, self.last_link_check)
        if master_pid is None or quiet < LINK_CHECK:
            return False
        self.last_link_check = now
        _, ip, port = parse_pid(master_pid)
        try:
            status, body = call("GET", ip, port, f"/master/_standin/registered?slave_id={self.id}")
        except OSError as err:
            log.warning(f"Master {master_pid} is unreachable ({err}); re-registering")
            return True
        if status == 200 and isinstance(body, dict) and body.get("registered"):
            return False
        log.warning(f"Master {master_pid} does not know this agent any more; re-registering")
        return True

    def _register(self, master: dict[str, Any]) -> bool:
        _, ip, port = parse_pid(master["pid"])
        payload = {
            "id": self.id,
            "pid": self.pid,
            "version": self.version,
            "capabilities": CAPABILITIES,
            **self.slave_info(),
        }
        credential = read_credential(self.flags.get("credential"))
        if credential:  # stands for the CRAM-MD5 handshake of `--credential`
            payload["credential"] = credential
        try:
            status, body = call("POST", ip, port, "/master/_standin/register", payload, timeout=5)
        except OSError as err:
            log.warning(f"Failed to register with {master['pid']}: {err}")
            return False
        if status == 409 and isinstance(body, dict) and "shutdown" in body:
            self.shutdown(master["pid"], str(body["shutdown"]))
            return False
        if status != 200 or not isinstance(body, dict):
            log.info(f"Registration with {master['pid']} not accepted ({status}): {body}")
            return False
        with self.lock:
            if self.detected is not master:
                return False  # the leader changed meanwhile; register with the new one
            again = self.id == body["slave_id"]
            self.id = body["slave_id"]
            self.registered_with = master["pid"]
            self.last_ping = time.monotonic()
            self.ping_timeout = float(body.get("ping_timeout_secs") or DEFAULT_PING_TIMEOUT)
        self.checkpoint.save(self.id, self.slave_info())
        verb = "Re-registered" if again else "Registered"
        log.info(f"{verb} with master {master['pid']}; given agent ID {self.id}")
        return True

    def pinged(self, master_pid: str) -> dict[str, Any]:
        with self.lock:
            if master_pid == self.registered_with:
                self.last_ping = time.monotonic()
            return {"slave_id": self.id, "registered_with": self.registered_with}

    def shutdown(self, from_pid: str, message: str) -> bool:
        """ShutdownMessage from the master: forget the checkpointed id and exit (status 0)."""
        with self.lock:
            known = {self.registered_with, (self.detected or {}).get("pid")}
        if from_pid not in known:
            log.warning(
                f"Ignoring shutdown message from {from_pid} because it is not from the "
                "registered master"
            )
            return False
        log.info(f"Agent asked to shut down by {from_pid} because '{message}'")
        self.checkpoint.forget()
        threading.Timer(0.2, os._exit, args=(0,)).start()
        return True
