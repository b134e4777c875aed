"""A small HTTP layer with libprocess routing: `/<process id>/<endpoint>` or `/<endpoint>`.

libprocess hands a request whose first path segment is not a process id to the main process and
matches endpoint names by their longest prefix; `Router.dispatch` does the same.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import log


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    target: str  # path plus query string, as received
    body: bytes
    endpoint: str = ""  # the matched endpoint name, e.g. "redirect"
    #: Request headers with lower-case names.
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    remainder: str = ""  # the full name after the process id, e.g. "redirect/x"


@dataclasses.dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


Handler = Callable[[Request], Response]


def json_response(document: Any, request: Request | None = None, status: int = 200) -> Response:
    """Compact JSON like libprocess' jsonify; `?jsonp=cb` wraps it as Mesos does."""
    text = json.dumps(document, separators=(",", ":"))
    callback = request.query.get("jsonp") if request else None
    if callback:
        return Response(
            status, f"{callback}({text});".encode(), {"Content-Type": "text/javascript"}
        )
    return Response(status, text.encode(), {"Content-Type": "application/json"})


def text_response(status: int, text: str = "") -> Response:
    headers = {"Content-Type": "text/plain; charset=utf-8"} if text else {}
    return Response(status, text.encode(), headers)


def method_not_allowed(allowed: list[str], method: str) -> Response:
    names = "', '".join(allowed)
    response = text_response(405, f"Expecting one of {{ '{names}' }}, but received '{method}'")
    response.headers["Allow"] = ", ".join(allowed)
    return response


class Router:
    """Routes for one main process (`master` or `slave(1)`) plus process-independent paths."""

    def __init__(
        self, process_id: str, endpoints: dict[str, Handler], absolute: dict[str, Handler]
    ) -> None:
        self.process_id = process_id
        self.endpoints = endpoints
        self.absolute = absolute  # e.g. "metrics/snapshot", "version"

    def dispatch(self, request: Request) -> Response:
        tokens = [token for token in request.path.split("/") if token]
        name = "/".join(tokens)
        for table, candidate in (
            (self.absolute, name),
            (
                self.endpoints,
                "/".join(tokens[1:]) if tokens and tokens[0] == self.process_id else name,
            ),
        ):
            probe = candidate
            while probe:
                if probe in table:
                    request.endpoint, request.remainder = probe, candidate
                    return table[probe](request)
                probe = probe.rpartition("/")[0]
        return text_response(404)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "dcos-provision-mesos-standin"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        request = Request(
            self.command,
            urllib.parse.unquote(url.path) or "/",
            query,
            self.path,
            body,
            headers={name.lower(): value for name, value in self.headers.items()},
        )
        try:
            response = self.server.router.dispatch(request)  # type: ignore[attr-defined]
        except Exception as err:  # a bug in a handler must not kill the server thread
            log.warning(f"Handler for {self.path} failed: {err!r}")
            response = text_response(500, f"{type(err).__name__}: {err}")
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return


def _on(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true")


def tls_enabled() -> bool:
    """libprocess' switch: `LIBPROCESS_SSL_ENABLED=true` makes every socket speak TLS."""
    return _on("LIBPROCESS_SSL_ENABLED")


def tls_context(server: bool) -> ssl.SSLContext:
    """A context from the LIBPROCESS_SSL_* variables, as libprocess reads them: the
    certificate and key, the CA, client certificates required and verified, the protocols.
    Server hostname checks are left to the client side, as with the `openssl` scheme."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not _on("LIBPROCESS_SSL_ENABLE_TLS_V1_3"):
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(
        os.environ["LIBPROCESS_SSL_CERT_FILE"], os.environ["LIBPROCESS_SSL_KEY_FILE"]
    )
    ca_file = os.environ.get("LIBPROCESS_SSL_CA_FILE")
    if ca_file:
        context.load_verify_locations(ca_file)
    if os.environ.get("LIBPROCESS_SSL_CIPHERS"):
        context.set_ciphers(os.environ["LIBPROCESS_SSL_CIPHERS"])
    verify = _on("LIBPROCESS_SSL_REQUIRE_CLIENT_CERT") or _on("LIBPROCESS_SSL_VERIFY_SERVER_CERT")
    if server:
        context.verify_mode = (
            ssl.CERT_REQUIRED if _on("LIBPROCESS_SSL_REQUIRE_CLIENT_CERT") else ssl.CERT_NONE
        )
    else:
        context.check_hostname = verify
        context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    return context


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], router: Router) -> None:
        super().__init__(address, _RequestHandler)
        self.router = router
        # TLS only, as libprocess without LIBPROCESS_SSL_SUPPORT_DOWNGRADE.
        self.tls = tls_context(server=True) if tls_enabled() else None

    def get_request(self) -> tuple[Any, Any]:
        connection, client = super().get_request()
        if self.tls is not None:  # the handshake runs in the request's thread
            connection = self.tls.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, client

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A refused handshake (plain HTTP, no or a foreign certificate) is not an error."""
        if isinstance(sys.exc_info()[1], OSError):  # ssl.SSLError and resets are OSErrors
            return
        super().handle_error(request, client_address)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        thread.start()
        return thread


def call(
    method: str, host: str, port: int, path: str, payload: Any = None, timeout: float = 2.0
) -> tuple[int, Any]:
    """One request between stand-in processes; returns (status, decoded JSON or text)."""
    connection = (
        http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context(server=False))
        if tls_enabled()
        else http.client.HTTPConnection(host, port, timeout=timeout)
    )
    try:
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode(errors="replace")
    finally:
        connection.close()
