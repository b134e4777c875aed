"""Read znodes over one already-open stream (a socket or an SSH channel), without kazoo's
client.

kazoo's client dials its own sockets and runs its own threads; a probe needs one session of
a few requests (connect, getChildren, getData, getACL, close), spoken here with kazoo's own
serializers: through SSH there is no other way, and straight over the network it saves a
`status` the client's import and threads (about 0.1 s of CPU).
"""

from __future__ import annotations

import struct
from typing import Any

from kazoo.exceptions import EXCEPTIONS, NoNodeError
from kazoo.protocol.serialization import (
    Close,
    Connect,
    GetACL,
    GetChildren,
    GetData,
    int_struct,
    reply_header_struct,
)


class WireError(Exception):
    """ZooKeeper's answer cannot be used; the message says what was seen."""


class MissingZnode(WireError):
    """The znode asked for does not exist (every member would say the same)."""


_MAX_PACKET = 4 * 1024 * 1024
_REQUEST_HEADER = struct.Struct("!ii")


def _recv_exact(stream: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.recv(size - len(data))
        if not chunk:
            raise WireError("ZooKeeper closed the connection (is it serving requests?)")
        data += chunk
    return data


def _recv_packet(stream: Any) -> bytes:
    (length,) = int_struct.unpack(_recv_exact(stream, int_struct.size))
    if length < 0 or length > _MAX_PACKET:
        raise WireError(f"ZooKeeper sent a malformed packet (length {length})")
    return _recv_exact(stream, length)


def _send_packet(stream: Any, payload: bytes) -> None:
    stream.sendall(int_struct.pack(len(payload)) + payload)


class _Session:
    def __init__(self, stream: Any, timeout_ms: int) -> None:
        self.stream = stream
        self.xid = 0
        _send_packet(stream, bytes(Connect(0, 0, timeout_ms, 0, b"\x00" * 16, False).serialize()))
        answer, _ = Connect.deserialize(_recv_packet(stream), 0)
        if answer.time_out <= 0:
            raise WireError("ZooKeeper refused the session")

    def call(self, request: Any) -> tuple[bytes, int]:
        self.xid += 1
        header = _REQUEST_HEADER.pack(self.xid, request.type)
        _send_packet(self.stream, header + bytes(request.serialize()))
        while True:
            reply = _recv_packet(self.stream)
            xid, _zxid, err = reply_header_struct.unpack_from(reply, 0)
            if xid == self.xid:
                break  # anything else is a ping or watch event we did not ask for
        if err:
            raise EXCEPTIONS[err]()
        return reply, reply_header_struct.size

    def close(self) -> None:
        self.xid += 1
        _send_packet(self.stream, _REQUEST_HEADER.pack(self.xid, Close.type))


def read_children(stream: Any, path: str, timeout_ms: int = 3000) -> dict[str, bytes]:
    """{child name: data} of `path`; children that vanish meanwhile are left out."""
    session = _Session(stream, timeout_ms)
    try:
        reply, offset = session.call(GetChildren(path, False))
    except NoNodeError:
        raise MissingZnode(f"znode {path} does not exist") from None
    children: dict[str, bytes] = {}
    for name in GetChildren.deserialize(reply, offset):
        try:
            reply, offset = session.call(GetData(f"{path.rstrip('/')}/{name}", False))
        except NoNodeError:
            continue
        data, _stat = GetData.deserialize(reply, offset)
        children[name] = data or b""
    session.close()
    return children


def read_acls(stream: Any, path: str, timeout_ms: int = 3000) -> list[tuple[str, str, int]]:
    """The ACL of `path` as (scheme, id, perms) entries."""
    session = _Session(stream, timeout_ms)
    try:
        reply, offset = session.call(GetACL(path))
    except NoNodeError:
        raise MissingZnode(f"znode {path} does not exist") from None
    acls, _stat = GetACL.deserialize(reply, offset)
    session.close()
    return [(acl.id.scheme, acl.id.id, int(acl.perms)) for acl in acls]
