"""ZooKeeper pieces shared by masters and agents: URL parsing, clients, leader detection.

The layout is Mesos' (MESOS-FACTS §2): members are `json.info_<seq>` children holding MasterInfo
JSON, and the leader is the child with the smallest sequence number.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError, ZookeeperError
from kazoo.retry import KazooRetry
from kazoo.security import CREATOR_ALL_ACL, READ_ACL_UNSAFE

from . import log
from .zk_url import ZkUrl

MASTER_LABEL = "json.info"
ZK_ERRORS = (KazooException, ZookeeperError)


def make_client(url: ZkUrl, session_timeout: float) -> KazooClient:
    """A client that retries connecting forever; with credentials, Mesos' digest ACLs."""
    options: dict[str, Any] = {}
    if url.credentials:
        options["auth_data"] = [("digest", url.credentials)]
        options["default_acl"] = list(READ_ACL_UNSAFE) + list(CREATOR_ALL_ACL)
    return KazooClient(
        hosts=url.servers,
        timeout=session_timeout,
        connection_retry=KazooRetry(max_tries=-1, delay=0.2, max_delay=2.0),
        command_retry=KazooRetry(max_tries=2, delay=0.1, max_delay=1.0),
        **options,
    )


def sequence(child: str) -> int | None:
    """The numeric suffix of a group member (`json.info_0000000007` -> 7), None otherwise."""
    suffix = child.rsplit("_", 1)[-1]
    return int(suffix) if suffix.isdigit() else None


def leader_child(children: list[str]) -> str | None:
    """The member with the smallest sequence number, whatever its label (zookeeper/detector)."""
    members = [(sequence(child), child) for child in children if sequence(child) is not None]
    return min(members)[1] if members else None


def parse_master_info(child: str, data: bytes) -> dict[str, Any] | None:
    """MasterInfo from a member znode: JSON for `json.info_`, a bare PID for unlabelled ones."""
    text = data.decode("utf-8", errors="replace").strip()
    if child.startswith(MASTER_LABEL + "_"):
        try:
            info = json.loads(text)
        except ValueError:
            return None
        return info if isinstance(info, dict) and "pid" in info else None
    if "_" not in child and "@" in text:
        return {"pid": text}
    return None  # the binary `info_` label is not understood by the stand-in


class LeaderDetector:
    """Watches a group path and reports the leading master's MasterInfo (or None) on change."""

    def __init__(
        self, url: ZkUrl, session_timeout: float, on_change: Callable[[dict[str, Any] | None], None]
    ) -> None:
        self.url = url
        self.session_timeout = session_timeout
        self.on_change = on_change
        self.leader: dict[str, Any] | None = None
        self._leader_child: str | None = None
        self._wake = threading.Event()
        self._disconnected_since: float | None = None
        self.client = make_client(url, session_timeout)

    def start(self) -> None:
        self.client.add_listener(self._on_state)
        self.client.start_async()
        threading.Thread(target=self._run, name="detector", daemon=True).start()

    def _on_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            self._disconnected_since = None
        elif self._disconnected_since is None:
            self._disconnected_since = time.monotonic()
        self._wake.set()

    def _watch(self, _event: object) -> None:
        self._wake.set()

    def _set(self, child: str | None, info: dict[str, Any] | None) -> None:
        self._leader_child = child
        if info != self.leader:
            self.leader = info
            self.on_change(info)

    def _run(self) -> None:
        while True:
            self._wake.wait(1.0)
            self._wake.clear()
            if not self.client.connected:
                since = self._disconnected_since
                if since is not None and time.monotonic() - since > self.session_timeout:
                    # The session is gone by now; Mesos' detector then reports no leader.
                    self._set(None, None)
                continue
            try:
                self._refresh()
            except NoNodeError:
                self._wake.set()
            except ZK_ERRORS as err:
                log.warning(f"ZooKeeper error while detecting the leader: {err!r}")

    def _refresh(self) -> None:
        path = self.url.path
        if self.client.exists(path, watch=self._watch) is None:
            self._set(None, None)
            return
        children = self.client.get_children(path, watch=self._watch)
        child = leader_child(children)
        if child is None:
            self._set(None, None)
        elif child != self._leader_child or self.leader is None:
            data, _ = self.client.get(f"{path}/{child}")
            self._set(child, parse_master_info(child, data))
