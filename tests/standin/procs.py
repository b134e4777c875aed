"""Running stand-in masters and agents as subprocesses, and talking HTTP to them, for tests."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

STANDIN_DIR = Path(__file__).resolve().parents[1] / "mesos_standin"
BIN = STANDIN_DIR / "bin"
# The launchers run under this interpreter; it needs kazoo (Debian: /usr/bin/python3 with
# python3-kazoo, or the project venv).
PYTHON = os.environ.get("STANDIN_PYTHON", sys.executable)
T = TypeVar("T")
_used_ports: set[int] = set()


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1, never handed out twice in one test session."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _used_ports:
            _used_ports.add(port)
            return port


@dataclasses.dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def request(port: int, path: str, method: str = "GET", body: Any = None) -> HttpReply:
    """One request to 127.0.0.1:port without following redirects."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        data = (
            None
            if body is None
            else (body if isinstance(body, bytes) else json.dumps(body).encode())
        )
        connection.request(method, path, body=data)
        response = connection.getresponse()
        return HttpReply(response.status, dict(response.getheaders()), response.read().decode())
    finally:
        connection.close()


def wait_until(check: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, ValueError, KeyError) as err:  # not up yet, or mid-failover
            last_error = err
        time.sleep(0.2)
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what}"
        + (f" (last error: {last_error!r})" if last_error else "")
    )


class Proc:
    """One stand-in process with its port and log file."""

    def __init__(self, role: str, port: int, args: list[str], log: Path) -> None:
        self.role, self.port, self.log = role, port, log
        self.args = args
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [PYTHON, str(BIN / f"mesos-{role}"), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def flag(self, name: str) -> str:
        """The value this process was started with for `--name`."""
        return next(a.split("=", 1)[1] for a in self.args if a.startswith(f"--{name}="))

    def restart_args(self) -> list[str]:
        """Its flags without --ip/--port, which Procs.start adds again."""
        return [a for a in self.args if not a.startswith(("--ip=", "--port="))]

    def get(self, path: str) -> HttpReply:
        return request(self.port, path)

    def metrics(self) -> dict[str, float]:
        return self.get("/metrics/snapshot").json()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            self.popen.send_signal(sig)
        self.popen.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Procs:
    """Starts stand-in processes and kills every one of them at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Proc] = []

    def start(self, role: str, *args: str, port: int | None = None) -> Proc:
        port = port or free_port()
        name = f"{role}-{port}-{len(self.started)}"
        proc = Proc(
            role, port, ["--ip=127.0.0.1", f"--port={port}", *args], self.workdir / f"{name}.log"
        )
        self.started.append(proc)
        return proc

    def master(self, *args: str, port: int | None = None) -> Proc:
        port = port or free_port()
        return self.start(
            "master", f"--work_dir={self.workdir / f'master-{port}'}", *args, port=port
        )

    def agent(
        self, master: str, *args: str, work_dir: Path | None = None, port: int | None = None
    ) -> Proc:
        port = port or free_port()
        work_dir = work_dir or self.workdir / f"agent-{port}"
        return self.start(
            "agent",
            f"--master={master}",
            f"--work_dir={work_dir}",
            "--registration_backoff_factor=200ms",
            *args,
            port=port,
        )

    def kill_all(self) -> None:
        for proc in self.started:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                proc.kill()

    def logs(self) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.output()[-3000:]}" for p in self.started)


def leader_of(masters: list[Proc]) -> Proc | None:
    """The one live master reporting master/elected 1, if exactly one does."""
    leaders = [m for m in masters if m.alive() and m.metrics()["master/elected"] == 1.0]
    return leaders[0] if len(leaders) == 1 else None
