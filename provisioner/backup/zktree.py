"""The cluster's znodes in a backup: every persistent znode except ZooKeeper's own
(`/zookeeper`) and the masters' (`/mesos`: election and log-replica members, which the
masters recreate). Data and ACLs are kept; ephemeral znodes belong to live sessions and are not.

Restoring creates each missing znode with a temporary ACL giving the cluster's digest
identity every permission (so children can be created under a parent whose final ACL would
forbid it), then sets the archived ACLs from the leaves up.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ProvisionError

#: Subtrees a backup leaves out (see the module docstring).
SKIPPED = ("/zookeeper", "/mesos")


class ZooKeeperError(ProvisionError):
    """ZooKeeper could not be reached, read or written."""


@dataclass(frozen=True)
class Znode:
    path: str
    data: bytes
    #: (scheme, id, perms) entries, as ZooKeeper reports them (digest ids are hashed).
    acl: tuple[tuple[str, str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "data": base64.b64encode(self.data).decode(),
            "acl": [list(entry) for entry in self.acl],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Znode:
        return cls(
            path=str(data["path"]),
            data=base64.b64decode(data["data"]),
            acl=tuple((str(s), str(i), int(p)) for s, i, p in data["acl"]),
        )


def _skipped(path: str) -> bool:
    return any(path == top or path.startswith(top + "/") for top in SKIPPED)


@contextlib.contextmanager
def session(
    hosts: list[str], digests: list[tuple[str, str]], timeout_s: float = 10
) -> Iterator[Any]:
    """A started kazoo client on `hosts` ("ip:port"), authenticated with every digest."""
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry

    logger = logging.getLogger("dcos_provision.backup.kazoo")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    client = KazooClient(
        hosts=",".join(hosts),
        timeout=timeout_s,
        logger=logger,
        connection_retry=KazooRetry(max_tries=3, delay=0.5),
        command_retry=KazooRetry(max_tries=3, delay=0.5),
    )
    try:
        client.start(timeout=timeout_s)
    except Exception as exc:  # kazoo's timeout is not a KazooException
        raise ZooKeeperError(
            f"no ZooKeeper session with {', '.join(hosts)} within {timeout_s:g}s "
            f"({type(exc).__name__})",
            hint="check `dcos-provision status`: the ZooKeeper layer must be up",
        ) from None
    try:
        for user, secret in digests:
            client.add_auth("digest", f"{user}:{secret}")
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.stop()
            client.close()


def dump(client: Any, root: str = "/") -> tuple[list[Znode], list[str]]:
    """(znodes under `root`, `root` included, parents before children; paths that could not
    be read and why)."""
    from kazoo.exceptions import NoAuthError, NoNodeError

    nodes: list[Znode] = []
    unreadable: list[str] = []

    def visit(path: str) -> None:
        if _skipped(path):
            return
        if path != "/":
            try:
                data, stat = client.get(path)
                acls, _ = client.get_acls(path)
            except NoNodeError:
                return  # gone meanwhile
            except NoAuthError:
                unreadable.append(f"{path}: no read permission for the cluster's identities")
                return
            if stat.ephemeralOwner:
                return
            acl = tuple((a.id.scheme, a.id.id, int(a.perms)) for a in acls)
            nodes.append(Znode(path, data or b"", acl))
        try:
            children = sorted(client.get_children(path))
        except NoNodeError:
            return
        except NoAuthError:
            unreadable.append(f"{path}: cannot list its children (no read permission)")
            return
        for child in children:
            visit(f"{path.rstrip('/')}/{child}")

    visit(root)
    return nodes, unreadable


def conflicts(client: Any, nodes: list[Znode]) -> list[str]:
    """Existing znodes whose data or ACL differ from the archive's (restore would overwrite)."""
    from kazoo.exceptions import NoAuthError, NoNodeError

    found = []
    for node in nodes:
        try:
            data, _stat = client.get(node.path)
            acls, _ = client.get_acls(node.path)
        except NoNodeError:
            continue
        except NoAuthError:
            found.append(f"{node.path}: exists and the cluster's identities cannot read it")
            continue
        acl = tuple((a.id.scheme, a.id.id, int(a.perms)) for a in acls)
        if (data or b"") != node.data:
            found.append(f"{node.path}: its data differ from the backup's")
        elif set(acl) != set(node.acl):
            found.append(f"{node.path}: its ACL differs from the backup's")
    return found


def write(client: Any, nodes: list[Znode], own: tuple[str, str] | None) -> list[str]:
    """Create or overwrite every znode with its data and ACL; the paths written."""
    from kazoo.security import ACL, Id, make_digest_acl, make_digest_acl_credential

    if own is not None:
        user, secret = own
        temporary = [make_digest_acl(user, secret, all=True)]
        own_id = make_digest_acl_credential(user, secret)
    else:
        from kazoo.security import OPEN_ACL_UNSAFE

        temporary, own_id = list(OPEN_ACL_UNSAFE), None
    written = []
    for node in nodes:  # parents first
        if client.exists(node.path):
            if own_id is not None:
                client.set_acls(node.path, temporary)
            client.set(node.path, node.data)
        else:
            client.create(node.path, node.data, acl=temporary, makepath=True)
        written.append(node.path)
    for node in reversed(nodes):  # leaves first: a parent's ACL may forbid us its children
        acl = [ACL(perms, Id(scheme, ident)) for scheme, ident, perms in node.acl]
        client.set_acls(node.path, acl)
    return written
