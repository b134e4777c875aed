"""Drive the real `dcos-provision` CLI from end-to-end tests, and look inside containers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dcos-provision")
LAB_MESOS = REPO / ".lab/mesos.tar.gz"
LAB_MESOS_KIND = REPO / ".lab/mesos.kind"
LAB_MESOS_VERSION = "1.12.0"


def lab_mesos_kind() -> str:
    """ "real" or "stand-in": what scripts/lab-setup.sh put in .lab/mesos.tar.gz."""
    assert LAB_MESOS.exists() and LAB_MESOS_KIND.exists(), (
        f"{LAB_MESOS} missing: run scripts/lab-setup.sh "
        "(it picks real Mesos from DCOS_PROVISION_MESOS_TARBALL or ../shared/mesos/)"
    )
    return LAB_MESOS_KIND.read_text().strip()


def mesos_install(tarball: Path | None = None) -> dict[str, Any]:
    """The lab's Mesos (real when lab-setup was given a build, else the stand-in). No
    runtime_packages: the box has them baked in, which every e2e test thereby proves."""
    lab_mesos_kind()
    return {"method": "tarball", "path": str(tarball or LAB_MESOS)}


def relabelled_mesos(directory: Path, version: str) -> Path:
    """The lab's Mesos under another version label (for rolling-upgrade tests: what they
    exercise is the orchestration and its gates, not a change of Mesos code)."""
    lab_mesos_kind()
    target = directory / f"mesos-{version}.tar.gz"
    shutil.copyfile(LAB_MESOS, target)
    return target


def mesos_section() -> dict[str, Any]:
    """Mesos install plus the agent flags agents need inside LXC containers (no cgroups)."""
    return {
        "version": LAB_MESOS_VERSION,
        "install": mesos_install(),
        "agent_flags": {
            "launcher": "posix",
            "isolation": "posix/cpu,posix/mem",
            "systemd_enable_support": False,
        },
    }


def write_spec(directory: Path, name: str, masters: int, agents: int) -> Path:
    """A local LXC spec for a test cluster (agents configured for containers)."""
    import yaml

    spec = {
        "name": name,
        "provider": {"kind": "vagrant", "vagrant_provider": "lxc"},
        "masters": {"count": masters},
        "agents": {
            "count": agents,
            "resources": {"cpus": 1, "mem": 512, "disk": 1024},
            "attributes": {"rack": "r1"},
        },
        "mesos": mesos_section(),
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@contextlib.contextmanager
def running_cluster(directory: Path, name: str, masters: int, agents: int) -> Iterator[Path]:
    """A healthy cluster shared by a test module: stale containers of its name go first, and
    it is torn down (`down`, then any container left of its name) even when a test fails."""
    from .lab import containers, remove_stale_containers, require_lab

    require_lab()
    prefix = f"{name}-"
    remove_stale_containers(prefix)
    path = write_spec(directory, name, masters=masters, agents=agents)
    try:
        result = cli_json("up", str(path))
        assert result["healthy"] is True
        yield path
    finally:
        cli("down", "--yes", str(path))
        remove_stale_containers(prefix)
    assert not {c for c in containers() if c.startswith(prefix)}


def readme_quick_start() -> str:
    """The README's quick-start command line: the first `sh` block of its "Quick start"."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Quick start\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    [line] = [line for line in block.splitlines() if line.strip()]
    return line


@contextlib.contextmanager
def quick_start_cluster(state_root: Path) -> Iterator[tuple[Path, str]]:
    """The README's quick start run verbatim from the checkout (lab set-up, then `up` of
    examples/local.yaml), with its state under state_root; yields the spec and the output.
    Stale `local-*` containers go first; `down` and a sweep of them run even when a test fails.
    A quick-start cluster of this checkout's own (state next to the example) is never touched."""
    from .lab import containers, remove_stale_containers, require_lab

    require_lab()
    spec = REPO / "examples" / "local.yaml"
    prefix = f"{yaml_name(spec)}-"
    own = spec.parent / ".dcos-provision" / yaml_name(spec) / "state.json"
    assert not own.exists(), f"bring your own quick-start cluster down first ({own} exists)"
    kind = lab_mesos_kind()
    remove_stale_containers(prefix)
    line = readme_quick_start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCOS_PROVISION_STATE_DIR", str(state_root))
        try:
            result = subprocess.run(["sh", "-c", line], cwd=REPO, capture_output=True,
                                    text=True, timeout=2400, check=False)  # fmt: skip
            output = result.stdout + result.stderr
            sys.stderr.write(f"$ {line} -> {result.returncode}\n{output[-6000:]}")
            assert lab_mesos_kind() == kind, (
                "the quick start's lab set-up picked another Mesos than the suite's: run pytest "
                "with the DCOS_PROVISION_MESOS_TARBALL that scripts/lab-setup.sh was given"
            )
            assert result.returncode == 0, output[-3000:]
            _SPECS.add((spec, state_root))  # http_json: its CA and credentials (TLS, auth)
            yield spec, output
        finally:
            cli("down", "--yes", str(spec))
            remove_stale_containers(prefix)
    assert not {c for c in containers() if c.startswith(prefix)}


