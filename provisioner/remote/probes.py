"""How the checks talk to the cluster: a small probe interface and its direct (network) form.

Every probe either returns what it saw or raises ``ProbeError`` whose message is the
observation ("connection refused", "timed out after 3s"), so checks never see raw exceptions.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from ..ports import MONITORING_PORTS, ZOOKEEPER_CLIENT_PORT

DEFAULT_TIMEOUT_S = 3.0
#: `?timeout=5secs` lets Mesos answer without slow gauges after 5 s; wait a little longer.
METRICS_PATH = "/metrics/snapshot?timeout=5secs"
METRICS_TIMEOUT_S = 7.0
MAX_ANSWER_BYTES = 4 * 1024 * 1024

HttpAnswer = tuple[int, dict[str, str], bytes]
Endpoint = tuple[str, int]
Answer = TypeVar("Answer")


class ProbeError(Exception):
    """A probe got no usable answer; the message says what was observed."""


class Probes(Protocol):
    """What the checks need from the network; tests pass fakes, `via_ssh` passes SshProbes."""

    def tcp(self, address: str, port: int) -> None:
        """Return when something accepts a TCP connection on address:port."""

    def four_letter(self, address: str, command: str) -> str:
        """Send a ZooKeeper four-letter word to the member at address; return its answer."""

    def http_get(self, address: str, port: int, path: str) -> HttpAnswer:
        """GET path without following redirects: (status, headers with lower-case names, body)."""

    def zk_children(self, hosts: list[str], path: str) -> dict[str, bytes]:
        """The children of a znode with their data, read through any of `hosts` ("ip:port")."""

    def open_stream(self, address: str, port: int, timeout_s: float) -> Any:
        """A connection that streams an HTTP response (the workload's scheduler API)."""

    def close(self) -> None:
        """Release connections kept between probes."""


def describe_error(exc: BaseException, timeout_s: float) -> str:
    """A short observation for a socket-level failure."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"timed out after {timeout_s:g}s"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed the connection without an answer"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve address ({exc.strerror})"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "no route to host"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP answer ({type(exc).__name__}: {exc})"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text[0].lower() + text[1:] if text else type(exc).__name__


def parse_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProbeError(f"{what} is not JSON ({exc})") from None


def get_json(probes: Probes, address: str, port: int, path: str) -> tuple[int, Any]:
    """GET a JSON endpoint; non-200 answers come back with `None` data."""
    status, _headers, body = probes.http_get(address, port, path)
    if status != 200:
        return status, None
    return status, parse_json(body, path)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (fakes may not lower-case names)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def ack_at_once(stream: Any) -> None:
    """Have Linux acknowledge the next segments at once (TCP_QUICKACK) on a TCP socket; a
    no-op elsewhere. Mesos holds a short answer (`/master/health`, `/master/redirect`) back
    until its earlier segment is acknowledged, and a delayed ACK waits 40 ms: a 2 ms request
    took 45 ms without it."""
    option = getattr(socket, "TCP_QUICKACK", None)
    if option is None or not isinstance(stream, socket.socket):
        return
    with contextlib.suppress(OSError):  # not TCP (the socket pair of TLS through SSH)
        stream.setsockopt(socket.IPPROTO_TCP, option, 1)


class StreamHTTPConnection(http.client.HTTPConnection):
    """http.client over a socket-like stream we opened (plain socket or SSH channel)."""

    def __init__(self, host: str, port: int, opener: Callable[[], Any], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._opener = opener

    def connect(self) -> None:
        self.sock = self._opener()


class StreamProbes:
    """Four-letter words and HTTP over any stream; subclasses say how a stream is opened."""

    #: `Authorization` header value sent with every HTTP request (HTTP Basic with the
    #: cluster's health credential when Mesos authentication is on); None sends none.
    http_auth: str | None = None
    #: TLS client context (the cluster CA, the controller's certificate) for the Mesos HTTP
    #: endpoints when `security.tls` is on; None speaks plain HTTP. ZooKeeper stays plain.
    tls: ssl.SSLContext | None = None
    #: Ports spoken to in plain HTTP and without `http_auth` even when `tls` is set:
    #: Prometheus and node exporter have no TLS and need no credential (docs/monitoring.md).
    plain_http_ports: frozenset[int] = frozenset(MONITORING_PORTS)

    def __init__(
        self, timeout_s: float = DEFAULT_TIMEOUT_S, zookeeper_port: int = ZOOKEEPER_CLIENT_PORT
    ) -> None:
        self.timeout_s = timeout_s
        self.zookeeper_port = zookeeper_port
        #: The TLS session of each HTTP endpoint, with its context: the next request resumes
        #: it, a handshake without certificates or their signatures (half the CPU; the first
        #: one checked the server's certificate).
        self._sessions: dict[Endpoint, tuple[ssl.SSLContext, ssl.SSLSession]] = {}

    def _open(self, address: str, port: int, timeout_s: float) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _connect(self, address: str, port: int, timeout_s: float | None = None) -> Any:
        timeout = timeout_s or self.timeout_s
        try:
            return self._open(address, port, timeout)
        except ProbeError:
            raise
        except Exception as exc:
            raise ProbeError(describe_error(exc, timeout)) from None

    def tcp(self, address: str, port: int) -> None:
        self._connect(address, port).close()

    def _connect_http(self, address: str, port: int, timeout_s: float, resume: bool = False) -> Any:
        """A stream for HTTP to address:port, in TLS when `tls` is set (the server's
        certificate must be the cluster CA's and name `address`; with `resume`, a kept
        session of that endpoint may stand for it), except to the monitoring ports:
        Prometheus and node exporter speak plain HTTP."""
        stream = self._connect(address, port, timeout_s)
        if self.tls is None or port in self.plain_http_ports:
            return stream
        from .tlsstream import wrap

        kept = self._sessions.get((address, port)) if resume else None
        session = kept[1] if kept is not None and kept[0] is self.tls else None
        try:
            return wrap(stream, self.tls, address, timeout_s, session)
        except ssl.SSLError as exc:
            raise ProbeError(f"TLS handshake failed ({exc.reason or exc})") from None
        except Exception as exc:
            raise ProbeError(describe_error(exc, timeout_s)) from None

    def certificate_expiry(self, address: str, port: int) -> float:
        """When the certificate address:port presents expires (epoch seconds), checked
        against the cluster CA in a TLS handshake. Needs `tls`."""
        if self.tls is None:
            raise ProbeError("no TLS context: security.tls is off or the cluster CA is missing")
        stream = self._connect_http(address, port, self.timeout_s)
        try:
            certificate = stream.getpeercert()
        finally:
            stream.close()
        if not certificate or "notAfter" not in certificate:
            raise ProbeError("presented no certificate")
        return float(ssl.cert_time_to_seconds(certificate["notAfter"]))

    def open_stream(self, address: str, port: int, timeout_s: float) -> Any:
        """A socket-like stream to address:port (for the workload's long-lived HTTP stream)."""
        return self._connect_http(address, port, timeout_s)

    def zk_children(self, hosts: list[str], path: str) -> dict[str, bytes]:
        from .zkwire import read_children

        return self._zk_read(hosts, lambda stream: read_children(stream, path, self._zk_ms))

    def zk_acls(self, hosts: list[str], path: str) -> list[tuple[str, str, int]]:
        """The ACL of a znode as (scheme, id, perms) entries (ZooKeeper 3.6 and later answer
        only a client that may read the znode; the masters leave `world:anyone` read)."""
        from .zkwire import read_acls

        return self._zk_read(hosts, lambda stream: read_acls(stream, path, self._zk_ms))

    @property
    def _zk_ms(self) -> int:
        return int(self.timeout_s * 1000)

    def _zk_read(self, hosts: list[str], read: Callable[[Any], Answer]) -> Answer:
        """`read` in a ZooKeeper session with the first of `hosts` ("ip:port") that answers;
        a znode that does not exist is an answer (every member would say so)."""
        from .zkwire import MissingZnode, WireError

        errors = []
        for host in hosts:
            address, _, port = host.rpartition(":")
            try:
                stream = self._connect(address, int(port))
            except ProbeError as exc:
                errors.append(f"{host}: {exc}")
                continue
            try:
                return read(stream)
            except MissingZnode as exc:
                raise ProbeError(str(exc)) from None
            except WireError as exc:
                errors.append(f"{host}: {exc}")
            except Exception as exc:
                errors.append(f"{host}: {describe_error(exc, self.timeout_s)}")
            finally:
                stream.close()
        raise ProbeError("no ZooKeeper member answered: " + "; ".join(errors))

    def four_letter(self, address: str, command: str) -> str:
        stream = self._connect(address, self.zookeeper_port)
        try:
            stream.sendall(command.encode("ascii"))
            chunks, size = [], 0
            while size < MAX_ANSWER_BYTES:
                data = stream.recv(65536)
                if not data:
                    break
                chunks.append(data)
                size += len(data)
            return b"".join(chunks).decode("utf-8", "replace")
        except Exception as exc:
            raise ProbeError(describe_error(exc, self.timeout_s)) from None
        finally:
            stream.close()

    def http_get(self, address: str, port: int, path: str) -> HttpAnswer:
        timeout = METRICS_TIMEOUT_S if "timeout=" in path else self.timeout_s
        connection = StreamHTTPConnection(
            address, port, lambda: self._connect_http(address, port, timeout, True), timeout
        )
        try:
            headers = {"Accept": "application/json"}
            # Never to the monitoring ports: they need no credential and speak plain HTTP.
            if self.http_auth and port not in self.plain_http_ports:
                headers["Authorization"] = self.http_auth
            connection.request("GET", path, headers=headers)
            stream = connection.sock  # getresponse() lets go of it when the server closes
            ack_at_once(stream)  # set once the request is sent: it does not last
            response = connection.getresponse()
            self._keep_session(address, port, stream)
            body = response.read(MAX_ANSWER_BYTES)
            headers = {name.lower(): value for name, value in response.getheaders()}
            return response.status, headers, body
        except ProbeError:
            raise
        except Exception as exc:
            raise ProbeError(describe_error(exc, timeout)) from None
        finally:
            connection.close()

    def _keep_session(self, address: str, port: int, stream: Any) -> None:
        """Keeps the stream's TLS session for the endpoint's next request (once an answer
        came: TLS 1.3 sends the session's ticket after the handshake, before any answer)."""
        session = getattr(stream, "session", None)
        if self.tls is not None and isinstance(session, ssl.SSLSession):
            self._sessions[(address, port)] = (self.tls, session)

    def close(self) -> None:
        """Nothing is kept open between probes here."""


class DirectProbes(StreamProbes):
    """Probes straight over the network from this machine (sockets, http.client, ZooKeeper's
    wire protocol).

    `endpoints` maps an (address, port) the checks ask for to the one actually dialled; tests
    use it to point the well-known ports at local fakes.
    """

    def __init__(
        self,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        zookeeper_port: int = ZOOKEEPER_CLIENT_PORT,
        endpoints: Mapping[Endpoint, Endpoint] | None = None,
    ) -> None:
        super().__init__(timeout_s, zookeeper_port)
        self.endpoints = dict(endpoints or {})

    def _dial(self, address: str, port: int) -> Endpoint:
        return self.endpoints.get((address, port), (address, port))

    def _open(self, address: str, port: int, timeout_s: float) -> socket.socket:
        return socket.create_connection(self._dial(address, port), timeout=timeout_s)
