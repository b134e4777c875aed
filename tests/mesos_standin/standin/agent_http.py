"""The agent's HTTP endpoints (`/slave(1)/x` and `/x`), shaped like src/slave/http.cpp."""

from __future__ import annotations

import json
import time
from typing import Any

from .agent import CAPABILITIES, Agent
from .auth import http_realms
from .http_util import Request, Response, Router, json_response, method_not_allowed, text_response
from .master_http import BUILD, system_metrics, version_json


class AgentEndpoints:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def router(self) -> Router:
        realms = http_realms(self.agent.flags, "mesos-agent", "http_credentials")
        endpoints = {
            "health": lambda request: Response(200),
            "state": realms.guard("readonly", self.state),
            "flags": realms.guard(
                "readonly",
                lambda request: json_response({"flags": dict(self.agent.flags.shown)}, request),
            ),
            "_standin/ping": self.ping,
            "_standin/shutdown": self.shutdown,
        }
        absolute = {
            "metrics/snapshot": realms.guard("readonly", self.metrics),
            "version": lambda request: json_response(version_json(self.agent.version), request),
        }
        return Router("slave(1)", endpoints, absolute)

    def state(self, request: Request) -> Response:
        agent = self.agent
        state: dict[str, Any] = {
            "version": agent.version,
            **BUILD,
            "start_time": agent.start_time,
            "id": agent.id,
            "pid": agent.pid,
            "hostname": agent.hostname,
            "capabilities": list(CAPABILITIES),
            "resources": dict(agent.resources),
            "reserved_resources": {},
            "unreserved_resources": dict(agent.resources),
            "reserved_resources_full": {},
            "unreserved_resources_full": [],
            "reserved_resources_allocated": {},
            "unreserved_resources_allocated": [],
            "resource_providers": [],
            "attributes": dict(agent.attributes),
        }
        if agent.master_hostname:
            state["master_hostname"] = agent.master_hostname
        for name in ("log_dir", "external_log_file"):
            if agent.flags.get(name):
                state[name] = agent.flags.get(name)
        state.update(
            {"flags": dict(agent.flags.shown), "frameworks": [], "completed_frameworks": []}
        )
        return json_response(state, request)

    def metrics(self, request: Request) -> Response:
        agent = self.agent
        metrics: dict[str, float] = {
            "slave/registered": 1.0 if agent.detected is not None else 0.0,
            "slave/uptime_secs": time.monotonic() - agent.started,
            "slave/recovery_errors": 0.0,
            "slave/executors_running": 0.0,
            "slave/tasks_running": 0.0,
            "slave/frameworks_active": 0.0,
        }
        for resource in ("cpus", "gpus", "mem", "disk"):
            value = agent.resources.get(resource, 0.0)
            metrics[f"slave/{resource}_total"] = value if isinstance(value, float) else 0.0
            metrics[f"slave/{resource}_used"] = 0.0
            metrics[f"slave/{resource}_percent"] = 0.0
        metrics.update(system_metrics())
        return json_response(metrics, request)

    @staticmethod
    def _body(request: Request) -> dict[str, Any] | None:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def ping(self, request: Request) -> Response:
        body = self._body(request)
        if request.method != "POST":
            return method_not_allowed(["POST"], request.method)
        if body is None:
            return text_response(400, "Expecting a JSON object")
        return json_response(self.agent.pinged(str(body.get("master_pid", ""))))

    def shutdown(self, request: Request) -> Response:
        body = self._body(request)
        if request.method != "POST":
            return method_not_allowed(["POST"], request.method)
        if body is None:
            return text_response(400, "Expecting a JSON object")
        self.agent.shutdown(str(body.get("master_pid", "")), str(body.get("message", "")))
        return Response(200)