def yaml_name(spec: Path) -> str:
    import yaml

    return str(yaml.safe_load(spec.read_text())["name"])


def healthy(rc: int, report: dict[str, Any]) -> bool:
    """A `wait_status` predicate: `status` exits 0 and says healthy."""
    return rc == 0 and report["healthy"]


#: (spec file, --state-dir) the CLI was run with: their secrets let http_json authenticate.
_SPECS: set[tuple[Path, Path | None]] = set()


def secrets_of(spec: Path, state_dir: Path | None = None) -> dict[str, dict[str, str]]:
    """The cluster's generated credentials (`<state dir>/<name>/secrets.json`; the default
    state dir is $DCOS_PROVISION_STATE_DIR, else `.dcos-provision/` next to the spec)."""
    import yaml

    name = yaml.safe_load(spec.read_text())["name"]
    override = os.environ.get("DCOS_PROVISION_STATE_DIR")
    root = state_dir or (Path(override) if override else spec.parent / ".dcos-provision")
    return json.loads((root / name / "secrets.json").read_text())


def basic_auth(credential: dict[str, str]) -> str:
    import base64

    token = f"{credential['principal']}:{credential['secret']}".encode()
    return "Basic " + base64.b64encode(token).decode()


def _operator_auths() -> list[str]:
    """The operator credentials, then the health ones: agents hold only the health principal
    (the operator's secret never goes to an agent)."""
    auths = []
    for name in ("operator", "health"):
        for spec, state_dir in sorted(_SPECS, key=str):
            try:
                auths.append(basic_auth(secrets_of(spec, state_dir)[name]))
            except (OSError, KeyError, ValueError):
                continue  # not created yet, or security off
    return auths


