"""Workload layer: the cluster runs one short real task through the Mesos v1 scheduler API.

SUBSCRIBE as a framework on the leader (`POST /api/v1/scheduler`, a chunked RecordIO stream of
events carrying `Mesos-Stream-Id`), wait for an offer, ACCEPT it with a LAUNCH of a tiny
command task, ACKNOWLEDGE its status updates until `TASK_FINISHED`, then TEARDOWN. Plain
http.client over the probes' streams (so it also works `--via-ssh`); no libmesos.
MESOS-FACTS §10 has the recorded exchange. The test stand-in runs no tasks: there the layer
says it is not available and never passes.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..domain import Layer
from ..ports import MESOS_MASTER_PORT
from ..remote.probes import ProbeError, StreamHTTPConnection, describe_error
from ..security import Credential
from .report import CheckResult

LAYER = Layer.WORKLOAD

SCHEDULER_PATH = "/api/v1/scheduler"
FRAMEWORK_NAME = "dcos-provision-workload"
#: The unprivileged account every Debian/RHEL host has; the task runs as this user.
TASK_USER = "nobody"
TASK_COMMAND = "echo dcos-provision workload check"
TASK_CPUS = 0.1
TASK_MEM_MB = 32.0
DEFAULT_TIMEOUT_S = 60.0
TERMINAL_STATES = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_UNREACHABLE",
    "TASK_GONE_BY_OPERATOR",
}

Opener = Callable[[str, int, float], Any]


class WorkloadError(Exception):
    """The task did not finish; the message says where it stopped."""


@dataclass
class TaskOutcome:
    """What one run observed: the agent the task ran on, its states, and the time taken."""

    agent: str | None = None
    states: list[str] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0

    @property
    def last_state(self) -> str | None:
        return self.states[-1] if self.states else None


def read_records(response: Any) -> Iterator[dict[str, Any]]:
    """RecordIO: `<length>\\n<length bytes of JSON>` repeated; ends when the stream ends."""
    while True:
        line = response.readline()
        if not line:
            return
        text = line.strip()
        if not text:
            continue
        try:
            size = int(text)
        except ValueError:
            raise WorkloadError(f"bad RecordIO length {text[:40]!r} from the master") from None
        data = response.read(size)
        if len(data) < size:
            return
        try:
            yield json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise WorkloadError(f"an event from the master is not JSON ({exc})") from None


def _scalar(resources: list[dict[str, Any]], name: str) -> float:
    return sum(
        float((r.get("scalar") or {}).get("value", 0.0))
        for r in resources
        if r.get("name") == name and r.get("type") == "SCALAR"
    )


def pick_offer(offers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first offer with room for the tiny task."""
    for offer in offers:
        resources = offer.get("resources") or []
        if _scalar(resources, "cpus") >= TASK_CPUS and _scalar(resources, "mem") >= TASK_MEM_MB:
            return offer
    return None


def task_info(offer: dict[str, Any], user: str = TASK_USER) -> dict[str, Any]:
    # The offer's own resource entries, shrunk to the task's size, keep their role/allocation.
    resources = []
    for name, amount in (("cpus", TASK_CPUS), ("mem", TASK_MEM_MB)):
        template = next(
            r
            for r in offer.get("resources") or []
            if r.get("name") == name and r.get("type") == "SCALAR"
        )
        resources.append({**template, "scalar": {"value": amount}})
    return {
        "name": FRAMEWORK_NAME,
        "task_id": {"value": f"{FRAMEWORK_NAME}-{uuid.uuid4()}"},
        "agent_id": offer["agent_id"],
        "resources": resources,
        "command": {"shell": True, "value": TASK_COMMAND, "user": user},
    }


