"""TLS over any stream the probes open: a socket directly, anything else through a socket pair.

`ssl` wraps only real sockets; an SSH channel (`via_ssh`) is not one. For those, one end of a
socket pair is wrapped and two threads copy bytes between the other end and the stream.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from typing import Any

_CHUNK = 65536


def _pump(source: Any, target: Any, done: threading.Event) -> None:
    try:
        while not done.is_set():
            data = source.recv(_CHUNK)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        done.set()
        for end in (source, target):
            with contextlib.suppress(Exception):
                end.close()


def _bridge(stream: Any, timeout_s: float) -> socket.socket:
    """A socket whose bytes go to and come from `stream` (closed together)."""
    near, far = socket.socketpair()
    done = threading.Event()
    for source, target in ((far, stream), (stream, far)):
        threading.Thread(target=_pump, args=(source, target, done), daemon=True).start()
    near.settimeout(timeout_s)
    return near


def wrap(
    stream: Any,
    context: ssl.SSLContext,
    server: str,
    timeout_s: float,
    session: ssl.SSLSession | None = None,
) -> ssl.SSLSocket:
    """Complete a TLS handshake with `server` (its certificate must name it) over `stream`,
    resuming `session` (one of `context`'s with this server) when the server still has it."""
    raw = stream if isinstance(stream, socket.socket) else _bridge(stream, timeout_s)
    try:
        return context.wrap_socket(raw, server_hostname=server, session=session)
    except BaseException:
        raw.close()
        if raw is not stream:
            with contextlib.suppress(Exception):
                stream.close()
        raise