def cli(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run the CLI; stderr is echoed so a failing test shows what the operator would see."""
    state_dir = Path(args[args.index("--state-dir") + 1]) if "--state-dir" in args else None
    _SPECS.update(
        (Path(a), state_dir) for a in args if a.endswith((".yaml", ".yml")) and Path(a).is_file()
    )
    result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout,
                            check=False)  # fmt: skip
    sys.stderr.write(f"$ dcos-provision {' '.join(args)} -> {result.returncode}\n")
    sys.stderr.write(result.stderr[-6000:])
    return result


def cli_json(*args: str, expect_rc: int | None = 0, timeout: float = 1800) -> dict[str, Any]:
    result = cli(*args, "--json", timeout=timeout)
    if expect_rc is not None:
        assert result.returncode == expect_rc, (args, result.returncode, result.stderr[-3000:])
    return json.loads(result.stdout)


def status(spec: Path) -> tuple[int, dict[str, Any]]:
    result = cli("status", str(spec), "--json", timeout=300)
    return result.returncode, json.loads(result.stdout)


def wait_status(
    spec: Path,
    predicate: Callable[[int, dict[str, Any]], bool],
    timeout: float = 240,
    interval: float = 3,
) -> dict[str, Any]:
    """Poll `status --json` until predicate(rc, report) holds; fail with the last report."""
    deadline = time.monotonic() + timeout
    rc, report = status(spec)
    while not predicate(rc, report):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"status never matched in {timeout}s; last rc={rc}: "
                f"{json.dumps(failures(report), indent=1)}"
            )
        time.sleep(interval)
        rc, report = status(spec)
    return report


def failures(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if not c["ok"]]


def failed_in(report: dict[str, Any], layer: str, host: str | None = None) -> list[dict]:
    return [
        c for c in failures(report) if c["layer"] == layer and (host is None or c["host"] == host)
    ]


def layer_ok(report: dict[str, Any], layer: str) -> bool:
    checks = [c for c in report["checks"] if c["layer"] == layer]
    return bool(checks) and all(c["ok"] for c in checks)


def in_container(name: str, *command: str, check: bool = True) -> str:
    result = subprocess.run(["lxc-attach", "-n", name, "--", *command], capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(
            f"{name}: {' '.join(command)} -> {result.returncode}: {result.stderr[-2000:]}"
        )
    return result.stdout


def container_ip(name: str) -> str:
    out = subprocess.run(["lxc-info", "-n", name, "-iH"], capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    return next(ip for ip in out if ip.startswith("10.0.3."))


def four_letter(address: str, command: str) -> str:
    import socket

    with socket.create_connection((address, 2181), timeout=5) as sock:
        sock.sendall(command.encode())
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def state_dir_of(spec: Path, state_dir: Path | None = None) -> Path:
    """`<state dir>/<name>` of a spec (the default state dir is next to the spec)."""
    import yaml

    name = yaml.safe_load(spec.read_text())["name"]
    return (state_dir or spec.parent / ".dcos-provision") / name


def tls_context(spec: Path, state_dir: Path | None = None) -> Any:
    """The client TLS context our own tools use for this cluster (its CA, the controller's
    certificate), or None while the cluster has no CA (TLS off)."""
    from provisioner import pki

    directory = state_dir_of(spec, state_dir)
    if not (pki.pki_dir(directory) / "ca.crt").exists():
        return None
    return pki.client_context(directory, directory.name, 90)


def mesos_connection(address: str, port: int, timeout: float = 10) -> Any:
    """An HTTP connection to a Mesos node: HTTPS with the CA and controller certificate of
    the cluster (of those the CLI was run on) whose CA signed the node's certificate; plain
    HTTP when none did (TLS off)."""
    import http.client
    import ssl

    for spec, state_dir in sorted(_SPECS, key=str):
        try:
            context = tls_context(spec, state_dir)
        except (OSError, ValueError):
            continue
        if context is None:
            continue
        connection = http.client.HTTPSConnection(address, port, timeout=timeout, context=context)
        try:
            connection.connect()  # verifies the server's certificate against this CA
            return connection
        except (ssl.SSLError, OSError):
            connection.close()
    return http.client.HTTPConnection(address, port, timeout=timeout)


def http_json(address: str, port: int, path: str, auth: str | None = None) -> tuple[int, Any]:
    """GET a Mesos endpoint (over TLS where the cluster runs it). Clusters are secure by
    default: a 401 is retried with the operator credentials of the clusters the CLI was run
    on (or with `auth` alone)."""
    for attempt in [auth] if auth else [None, *_operator_auths()]:
        connection = mesos_connection(address, port)
        try:
            connection.request("GET", path, headers={"Authorization": attempt} if attempt else {})
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 401:
            break
    return response.status, (json.loads(body) if body.strip().startswith(b"{") else body)


def play_hosts(log_path: str, play: str) -> list[str]:
    """Hosts in the order they first appear in the runs of one play (serial plays run once
    per batch) of an Ansible run log."""
    hosts: list[str] = []
    inside = False
    for line in Path(log_path).read_text(errors="replace").splitlines():
        if line.startswith("PLAY "):
            inside = line.startswith(f"PLAY [{play}]")
        elif inside and line.startswith(("ok: [", "changed: [")):
            # `host -> delegate` for a delegated task: the play's host is the left side
            host = line.split("[", 1)[1].split("]", 1)[0].split(" -> ")[0]
            if host not in hosts:
                hosts.append(host)
    return hosts


def recap_hosts(log_path: str) -> set[str]:
    """Hosts that appear in the PLAY RECAP of an Ansible run log (i.e. were in the play)."""
    text = Path(log_path).read_text(errors="replace")
    recap = text.rsplit("PLAY RECAP", 1)[-1]
    hosts = set()
    for line in recap.splitlines():
        if ": ok=" in line:
            hosts.add(line.split(":", 1)[0].strip())
    return hosts