class SchedulerSession:
    """One framework's conversation with the leading master."""

    def __init__(
        self,
        address: str,
        opener: Opener,
        port: int = MESOS_MASTER_PORT,
        credential: Credential | None = None,
        user: str = TASK_USER,
    ) -> None:
        self.address = address
        self.user = user
        self.port = port
        self.opener = opener
        #: HTTP Basic on every call, and the framework's principal (they must match).
        self.credential = credential
        self.stream_id: str | None = None
        self.framework_id: dict[str, str] | None = None
        self._subscription: StreamHTTPConnection | None = None

    def _connection(self, timeout: float) -> StreamHTTPConnection:
        return StreamHTTPConnection(
            self.address,
            self.port,
            lambda: self.opener(self.address, self.port, timeout),
            timeout,
        )

    def _headers(self, **extra: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", **extra}
        if self.credential is not None and self.credential.principal:
            headers["Authorization"] = self.credential.basic_auth()
        return headers

    def subscribe(self, timeout_s: float) -> Iterator[dict[str, Any]]:
        framework_info: dict[str, Any] = {
            "user": self.user,
            "name": FRAMEWORK_NAME,
            # Gone as soon as the stream closes: nothing lingers when we stop early.
            "failover_timeout": 0,
        }
        if self.credential is not None and self.credential.principal:
            framework_info["principal"] = self.credential.principal
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info}}
        # Reads wait up to the whole budget: a half-read chunk cannot be resumed after a
        # socket timeout, and the master sends a heartbeat every 15 s anyway.
        connection = self._connection(timeout_s)
        self._subscription = connection
        connection.request(
            "POST",
            SCHEDULER_PATH,
            body=json.dumps(body),
            headers=self._headers(),
        )
        response = connection.getresponse()
        if response.status != 200:
            text = response.read(2000).decode("utf-8", "replace").strip()
            raise WorkloadError(
                f"SUBSCRIBE to {self.address}:{self.port} answered {response.status}"
                + (f": {text}" if text else "")
            )
        self.stream_id = response.getheader("Mesos-Stream-Id")
        return read_records(response)

    def call(self, call_type: str, payload: dict[str, Any] | None = None) -> None:
        """One scheduler call on its own connection; the master answers 202 Accepted."""
        body: dict[str, Any] = {"type": call_type, "framework_id": self.framework_id}
        if payload:
            body[call_type.lower()] = payload
        connection = self._connection(10.0)
        try:
            connection.request(
                "POST",
                SCHEDULER_PATH,
                body=json.dumps(body),
                headers=self._headers(**{"Mesos-Stream-Id": self.stream_id or ""}),
            )
            response = connection.getresponse()
            text = response.read(2000).decode("utf-8", "replace").strip()
        finally:
            connection.close()
        if response.status not in (200, 202):
            raise WorkloadError(
                f"{call_type} answered {response.status}" + (f": {text}" if text else "")
            )

    def close(self) -> None:
        if self.framework_id is not None:
            # Best effort: failover_timeout 0 removes the framework anyway.
            with contextlib.suppress(Exception):
                self.call("TEARDOWN")
        if self._subscription is not None:
            self._subscription.close()


