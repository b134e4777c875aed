"""Ctrl-C (exit 130 at start-up, in Ansible runs, in doctor), paramiko's log output, and the
known_hosts file `status --via-ssh` shares with `doctor` (issue #12)."""

from __future__ import annotations

import _thread
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from provisioner import __main__ as entry
from provisioner import ansible, operations
from provisioner.cli import app
from provisioner.cluster import open_cluster
from provisioner.doctor import run_doctor
from provisioner.domain import Machine
from provisioner.remote.ssh import SshProbes
from provisioner.spec import ClusterSpec

from .ssh_fakes import FakeSshServer

runner = CliRunner()


@pytest.fixture(autouse=True)
def ctrl_c_raises() -> Any:
    """Python's own SIGINT handler, even when the suite was started with SIGINT ignored (a
    background job of a non-interactive shell inherits SIG_IGN, and Python keeps it)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _sigint_default() -> None:
    """preexec_fn: the child starts with SIGINT at its default, whatever the suite inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# ---- start-up


class _InterruptedModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        raise KeyboardInterrupt


def test_ctrl_c_while_the_cli_is_imported_is_exit_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "provisioner.cli", _InterruptedModule("provisioner.cli"))
    with pytest.raises(SystemExit) as info:
        entry.main()
    assert info.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"


CHILD = """
import os, signal, sys

class SigintOnImport:  # a real SIGINT while the CLI's dependencies are imported
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, SigintOnImport())
from provisioner.__main__ import main
sys.argv = ["dcos-provision", "validate", sys.argv[1]]
main()
"""


def test_a_real_sigint_during_start_up_is_exit_130(tmp_path: Path) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text("name: x\nprovider: {kind: vagrant}\n")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_sigint_default,
    )
    assert result.returncode == 130, result.stderr
    assert result.stderr == "interrupted\n"


def test_the_console_script_goes_through_the_guard() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["dcos-provision"] == "provisioner.__main__:main"


# ---- Ansible runs


class _FakeRunner:
    def __init__(self, status: str, rc: int) -> None:
        self.status, self.rc, self.stats = status, rc, None


def _fake_run_interrupted(**kwargs: Any) -> _FakeRunner:
    """What ansible-runner does on Ctrl-C: the cancel callback turns true, the run is cancelled."""
    signal.raise_signal(signal.SIGINT)
    assert kwargs["cancel_callback"]() is True
    return _FakeRunner("canceled", 254)


def _fake_run_child_died(**kwargs: Any) -> _FakeRunner:
    """ansible-playbook got the terminal's SIGINT too and exited before the runner cancelled."""
    signal.raise_signal(signal.SIGINT)
    return _FakeRunner("failed", 1)


@pytest.mark.parametrize("fake_run", [_fake_run_interrupted, _fake_run_child_died])
def test_ctrl_c_during_a_playbook_is_a_keyboard_interrupt_and_the_handler_is_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_run
) -> None:
    import ansible_runner

    monkeypatch.setattr(ansible_runner, "run", fake_run)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match=r"site\.yml interrupted"):
        ansible.run_playbook("site.yml", inventory=tmp_path / "inv.yml", state_dir=tmp_path)
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C works again afterwards
        signal.raise_signal(signal.SIGINT)


def test_a_failed_run_without_ctrl_c_is_still_an_ansible_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ansible_runner

    from provisioner.errors import AnsibleError

    monkeypatch.setattr(ansible_runner, "run", lambda **_k: _FakeRunner("failed", 2))
    with pytest.raises(AnsibleError):
        ansible.run_playbook("site.yml", inventory=tmp_path / "inv.yml", state_dir=tmp_path)


def test_an_interrupted_up_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text("name: x\nprovider: {kind: vagrant}\n")

    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt("site.yml interrupted")

    monkeypatch.setattr(operations, "up", interrupted)
    result = runner.invoke(app, ["up", str(spec)])
    assert result.exit_code == 130
    assert "interrupted" in result.stderr


