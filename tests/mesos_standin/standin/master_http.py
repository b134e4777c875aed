"""The master's HTTP endpoints, shaped like src/master/http.cpp (MESOS-FACTS §3, §4, §6).

Leader-only endpoints answer 307 to `//<leader hostname>:<port><path>` on followers, or 503
`No leader elected`; health, flags, redirect, metrics and version are answered by every master.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from . import STANDIN_NAME
from .auth import agent_admitted, http_realms
from .http_util import (
    Handler,
    Request,
    Response,
    Router,
    json_response,
    method_not_allowed,
    text_response,
)
from .maintenance import Invalid, parse_machine_list
from .master import CAPABILITIES, AgentRecord, Master
from .resources import empty_summary
from .values import reverse_lookup

BUILD = {"build_date": "1970-01-01 00:00:00", "build_time": 0.0, "build_user": STANDIN_NAME}
TASK_STATES = (
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_KILLED",
    "TASK_FAILED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_UNREACHABLE",
)


def version_json(version: str) -> dict[str, Any]:
    return {"version": version, **BUILD, "standin": STANDIN_NAME}


def system_metrics() -> dict[str, float]:
    load = os.getloadavg()
    return {
        "system/cpus_total": float(os.cpu_count() or 1),
        "system/load_1min": load[0],
        "system/load_5min": load[1],
        "system/load_15min": load[2],
    }


class MasterEndpoints:
    def __init__(self, master: Master) -> None:
        self.master = master

    def router(self) -> Router:
        realms = http_realms(self.master.flags, "mesos-master", "credentials")
        readonly: dict[str, Handler] = {
            "state": self.state,
            "state-summary": self.state_summary,
            "slaves": self.slaves,
            "frameworks": self.frameworks,
            "tasks": self.tasks,
            "roles": self.roles,
            "maintenance/status": self.status,
        }
        readwrite: dict[str, Handler] = {
            "maintenance/schedule": self.schedule,
            "machine/down": self.machine_down,
            "machine/up": self.machine_up,
        }
        # libprocess authenticates before the endpoint runs: a follower answers 401, not 307.
        endpoints: dict[str, Handler] = {
            **realms.guard_all("readonly", {n: self._leader_only(h) for n, h in readonly.items()}),
            **realms.guard_all(
                "readwrite", {n: self._leader_only(h) for n, h in readwrite.items()}
            ),
            "health": self.health,
            "redirect": self.redirect,
            "flags": realms.guard("readonly", self.flags),
            "_standin/register": self.register,
            "_standin/registered": self.registered,
        }
        absolute: dict[str, Handler] = {
            "metrics/snapshot": realms.guard("readonly", self.metrics),
            "version": lambda request: json_response(version_json(self.master.version), request),
            "registrar(1)/registry": realms.guard("readonly", self.registry),
        }
        return Router("master", endpoints, absolute)

    # Redirects ---------------------------------------------------------------------------------

    def _leader_base(self) -> str | None:
        leader = self.master.leader
        if leader is None:
            return None
        hostname = leader.get("hostname")
        address = leader.get("address") or {}
        if not hostname:
            hostname = reverse_lookup(address.get("ip", "")) or address.get("ip", "")
        port = leader.get("port") or address.get("port")
        return f"//{hostname}:{port}"

    def _redirect_to_leader(self, request: Request) -> Response:
        base = self._leader_base()
        if base is None:
            return text_response(503, "No leader elected")
        return Response(307, b"", {"Location": base + request.target})

    def _leader_only(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            if not self.master.elected:
                return self._redirect_to_leader(request)
            return handler(request)

        return guarded

    def redirect(self, request: Request) -> Response:
        if request.remainder != "redirect":
            return text_response(404)
        base = self._leader_base()
        if base is None:
            return text_response(503, "No leader elected")
        return Response(307, b"", {"Location": base})

    # Every master --------------------------------------------------------------------------------

    def health(self, request: Request) -> Response:
        return Response(200)

    def flags(self, request: Request) -> Response:
        return json_response({"flags": dict(self.master.flags.shown)}, request)

    def metrics(self, request: Request) -> Response:
        master = self.master
        with master.lock:
            leading = master.elected
            agents = list(master.agents.values()) if leading else []
            active = [a for a in agents if a.active]
            metrics: dict[str, float] = {
                "master/elected": 1.0 if leading else 0.0,
                "master/uptime_secs": time.monotonic() - master.started,
                "master/slaves_active": float(len(active)),
                "master/slaves_inactive": float(len(agents) - len(active)),
                "master/slaves_connected": float(len(active)),
                "master/slaves_disconnected": float(len(agents) - len(active)),
                "master/slaves_unreachable": float(len(master.unreachable)) if leading else 0.0,
                "master/frameworks_active": 0.0,
                "master/frameworks_inactive": 0.0,
                "master/tasks_running": 0.0,
                "master/recovery_slave_removals": 0.0,
            }
            for name, value in master.counters.items():
                metrics[f"master/{name}"] = (
                    float(value) if leading or name == "dropped_messages" else 0.0
                )
            for resource in ("cpus", "gpus", "mem", "disk"):
                total = sum(float(a.resources.get(resource, 0.0)) for a in agents)
                metrics[f"master/{resource}_total"] = total
                metrics[f"master/{resource}_used"] = 0.0
                metrics[f"master/{resource}_percent"] = 0.0
            if master.uses_log:
                metrics["registrar/log/recovered"] = 1.0 if master.log_recovered() else 0.0
                metrics["registrar/log/ensemble_size"] = float(master.ensemble_size or 0)
        metrics.update(system_metrics())
        return json_response(metrics, request)

    def registry(self, request: Request) -> Response:
        with self.master.lock:
            if not self.master.elected or not self.master.registry_recovered:
                return json_response({}, request)
            slaves = [{"info": self._slave_info(a)} for a in self.master.agents.values()]
            registry: dict[str, Any] = {"master": {"info": self.master.info()}}
            if slaves:
                registry["slaves"] = {"slaves": slaves}
        return json_response(registry, request)

    def register(self, request: Request) -> Response:
        """Stand-in private endpoint: agents POST their SlaveInfo here instead of a protobuf."""
        if request.method != "POST":
            return method_not_allowed(["POST"], request.method)
        try:
            payload = json.loads(request.body)
            if not agent_admitted(self.master.flags, payload.pop("credential", None)):
                return text_response(401, "Agent authentication failed")
            status, body = self.master.register(payload)
        except (ValueError, KeyError, TypeError) as err:
            return text_response(400, f"Invalid registration: {err!r}")
        return json_response(body, status=status)

    def registered(self, request: Request) -> Response:
        """Stand-in private endpoint: does this (leading) master know the agent?"""
        agent_id = request.query.get("slave_id", "")
        with self.master.lock:
            known = self.master.elected and agent_id in self.master.agents
        return json_response({"registered": bool(known)}, request)

    # Leader only ---------------------------------------------------------------------------------

    @staticmethod
    def _slave_info(agent: AgentRecord) -> dict[str, Any]:
        return {"id": {"value": agent.id}, "hostname": agent.hostname, "port": agent.port}

    def _slave_json(self, agent: AgentRecord, full: bool) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": agent.id,
            "pid": agent.pid,
            "hostname": agent.hostname,
            "registered_time": agent.registered_time,
        }
        if agent.reregistered_time is not None:
            shown["reregistered_time"] = agent.reregistered_time
        shown.update(
            {
                "resources": dict(agent.resources),
                "used_resources": empty_summary(),
                "offered_resources": empty_summary(),
                "reserved_resources": {},
                "unreserved_resources": dict(agent.resources),
                "attributes": dict(agent.attributes),
                "active": agent.active,
                "version": agent.version,
                "capabilities": list(agent.capabilities),
            }
        )
        if full:
            shown.update(
                {
                    "port": agent.port,
                    "deactivated": False,
                    "reserved_resources_full": {},
                    "used_resources_full": [],
                    "offered_resources_full": [],
                }
            )
        else:
            shown.update(dict.fromkeys(TASK_STATES, 0))
            shown["framework_ids"] = []
        return shown

    def _state(self, request: Request) -> dict[str, Any]:
        master = self.master
        with master.lock:
            agents = list(master.agents.values())
            active = sum(1 for a in agents if a.active)
            state: dict[str, Any] = {
                "version": master.version,
                **BUILD,
                "start_time": master.start_time,
                "elected_time": master.elected_time,
                "id": master.id,
                "pid": master.pid,
                "hostname": master.hostname,
                "capabilities": list(CAPABILITIES),
                "activated_slaves": float(active),
                "deactivated_slaves": float(len(agents) - active),
                "unreachable_slaves": float(len(master.unreachable)),
                "leader": master.pid,
                "leader_info": {
                    "id": master.id,
                    "pid": master.pid,
                    "port": master.port,
                    "hostname": master.hostname,
                },
            }
            for name in ("cluster", "log_dir", "external_log_file"):
                if master.flags.get(name):
                    state[name] = master.flags.get(name)
            state["flags"] = dict(master.flags.shown)
            state["slaves"] = [self._slave_json(a, full=True) for a in agents]
        state.update(
            {
                "recovered_slaves": [],
                "frameworks": [],
                "completed_frameworks": [],
                "orphan_tasks": [],
                "unregistered_frameworks": [],
            }
        )
        return state

    def state(self, request: Request) -> Response:
        return json_response(self._state(request), request)

    def state_summary(self, request: Request) -> Response:
        with self.master.lock:
            slaves = [self._slave_json(a, full=False) for a in self.master.agents.values()]
        summary: dict[str, Any] = {"hostname": self.master.hostname}
        if self.master.flags.get("cluster"):
            summary["cluster"] = self.master.flags.get("cluster")
        summary.update({"slaves": slaves, "frameworks": []})
        return json_response(summary, request)

    def slaves(self, request: Request) -> Response:
        with self.master.lock:
            slaves = [self._slave_json(a, full=True) for a in self.master.agents.values()]
        return json_response({"slaves": slaves, "recovered_slaves": []}, request)

    def frameworks(self, request: Request) -> Response:
        return json_response(
            {"frameworks": [], "completed_frameworks": [], "unregistered_frameworks": []}, request
        )

    def tasks(self, request: Request) -> Response:
        return json_response({"tasks": []}, request)

    def roles(self, request: Request) -> Response:
        return json_response({"roles": []}, request)

    def schedule(self, request: Request) -> Response:
        if request.method not in ("GET", "POST"):
            return method_not_allowed(["GET", "POST"], request.method)
        with self.master.lock:
            if request.method == "GET":
                return json_response(self.master.maintenance.schedule_json(), request)
            try:
                self.master.maintenance.update_schedule(request.body)
            except Invalid as err:
                return text_response(400, str(err))
        return Response(200)

    def status(self, request: Request) -> Response:
        with self.master.lock:
            return json_response(self.master.maintenance.status_json(), request)

    def machine_down(self, request: Request) -> Response:
        if request.method != "POST":
            return method_not_allowed(["POST"], request.method)
        with self.master.lock:
            try:
                machines = parse_machine_list(request.body)
                self.master.maintenance.start_maintenance(machines)
            except Invalid as err:
                return text_response(400, str(err))
        self.master.shut_down_machines(machines, "Operator initiated 'Machine DOWN'")
        return Response(200)

    def machine_up(self, request: Request) -> Response:
        if request.method != "POST":
            return method_not_allowed(["POST"], request.method)
        with self.master.lock:
            try:
                self.master.maintenance.stop_maintenance(parse_machine_list(request.body))
            except Invalid as err:
                return text_response(400, str(err))
        return Response(200)
