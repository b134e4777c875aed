"""A local HTTP server speaking the Mesos v1 scheduler API the way the real master does:
SUBSCRIBE answers a chunked RecordIO event stream with `Mesos-Stream-Id`; calls answer 202.

Scenarios set the offers it sends and the task states it reports after an ACCEPT.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STREAM_ID = "a2c5b7c3-0000-4000-8000-000000000001"


def offer(offer_id: str, hostname: str, cpus: float, mem: float) -> dict[str, Any]:
    return {
        "id": {"value": offer_id},
        "framework_id": {"value": "fw-1"},
        "agent_id": {"value": f"agent-{hostname}"},
        "hostname": hostname,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}, "role": "*"},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}, "role": "*"},
        ],
    }


@dataclass
class Scenario:
    offers: list[dict[str, Any]] = field(default_factory=list)
    #: (state, message) reported, in order, for the launched task.
    states: list[tuple[str, str]] = field(
        default_factory=lambda: [("TASK_STARTING", ""), ("TASK_RUNNING", ""), ("TASK_FINISHED", "")]
    )
    subscribe_status: int = 200
    #: When set, every call must carry this `Authorization` header (else 401, as Mesos does
    #: with --authenticate_http_frameworks).
    authorization: str | None = None


class FakeScheduler:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.calls: list[dict[str, Any]] = []
        self.call_headers: list[dict[str, str]] = []
        self.subscriptions: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.launched: queue.Queue[dict[str, Any]] = queue.Queue()
        self.closed = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(size))
                wanted = fake.scenario.authorization
                if wanted is not None and self.headers.get("Authorization") != wanted:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="mesos"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if body["type"] == "SUBSCRIBE":
                    fake.subscriptions.append((dict(self.headers), body))
                    fake.subscribe(self, body)
                    return
                fake.calls.append(body)
                fake.call_headers.append(dict(self.headers))
                if body["type"] == "ACCEPT":
                    fake.launched.put(body)
                if body["type"] == "TEARDOWN":
                    fake.closed.set()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def opener(self, _address: str, _port: int, timeout: float) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def subscribe(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if self.scenario.subscribe_status != 200:
            text = b"Framework is not authorized"
            handler.send_response(self.scenario.subscribe_status)
            handler.send_header("Content-Length", str(len(text)))
            handler.end_headers()
            handler.wfile.write(text)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Mesos-Stream-Id", STREAM_ID)
        handler.end_headers()

        def send(event: dict[str, Any]) -> None:
            data = json.dumps(event).encode()
            record = f"{len(data)}\n".encode() + data
            # Split each record over two chunks, as a real stream may.
            for part in (record[:5], record[5:]):
                handler.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            handler.wfile.flush()

        send({"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": "fw-1"}}})
        if self.scenario.offers:
            send({"type": "OFFERS", "offers": {"offers": self.scenario.offers}})
        try:
            accept = self.launched.get(timeout=5)
        except queue.Empty:
            self.closed.wait(10)
            return
        task = accept["accept"]["operations"][0]["launch"]["task_infos"][0]
        for number, (state, message) in enumerate(self.scenario.states):
            status = {
                "task_id": task["task_id"],
                "agent_id": task["agent_id"],
                "state": state,
                "uuid": f"dXVpZC0{number}",
            }
            if message:
                status["message"] = message
            send({"type": "UPDATE", "update": {"status": status}})
        self.closed.wait(10)

    def stop(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()

    def call_types(self) -> list[str]:
        return [call["type"] for call in self.calls]
