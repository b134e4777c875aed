"""The stand-in checks the same credentials as Mesos: HTTP Basic on the read-only and
read-write realms (`--authenticate_http_readonly/readwrite`, master `--credentials`, agent
`--http_credentials`) and the agent's `--credential` with `--authenticate_agents`."""

from __future__ import annotations

import base64
import http.client
import json
from pathlib import Path

from .procs import Procs, request, wait_until

RESOURCES = "--resources=cpus:1;mem:512;disk:1024;ports:[31000-32000]"


def _credentials(path: Path, *pairs: tuple[str, str]) -> str:
    path.write_text(json.dumps({"credentials": [{"principal": p, "secret": s} for p, s in pairs]}))
    return str(path)


def _get(port: int, path: str, principal: str, secret: str) -> int:
    token = base64.b64encode(f"{principal}:{secret}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Authorization": f"Basic {token}"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_endpoints_need_the_credentials_of_their_realm(procs: Procs, tmp_path: Path) -> None:
    master_creds = _credentials(
        tmp_path / "master.json", ("ops", "ops-secret-123"), ("agent", "agent-secret-1")
    )
    (tmp_path / "agent.json").write_text(
        json.dumps({"principal": "agent", "secret": "agent-secret-1"})
    )
    master = procs.master(
        "--registry=in_memory",
        "--authenticate_agents",
        "--authenticate_http_readonly",
        "--authenticate_http_readwrite",
        f"--credentials=file://{master_creds}",
    )
    agent = procs.agent(
        f"127.0.0.1:{master.port}",
        RESOURCES,
        f"--credential={tmp_path / 'agent.json'}",
        "--authenticate_http_readonly",
        f"--http_credentials={_credentials(tmp_path / 'http.json', ('ops', 'ops-secret-123'))}",
    )
    wait_until(lambda: _get(master.port, "/master/health", "x", "y") == 200, "the master to answer")
    for path in ("/master/state", "/master/flags", "/metrics/snapshot"):
        reply = request(master.port, path)
        assert reply.status == 401, path
        assert reply.headers["WWW-Authenticate"] == 'Basic realm="mesos-master-readonly"'
        assert _get(master.port, path, "ops", "wrong") == 401
        assert _get(master.port, path, "ops", "ops-secret-123") == 200
    reply = request(master.port, "/master/maintenance/schedule", "POST", {"windows": []})
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="mesos-master-readwrite"'
    for open_path in ("/master/health", "/master/redirect", "/version"):
        assert request(master.port, open_path).status in (200, 307), open_path
    # The agent registers with its credential, and guards its own read-only endpoints.
    wait_until(
        lambda: (
            _get(agent.port, "/slave(1)/state", "ops", "ops-secret-123") == 200
            and json.loads(request_as(agent.port, "/slave(1)/state", "ops", "ops-secret-123"))["id"]
        ),
        "the agent to register with its credential",
    )
    assert request(agent.port, "/slave(1)/state").status == 401
    assert request(agent.port, "/health").status == 200


def request_as(port: int, path: str, principal: str, secret: str) -> str:
    token = base64.b64encode(f"{principal}:{secret}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Authorization": f"Basic {token}"})
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def test_an_agent_without_a_valid_credential_is_refused(procs: Procs, tmp_path: Path) -> None:
    creds = _credentials(tmp_path / "master.json", ("agent", "agent-secret-1"))
    (tmp_path / "bad.json").write_text(json.dumps({"principal": "agent", "secret": "guessed-1"}))
    master = procs.master("--registry=in_memory", "--authenticate_agents", f"--credentials={creds}")
    procs.agent(f"127.0.0.1:{master.port}", RESOURCES, f"--credential={tmp_path / 'bad.json'}")
    procs.agent(f"127.0.0.1:{master.port}", RESOURCES)
    wait_until(lambda: request(master.port, "/master/health").status == 200, "the master")
    import time

    time.sleep(3)  # several registration attempts (backoff 200ms)
    assert request(master.port, "/master/slaves").json()["slaves"] == []