def run_task(
    address: str,
    opener: Opener,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    agent_name: Callable[[str], str] = lambda hostname: hostname,
    clock: Callable[[], float] = time.monotonic,
    credential: Credential | None = None,
    user: str = TASK_USER,
) -> TaskOutcome:
    """Run the tiny task through the leader at `address`; raise WorkloadError naming what
    was last seen (the offer, the agent, the last task state and its message)."""
    outcome = TaskOutcome()
    session = SchedulerSession(address, opener, credential=credential, user=user)
    start = clock()
    launched: str | None = None
    offers_seen = 0
    try:
        for event in _events(session, start, timeout_s, clock):
            kind = event.get("type")
            if kind == "SUBSCRIBED":
                session.framework_id = (event.get("subscribed") or {}).get("framework_id")
            elif kind == "OFFERS":
                offers = (event.get("offers") or {}).get("offers") or []
                offers_seen += len(offers)
                chosen = None if launched else pick_offer(offers)
                if chosen is not None:
                    task = task_info(chosen, user)
                    launched = task["task_id"]["value"]
                    outcome.agent = agent_name(str(chosen.get("hostname", "")))
                    session.call(
                        "ACCEPT",
                        {
                            "offer_ids": [chosen["id"]],
                            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
                            "filters": {"refuse_seconds": 5.0},
                        },
                    )
                others = [o["id"] for o in offers if o is not chosen]
                if others:
                    session.call("DECLINE", {"offer_ids": others, "filters": {}})
            elif kind == "UPDATE":
                status = (event.get("update") or {}).get("status") or {}
                if (status.get("task_id") or {}).get("value") != launched:
                    continue
                outcome.states.append(str(status.get("state")))
                outcome.message = str(status.get("message") or status.get("reason") or "")
                if status.get("uuid"):
                    session.call(
                        "ACKNOWLEDGE",
                        {
                            "agent_id": status.get("agent_id"),
                            "task_id": status.get("task_id"),
                            "uuid": status["uuid"],
                        },
                    )
                if status.get("state") in TERMINAL_STATES:
                    outcome.seconds = clock() - start
                    if status.get("state") == "TASK_FINISHED":
                        return outcome
                    raise WorkloadError(_describe(outcome, "the task ended"))
            elif kind == "ERROR":
                raise WorkloadError(f"the master ended the subscription: {event.get('error')}")
        if session.framework_id is None:
            raise WorkloadError("the master closed the subscription without SUBSCRIBED")
        raise WorkloadError(_describe(outcome, "the master closed the event stream"))
    except TimeoutError:
        outcome.seconds = clock() - start
        if launched is None:
            raise WorkloadError(
                f"no offer with {TASK_CPUS:g} cpus and {TASK_MEM_MB:g} MB within {timeout_s:g}s "
                f"({offers_seen} offer(s) seen): no active agent with free resources"
            ) from None
        raise WorkloadError(_describe(outcome, f"not finished within {timeout_s:g}s")) from None
    except (OSError, ProbeError) as exc:
        text = str(exc) if isinstance(exc, ProbeError) else describe_error(exc, timeout_s)
        raise WorkloadError(f"scheduler API on {address}: {text}") from None
    finally:
        session.close()


def _events(
    session: SchedulerSession, start: float, timeout_s: float, clock: Callable[[], float]
) -> Iterator[dict[str, Any]]:
    """The subscription's events until the deadline (TimeoutError after it)."""
    for event in session.subscribe(timeout_s):
        if clock() - start > timeout_s:
            raise TimeoutError
        yield event


def _describe(outcome: TaskOutcome, what: str) -> str:
    where = f" on agent {outcome.agent}" if outcome.agent else ""
    state = outcome.last_state or "no status update"
    return f"{what}{where}: last state {state}" + (
        f" ({outcome.message})" if outcome.message else ""
    )


def check_workload(
    leader_address: str | None,
    opener: Opener,
    *,
    standin: bool,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    agent_name: Callable[[str], str] = lambda hostname: hostname,
    credential: Credential | None = None,
    user: str = TASK_USER,
) -> list[CheckResult]:
    """The workload layer's one check ("task"); `credential` authenticates the framework,
    the task runs as `user`."""
    if standin:
        return [
            CheckResult(
                LAYER,
                "task",
                None,
                False,
                "not available: the cluster runs the Mesos test stand-in, which runs no tasks",
            )
        ]
    if leader_address is None:
        return [CheckResult(LAYER, "task", None, False, "no leading master to run a task on")]
    try:
        outcome = run_task(
            leader_address,
            opener,
            timeout_s=timeout_s,
            agent_name=agent_name,
            credential=credential,
            user=user,
        )
    except WorkloadError as exc:
        return [CheckResult(LAYER, "task", None, False, str(exc))]
    return [
        CheckResult(
            LAYER,
            "task",
            outcome.agent,
            True,
            f"TASK_FINISHED in {outcome.seconds:.2f}s as {user} ({' -> '.join(outcome.states)})",
            seconds=round(outcome.seconds, 3),
        )
    ]
