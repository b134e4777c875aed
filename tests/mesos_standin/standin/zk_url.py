"""ZooKeeper URLs as Mesos parses them (include/mesos/zookeeper/url.hpp); no kazoo needed."""

from __future__ import annotations

import dataclasses

CHROOT_ERROR = "Expecting a (chroot) path for ZooKeeper ('/' is not supported)"


@dataclasses.dataclass(frozen=True)
class ZkUrl:
    servers: str
    path: str
    credentials: str | None = None  # "user:password" for the digest scheme


def parse_url(url: str) -> ZkUrl:
    """zookeeper/url.hpp: `zk://[user:pass@]host:port,.../path`; the path defaults to `/`."""
    text = url.strip()
    if not text.startswith("zk://"):
        raise ValueError("Expecting 'zk://' at the beginning of the URL")
    rest = text[len("zk://") :]
    slash = rest.find("/")
    hosts, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if "@" in hosts:
        auth, hosts = hosts.rsplit("@", 1)
        if ":" not in auth:
            raise ValueError("Expecting 'username:password' in the URL")
        return ZkUrl(hosts, path.rstrip("/") or "/", auth)
    return ZkUrl(hosts, path.rstrip("/") or "/")
