"""What `diagnose` collects on one host over SSH (paramiko), one item at a time.

Each item is a file in the bundle under ``hosts/<name>/``; an item that fails (missing file,
stopped service, refused port) is recorded with its reason and the next one still runs. A host
that refuses SSH gets every item recorded as not collected, with the login error.
"""

from __future__ import annotations

import json
import shlex
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..domain import Machine, Role
from ..ports import MESOS_AGENT_PORT, MESOS_MASTER_PORT, ZOOKEEPER_CLIENT_PORT
from ..redact import redact_data, redact_text
from ..remote.connect import connect as ssh_connect
from ..remote.probes import ProbeError, StreamProbes
from ..remote.ssh import describe_ssh_error
from ..sshlib import paramiko

COMMAND_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
ENDPOINT_TIMEOUT_S = 5.0
MAX_ITEM_BYTES = 8 * 1024 * 1024
MESOS_PREFIX = "/opt/mesos"  # the tarball install's stable link (mesos_install_link)


@dataclass(frozen=True)
class Item:
    """One file of a host's part of the bundle, and how to get it."""

    path: str
    #: Shell command run on the host (through `sudo -n` unless logged in as root)...
    command: str | None = None
    #: ...or an endpoint on the node address: (port, HTTP path), or (ZooKeeper's client port,
    #: four-letter word).
    endpoint: tuple[int, str] | None = None


@dataclass
class HostCollection:
    """What one host gave: files (already redacted) and the items it could not give, why."""

    machine: Machine
    files: dict[str, bytes] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    login_error: str | None = None


