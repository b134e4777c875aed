"""The master's ZooKeeper side: candidacy, leader detection and the replicated-log membership.

Like Mesos, each master creates an EPHEMERAL|SEQUENTIAL `json.info_` member holding its
MasterInfo and, with the replicated log, a `log_replicas/` member holding its replica PID. The
smallest member leads. A leader that loses its session or its znode exits; a follower contends
again.
"""

from __future__ import annotations

import threading
import time

from kazoo.client import KazooState
from kazoo.exceptions import NoNodeError

from . import log
from .master import Master
from .zk import MASTER_LABEL, ZK_ERRORS, ZkUrl, leader_child, make_client, parse_master_info

LOST_CANDIDACY = "Lost candidacy as a leader... committing suicide!"


class Contender:
    def __init__(self, master: Master, url: ZkUrl, session_timeout: float) -> None:
        self.master = master
        self.url = url
        self.session_timeout = session_timeout
        self.replicas_path = f"{url.path}/log_replicas"
        self.client = make_client(url, session_timeout)
        self.member: str | None = None  # our json.info_ child
        self.replica: str | None = None  # our log_replicas child
        self.leader_child: str | None = None
        self.session_lost = False
        self.suspended_since: float | None = None
        self.wake = threading.Event()

    def start(self) -> None:
        self.client.add_listener(self._on_state)
        self.client.start_async()
        threading.Thread(target=self._run, name="contender", daemon=True).start()

    def _on_state(self, state: str) -> None:
        # Runs on kazoo's connection thread: only record what happened, the loop acts on it.
        if state == KazooState.LOST:
            self.session_lost = True
        if state == KazooState.CONNECTED:
            self.suspended_since = None
        elif self.suspended_since is None:
            self.suspended_since = time.monotonic()
        self.wake.set()

    def _watch(self, _event: object) -> None:
        self.wake.set()

    def _run(self) -> None:
        while True:
            self.wake.wait(1.0)
            self.wake.clear()
            self.master.tick()
            if self.session_lost:
                self._forget_session("ZooKeeper session expired")
            if not self.client.connected:
                since = self.suspended_since
                if since is not None and time.monotonic() - since > self.session_timeout:
                    # zookeeper/group.cpp expires a session locally after the timeout.
                    self._forget_session("ZooKeeper session expired locally")
                    self.suspended_since = time.monotonic()
                    self.client.stop()
                    self.client.start_async()
                continue
            try:
                self._step()
            except NoNodeError:
                self.wake.set()
            except ZK_ERRORS as err:
                log.warning(f"ZooKeeper error in the contender: {err!r}")

    def _forget_session(self, why: str) -> None:
        self.session_lost = False
        if self.master.elected:
            log.warning(why)
            log.fatal(LOST_CANDIDACY)
        if self.member or self.replica:
            log.info(f"{why}; lost candidacy as a follower, attempting to regain candidacy")
        self.member = self.replica = self.leader_child = None
        self.master.set_leader(None)
        self.master.set_ensemble(0 if self.master.uses_log else None)

    def _step(self) -> None:
        path = self.url.path
        client = self.client
        client.ensure_path(path)
        if self.master.uses_log:
            # Created before our member: on a fresh path the first master gets sequence 1.
            client.ensure_path(self.replicas_path)
            if self.replica is None:
                data = f"log-replica(1)@{self.master.ip}:{self.master.port}".encode()
                created = client.create(
                    f"{self.replicas_path}/", data, ephemeral=True, sequence=True
                )
                self.replica = created.rsplit("/", 1)[-1]
        if self.member is None:
            created = client.create(
                f"{path}/{MASTER_LABEL}_", self.master.info_json(), ephemeral=True, sequence=True
            )
            self.member = created.rsplit("/", 1)[-1]
            log.info(f"Created member {created} in ZooKeeper")
        children = client.get_children(path, watch=self._watch)
        if self.member not in children:
            if self.master.elected:
                log.fatal(LOST_CANDIDACY)
            log.info("Lost candidacy as a follower... Attempting to regain candidacy")
            self.member = None
            self.wake.set()
            return
        leader = leader_child(children)
        if leader == self.member:
            self.leader_child = leader
            self.master.become_leader()
        elif self.master.elected:
            log.fatal("Conceded leadership to another master... committing suicide!")
        elif leader != self.leader_child or self.master.leader is None:
            data, _ = client.get(f"{path}/{leader}")
            self.leader_child = leader
            self.master.set_leader(parse_master_info(str(leader), data))
        if self.master.uses_log:
            replicas = client.get_children(self.replicas_path, watch=self._watch)
            if self.replica not in replicas:
                self.replica = None
                self.wake.set()
            self.master.set_ensemble(len(replicas))
            self.master.tick()