# ---- doctor


@pytest.fixture
def silent_ssh_port() -> Any:
    """Accepts TCP connections and never says a word (an SSH banner that never comes)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    for conn in held:
        conn.close()


def test_doctor_stops_within_a_second_of_ctrl_c(silent_ssh_port: int, tmp_path: Path) -> None:
    machines = [
        Machine(f"m{i}", ("agent",), "127.0.0.1", "ops", ssh_port=silent_ssh_port)
        for i in range(20)  # more than one batch of parallel checks
    ]
    spec = ClusterSpec.model_validate({"name": "doc"})
    timer = threading.Timer(0.5, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_doctor(spec, machines, timeout_s=30, known_hosts=tmp_path / "known_hosts")
    assert time.monotonic() - started < 0.5 + 1.5  # the interrupt came at 0.5 s


def test_doctor_keeps_paramiko_logs_off_stderr() -> None:
    code = (
        "import logging, sys\n"
        "import provisioner.doctor\n"
        "assert 'provisioner.remote.ssh' not in sys.modules\n"
        "logging.getLogger('paramiko.transport').error('Exception (client): boom\\nTraceback')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


# ---- status --via-ssh and the state directory's known_hosts


@pytest.fixture
def ssh_server(tmp_path: Path) -> Any:
    server = FakeSshServer(tmp_path)
    yield server
    server.stop()


def strict_machine(server: FakeSshServer) -> Machine:
    return Machine(
        "m1",
        ("master", "zookeeper"),
        "127.0.0.1",
        "vagrant",
        ssh_port=server.port,
        ssh_private_key=str(server.client_key_file),
        strict_host_keys=True,
        zookeeper_id=1,
    )


def test_ssh_probes_trust_the_key_doctor_recorded(
    ssh_server: FakeSshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no ~/.ssh/known_hosts at all
    known_hosts = tmp_path / "known_hosts"
    key = ssh_server.host_key
    known_hosts.write_text(f"[127.0.0.1]:{ssh_server.port} {key.get_name()} {key.get_base64()}\n")
    probes = SshProbes([strict_machine(ssh_server)], timeout_s=5, known_hosts_file=str(known_hosts))
    try:
        probes.tcp("127.0.0.1", ssh_server.port)  # logs in: the key is known
    finally:
        probes.close()
    assert ssh_server.logins == 1


def test_status_via_ssh_uses_the_state_directorys_known_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "c.yaml"
    spec.write_text("name: p\nprovider: {kind: vagrant}\n")
    cluster = open_cluster(spec)
    state = cluster.store.load()
    state.machines["p-master-1"] = Machine("p-master-1", ("master",), "10.0.3.9", "vagrant")
    cluster.store.save(state)
    seen: dict[str, Any] = {}

    def check_cluster(_spec: Any, _machines: Any, *, probes: Any = None, **_kw: Any) -> str:
        seen["known_hosts"] = getattr(probes, "_known_hosts_file", None)
        return "report"

    from provisioner import health

    monkeypatch.setattr(health, "check_cluster", check_cluster)
    assert operations.status(cluster, via_ssh=True) == "report"
    assert seen["known_hosts"] == str(cluster.state_dir / "known_hosts")
    assert json.dumps(seen)  # plain values only


def test_ssh_probes_read_the_users_known_hosts_when_the_state_has_none(
    ssh_server: FakeSshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    key = ssh_server.host_key
    (home / ".ssh" / "known_hosts").write_text(
        f"[127.0.0.1]:{ssh_server.port} {key.get_name()} {key.get_base64()}\n"
    )
    missing = tmp_path / "state" / "known_hosts"  # doctor never recorded anything
    probes = SshProbes([strict_machine(ssh_server)], timeout_s=5, known_hosts_file=str(missing))
    try:
        probes.tcp("127.0.0.1", ssh_server.port)
    finally:
        probes.close()
    assert ssh_server.logins == 1