def _cat(*paths: str) -> str:
    """Print the first of `paths` that exists; fail naming all of them."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    return (
        f'for f in {quoted}; do if [ -f "$f" ]; then exec cat "$f"; fi; done; '
        f'echo "no such file: {" or ".join(paths)}" >&2; exit 1'
    )


def _version(binary: str) -> str:
    candidates = f"{MESOS_PREFIX}/sbin/{binary} {MESOS_PREFIX}/bin/{binary} $(command -v {binary})"
    return (
        f'for b in {candidates}; do if [ -x "$b" ]; then '
        f'LD_LIBRARY_PATH={MESOS_PREFIX}/lib exec "$b" --version; fi; done; '
        f'echo "{binary}: not in {MESOS_PREFIX}/sbin, {MESOS_PREFIX}/bin or PATH" >&2; exit 127'
    )


def _journal(unit: str, lines: int) -> str:
    return f"journalctl -u {unit} -n {lines} --no-pager -o short-iso"


def items_for(roles: Iterable[str], journal_lines: int = 500) -> list[Item]:
    """Everything collected from a host with these roles (paths as the roles' defaults)."""
    roles = set(roles)
    items = [
        Item("system/os.txt", "uname -a; cat /etc/os-release"),
        Item("system/disk.txt", "df -h"),
        Item("system/memory.txt", "free -m"),
        Item("system/failed-units.txt", "systemctl --failed --no-pager"),
    ]
    if Role.ZOOKEEPER in roles:
        items += [
            Item("journal/zookeeper.log", _journal("zookeeper", journal_lines)),
            Item("config/zoo.cfg", _cat("/etc/zookeeper/conf/zoo.cfg", "/etc/zookeeper/zoo.cfg")),
            Item("config/myid", _cat("/var/lib/zookeeper/myid")),
            Item(
                "config/zookeeper-environment",
                _cat("/etc/zookeeper/conf/environment", "/etc/zookeeper/environment"),
            ),
            Item("endpoints/zookeeper-srvr.txt", endpoint=(ZOOKEEPER_CLIENT_PORT, "srvr")),
            Item("endpoints/zookeeper-mntr.txt", endpoint=(ZOOKEEPER_CLIENT_PORT, "mntr")),
        ]
    for role, service, port, prefix in (
        (Role.MASTER, "mesos-master", MESOS_MASTER_PORT, "/master"),
        (Role.AGENT, "mesos-agent", MESOS_AGENT_PORT, ""),
    ):
        if role not in roles:
            continue
        short = service.removeprefix("mesos-")
        items += [
            Item(f"journal/{service}.log", _journal(service, journal_lines)),
            Item(f"config/{service}.env", _cat(f"/etc/default/{service}")),
            Item(f"config/{service}.service", _cat(f"/etc/systemd/system/{service}.service")),
            Item(f"version/{service}.txt", _version(service)),
            Item(f"endpoints/{short}-health.txt", endpoint=(port, f"{prefix}/health")),
            Item(f"endpoints/{short}-state.json", endpoint=(port, f"{prefix}/state")),
            Item(f"endpoints/{short}-flags.json", endpoint=(port, f"{prefix}/flags")),
            Item(
                f"endpoints/{short}-metrics.json",
                endpoint=(port, "/metrics/snapshot?timeout=5secs"),
            ),
        ]
    return items


def connect(machine: Machine, password: str | None, known_hosts: Path | None) -> paramiko.SSHClient:
    """A logged-in client; host keys are checked as `status --via-ssh` checks them."""
    return ssh_connect(
        machine, timeout_s=CONNECT_TIMEOUT_S, known_hosts=known_hosts, password=password
    )


def run_command(client: paramiko.SSHClient, command: str, as_root: bool) -> bytes:
    """The command's stdout; raises RuntimeError with its stderr when it exits non-zero.

    Through `sudo -n` when `as_root`; when sudo itself refuses (no passwordless sudo), the
    command runs as the login user instead (journals are often readable by group adm).
    """
    wrapped = f"LC_ALL=C sh -c {shlex.quote(command)}"
    rc, out, err = _exec(client, f"sudo -n {wrapped}" if as_root else wrapped)
    if as_root and rc != 0 and err.startswith("sudo:"):
        rc, out, err = _exec(client, wrapped)
        err = f"{err} (without sudo, which refused)" if rc else err
    if rc != 0:
        raise RuntimeError(f"exit {rc}: {err.splitlines()[-1] if err else 'no message'}")
    return out


def _exec(client: paramiko.SSHClient, command: str) -> tuple[int, bytes, str]:
    _stdin, stdout, stderr = client.exec_command(command, timeout=COMMAND_TIMEOUT_S)
    try:
        out = stdout.read(MAX_ITEM_BYTES)
        err = stderr.read(64 * 1024).decode("utf-8", errors="replace").strip()
        return stdout.channel.recv_exit_status(), out, err
    finally:
        stdout.channel.close()


class SessionProbes(StreamProbes):
    """The health probes' HTTP and four-letter words through an open SSH session."""

    def __init__(self, client: paramiko.SSHClient, timeout_s: float) -> None:
        super().__init__(timeout_s)
        self.client = client

    def _open(self, address: str, port: int, timeout_s: float) -> paramiko.Channel:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise ProbeError("ssh session lost")
        try:
            channel = transport.open_channel(
                "direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=timeout_s
            )
        except paramiko.ChannelException as exc:
            raise ProbeError(f"connection refused ({exc.text or 'channel open failed'})") from None
        channel.settimeout(timeout_s)
        return channel


def fetch_endpoint(probes: StreamProbes, machine: Machine, port: int, what: str) -> bytes:
    """An HTTP answer (JSON pretty-printed and redacted) or a ZooKeeper four-letter answer."""
    if not what.startswith("/"):
        return probes.four_letter(machine.cluster_address, what).encode()
    status, _headers, body = probes.http_get(machine.cluster_address, port, what)
    if status != 200:
        raise ProbeError(f"HTTP {status}: {body[:200].decode('utf-8', errors='replace')}")
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return (json.dumps(redact_data(data), indent=2, sort_keys=True) + "\n").encode()


def collect_host(
    machine: Machine,
    items: list[Item],
    *,
    password: str | None = None,
    known_hosts: Path | None = None,
    known_secrets: tuple[str, ...] = (),
    http_auth: str | None = None,
    tls: ssl.SSLContext | None = None,
    connector: Callable[..., paramiko.SSHClient] = connect,
) -> HostCollection:
    """Collect every item; never raises for a host problem (it is recorded instead)."""
    result = HostCollection(machine)
    try:
        client = connector(machine, password, known_hosts)
    except Exception as exc:
        result.login_error = describe_ssh_error(exc, machine, CONNECT_TIMEOUT_S)
        result.missing = {item.path: f"not collected: {result.login_error}" for item in items}
        return result
    probes = SessionProbes(client, ENDPOINT_TIMEOUT_S)  # one SSH session for everything
    probes.http_auth = http_auth
    probes.tls = tls
    as_root = machine.ssh_user != "root"
    try:
        for item in items:
            try:
                if item.command is not None:
                    raw = run_command(client, item.command, as_root)
                else:
                    assert item.endpoint is not None
                    raw = fetch_endpoint(probes, machine, *item.endpoint)
            except ProbeError as exc:
                result.missing[item.path] = str(exc)
            except Exception as exc:
                result.missing[item.path] = str(exc) or type(exc).__name__
            else:
                text = raw.decode("utf-8", errors="replace")
                result.files[item.path] = redact_text(text, known_secrets).encode()
    finally:
        client.close()
    return result
