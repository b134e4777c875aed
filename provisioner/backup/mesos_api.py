"""The leading master's registry and operator-set state, through its HTTP API.

`/registrar(1)/registry` is kept for the record (Mesos cannot load it back: a master
recovers its registry only from its replicated log). The operator-set parts that a new
registry lacks are read and written through the v1 operator API: the maintenance schedule,
quota configurations and role weights (MESOS-FACTS §6; Mesos docs: quota, weights).
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from typing import Any

from ..errors import ProvisionError
from ..ports import MESOS_MASTER_PORT


class MesosApiError(ProvisionError):
    """The leading master could not be found or refused an operator call."""


@dataclass(frozen=True)
class Leader:
    address: str
    auth: str | None
    timeout_s: float = 15
    #: The cluster's client TLS context when `security.tls` is on (None: plain HTTP).
    tls: ssl.SSLContext | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"}
        if self.auth:
            headers["Authorization"] = self.auth
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn: http.client.HTTPConnection
        if self.tls is not None:
            conn = http.client.HTTPSConnection(
                self.address, MESOS_MASTER_PORT, timeout=self.timeout_s, context=self.tls
            )
        else:
            conn = http.client.HTTPConnection(
                self.address, MESOS_MASTER_PORT, timeout=self.timeout_s
            )
        try:
            conn.request(method, path, body=payload, headers=headers)
            answer = conn.getresponse()
            return answer.status, answer.read()
        except OSError as exc:
            raise MesosApiError(
                f"master {self.address}:{MESOS_MASTER_PORT}: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            conn.close()

    def call(self, call_type: str, **fields: Any) -> dict[str, Any]:
        """One v1 operator call; the decoded answer ({} for calls that answer 202)."""
        status, body = self.request("POST", "/api/v1", {"type": call_type, **fields})
        if status not in (200, 202):
            text = body.decode("utf-8", "replace").strip()[:200]
            raise MesosApiError(
                f"master {self.address}: {call_type} answered {status}: {text or '(no body)'}"
            )
        return json.loads(body) if body.strip() else {}


def find_leader(
    addresses: list[str], auth: str | None, tls: ssl.SSLContext | None = None
) -> Leader:
    """The master that answers operator calls itself (non-leaders answer 307 or 503)."""
    seen = []
    for address in addresses:
        leader = Leader(address, auth, tls=tls)
        try:  # a short timeout: on a broken cluster (`down`) dead masters only cost seconds
            status, _ = Leader(address, auth, timeout_s=5, tls=tls).request(
                "POST", "/api/v1", {"type": "GET_MAINTENANCE_SCHEDULE"}
            )
        except MesosApiError as exc:
            seen.append(str(exc))
            continue
        if status == 200:
            return leader
        seen.append(f"{address}: {status}")
    raise MesosApiError(
        "no leading Mesos master answers the operator API (" + "; ".join(seen) + ")",
        hint="check `dcos-provision status`; a master elected moments ago may still be "
        "recovering its registry",
    )


def read_state(leader: Leader) -> dict[str, Any]:
    """Registry, maintenance schedule, quota configs and weights, as the leader serves them."""
    status, body = leader.request("GET", "/registrar(1)/registry")
    registry = json.loads(body) if status == 200 and body.strip() else None
    schedule = leader.call("GET_MAINTENANCE_SCHEDULE").get("get_maintenance_schedule", {})
    quota = leader.call("GET_QUOTA").get("get_quota", {}).get("status", {})
    weights = leader.call("GET_WEIGHTS").get("get_weights", {})
    return {
        "registry": registry,
        "maintenance_schedule": schedule.get("schedule", {}),
        "quota_configs": quota.get("configs", []),
        "weights": weights.get("weight_infos", []),
    }


def apply_state(leader: Leader, state: dict[str, Any]) -> list[str]:
    """Re-apply the operator-set parts; what was applied, one line each."""
    done = []
    schedule = state.get("maintenance_schedule") or {}
    if schedule.get("windows"):
        leader.call(
            "UPDATE_MAINTENANCE_SCHEDULE", update_maintenance_schedule={"schedule": schedule}
        )
        done.append(f"maintenance schedule ({len(schedule['windows'])} window(s))")
    configs = state.get("quota_configs") or []
    if configs:
        # force: the agents that would satisfy the guarantees may not have re-registered yet.
        leader.call("UPDATE_QUOTA", update_quota={"force": True, "quota_configs": configs})
        done.append(f"quota ({', '.join(c.get('role', '?') for c in configs)})")
    weights = state.get("weights") or []
    if weights:
        leader.call("UPDATE_WEIGHTS", update_weights={"weight_infos": weights})
        done.append(f"weights ({', '.join(w.get('role', '?') for w in weights)})")
    return done
