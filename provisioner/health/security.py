"""Security layer (`status`): which protections the cluster runs with, as observed.

Mesos from the flags every master and every agent reports (`/master/flags`, `/flags`), the
ZooKeeper ACL of /mesos as ZooKeeper stores it, the firewall from the live nftables table of
each host, read over SSH (it cannot be seen from an address it lets in). A check fails,
naming the host, when the cluster runs with less than the spec asks for (e.g. not converged
since security was turned on, or `nft flush ruleset` on a host); a protection the spec turns
off passes with "OFF (spec)" in its detail.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from ..domain import MESOS_ZNODE, Layer, Machine, Role
from ..ports import CLUSTER_PORTS, MESOS_AGENT_PORT, MESOS_MASTER_PORT, ZOOKEEPER_CLIENT_PORT
from ..remote.probes import ProbeError, Probes, get_json
from .masters import MasterFacts
from .parallel import each
from .report import CheckResult
from .view import ClusterView, Results

LAYER = Layer.SECURITY

#: Master flags of each protection, as /master/flags shows them.
MASTER_AUTH_FLAGS = (
    "authenticate_frameworks",
    "authenticate_http_frameworks",
    "authenticate_agents",
    "authenticate_http_readwrite",
)
AGENT_AUTH_FLAGS = ("authenticate_http_readwrite",)
#: The nftables table the common role loads, listed as root (sudo when the SSH user is not).
FIREWALL_TABLE = "inet dcos_provision"
LIST_FIREWALL = (
    f'if [ "$(id -u)" = 0 ]; then nft list table {FIREWALL_TABLE}; '
    f"else sudo -n nft list table {FIREWALL_TABLE}; fi"
)


class HostCommands(Protocol):
    """Runs a command on a machine over SSH: (exit code, stdout, stderr)."""

    def run(
        self, machine: Machine, command: str, stdin: str = "", timeout_s: float = 60.0
    ) -> tuple[int, str, str]: ...


def _flags(probes: Probes, address: str, port: int, paths: tuple[str, ...]) -> dict[str, Any]:
    """The flags a node reports; raises ProbeError with the observation."""
    status = 0
    for path in paths:
        status, data = get_json(probes, address, port, path)
        if status == 200 and isinstance(data, dict):
            return data.get("flags") or {}
        if status != 404:
            break
    raise ProbeError(f"{paths[0]} answered {status}")


def _on(flags: dict[str, Any], name: str) -> bool:
    return str(flags.get(name, "false")).lower() == "true"


def _judge(results: Results, name: str, host: str | None, wanted: bool, seen: list[str]) -> None:
    """ok when the cluster runs at least what the spec asks; `seen` lists what is off."""
    if not wanted:
        results.add(name, host, True, "OFF (spec)")
    elif seen:
        results.add(name, host, False, f"the spec turns it on, but off: {', '.join(seen)}")
    else:
        results.add(name, host, True, "on")


class FirewallReads:
    """Every host's live firewall, read over SSH in the background from the moment this is
    made (`hosts` None: what the spec configures). An SSH login per host is the slowest probe
    of a status, so `run_checks` starts the reads before the first layer."""

    def __init__(self, view: ClusterView, hosts: HostCommands | None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._checks = self._pool.submit(_firewall_checks, view, hosts)

    def checks(self) -> list[CheckResult]:
        """The firewall checks, once every host is read."""
        return self._checks.result()

    def close(self) -> None:
        """Waits for the reads (unused when the security layer is skipped)."""
        self._pool.shutdown(wait=True)


def check_security(
    view: ClusterView,
    probes: Probes,
    facts: MasterFacts,
    hosts: HostCommands | None = None,
    firewall: FirewallReads | None = None,
) -> list[CheckResult]:
    """The security layer; `hosts` reads each host's firewall over SSH (None: the firewall
    check reports only what the spec configures) unless `firewall` has the reads under way.
    Every node is asked at once."""
    results = Results(LAYER)
    security = view.spec.security
    masters = view.members(Role.MASTER)
    if facts.leader is None and not masters:
        results.add("mesos_authentication", None, False, "no leading master to ask")
    reads = firewall if firewall is not None else FirewallReads(view, hosts)
    try:
        flag_checks = [
            partial(_daemon_checks, probes, machine, security, daemon)
            for daemon, machines in ((_MASTER, masters), (_AGENT, view.members(Role.AGENT)))
            for machine in machines
        ]
        for checks in each(flag_checks, lambda check: check()):
            results.checks.extend(checks)
        _zookeeper_check(results, view, probes, security.zookeeper_acl)
        _tls_checks(results, view, probes)
        results.checks.extend(reads.checks())
    finally:
        if firewall is None:
            reads.close()
    return results.checks


def _firewall_checks(view: ClusterView, hosts: HostCommands | None) -> list[CheckResult]:
    results = Results(LAYER)
    firewall = view.spec.security.firewall
    if not firewall.enabled:
        results.add("firewall", None, True, "OFF (spec)")
    elif hosts is None:
        allowed = ", ".join(firewall.operator_cidrs) or "the controller's address"
        ports = ", ".join(str(port) for port in CLUSTER_PORTS)
        results.add(
            "firewall",
            None,
            True,
            f"on (spec): ports {ports} accept the cluster's machines and {allowed} only "
            "(not observed: no SSH)",
        )
    else:
        # one SSH login per host: all at once (each is a key exchange; 8 in a row took 1.5 s)
        machines = list(view.machines)
        reads = each(machines, lambda machine: _read_firewall(hosts, machine))
        for machine, read in zip(machines, reads, strict=True):
            _firewall_check(results, machine, read)
    return results.checks


def _read_firewall(hosts: HostCommands, machine: Machine) -> tuple[int, str, str] | ProbeError:
    try:
        return hosts.run(machine, LIST_FIREWALL, timeout_s=30)
    except ProbeError as exc:
        return exc


def _firewall_check(
    results: Results, machine: Machine, read: tuple[int, str, str] | ProbeError
) -> None:
    """The host's live nftables table must exist and end in the drop of the cluster ports."""
    if isinstance(read, ProbeError):
        results.add("firewall", machine.name, False, f"cannot read its nftables rules: {read}")
        return
    code, out, err = read
    ports = ", ".join(str(port) for port in CLUSTER_PORTS)
    if code != 0:
        why = (err or out).strip().splitlines()[-1:] or [f"exit {code}"]
        results.add(
            "firewall",
            machine.name,
            False,
            f"the spec turns it on, but table {FIREWALL_TABLE} is not loaded ({why[0]})",
        )
    elif f"tcp dport {{ {ports} }} drop" not in out:
        results.add(
            "firewall",
            machine.name,
            False,
            f"the spec turns it on, but table {FIREWALL_TABLE} does not drop ports {ports}",
        )
    else:
        results.add("firewall", machine.name, True, f"on: table {FIREWALL_TABLE} loaded")


@dataclass(frozen=True)
class _Daemon:
    """Where a Mesos daemon shows its flags and which checks judge them."""

    port: int
    paths: tuple[str, ...]  # tried in order while they answer 404
    auth_flags: tuple[str, ...]
    credential_flag: str
    auth_check: str
    acls_check: str


_MASTER = _Daemon(MESOS_MASTER_PORT, ("/master/flags",), MASTER_AUTH_FLAGS, "credentials",
                  "mesos_authentication", "mesos_acls")  # fmt: skip
_AGENT = _Daemon(MESOS_AGENT_PORT, ("/slave(1)/flags", "/flags"), AGENT_AUTH_FLAGS, "credential",
                 "agent_authentication", "agent_acls")  # fmt: skip


def _daemon_checks(
    probes: Probes, machine: Machine, security: Any, daemon: _Daemon
) -> list[CheckResult]:
    """Authentication and ACL checks of one master or agent, from its flags."""
    results = Results(LAYER)
    try:
        flags = _flags(probes, machine.address, daemon.port, daemon.paths)
    except ProbeError as exc:
        results.add(daemon.auth_check, machine.name, False, f"{daemon.paths[-1]}: {exc}")
        return results.checks
    off = [f for f in daemon.auth_flags if not _on(flags, f)]
    off += [] if flags.get(daemon.credential_flag) else [f"--{daemon.credential_flag}"]
    if security.readonly_auth and not _on(flags, "authenticate_http_readonly"):
        off.append("authenticate_http_readonly")
    wanted = security.authentication
    _judge(results, daemon.auth_check, machine.name, wanted, off if wanted else [])
    missing_acls = [] if flags.get("acls") or not security.acls else ["--acls"]
    _judge(results, daemon.acls_check, machine.name, security.acls, missing_acls)
    return results.checks


def _zookeeper_check(results: Results, view: ClusterView, probes: Probes, wanted: bool) -> None:
    reader = getattr(probes, "zk_acls", None)
    if reader is None:
        results.add(
            "zookeeper_acl",
            None,
            True,
            ("on (spec)" if wanted else "OFF (spec)") + "; not observable through these probes",
        )
        return
    hosts = [f"{m.address}:{ZOOKEEPER_CLIENT_PORT}" for m in view.members(Role.ZOOKEEPER)]
    try:
        acls: list[tuple[str, str, int]] = reader(hosts, MESOS_ZNODE)
    except ProbeError as exc:
        results.add("zookeeper_acl", None, False, f"ACL of {MESOS_ZNODE}: {exc}")
        return
    # READ is 1; anything more for `world:anyone` lets outsiders change the znodes.
    world_writes = any(scheme == "world" and perms & ~1 for scheme, _id, perms in acls)
    shown = ", ".join(f"{scheme}:{ident.split(':')[0]}:{perms}" for scheme, ident, perms in acls)
    if not wanted:
        results.add("zookeeper_acl", None, True, f"OFF (spec): {MESOS_ZNODE} ACL {shown}")
    elif world_writes:
        results.add(
            "zookeeper_acl",
            None,
            False,
            f"the spec turns it on, but {MESOS_ZNODE} is writable by anyone ({shown})",
        )
    else:
        results.add("zookeeper_acl", None, True, f"on: {MESOS_ZNODE} ACL {shown}")


def _tls_checks(results: Results, view: ClusterView, probes: Probes) -> None:
    """Each Mesos node answers in TLS with a certificate of the cluster CA; one expiring within
    `security.tls.expiry_warning_days` is a warning (the check still passes)."""
    tls = view.spec.security.tls
    if not tls.enabled:
        results.add("tls", None, True, "OFF (spec)")
        return
    reader = getattr(probes, "certificate_expiry", None)
    if reader is None:
        results.add("tls", None, True, "on (spec); not observable through these probes")
        return
    if getattr(probes, "tls", None) is None:
        results.add(
            "tls",
            None,
            False,
            "the spec turns it on, but the cluster has no CA in the state directory yet "
            "(built before TLS): run `up --converge`",
        )
        return
    nodes = [(node, MESOS_MASTER_PORT) for node in view.members(Role.MASTER)]
    nodes += [(node, MESOS_AGENT_PORT) for node in view.members(Role.AGENT)]

    def expiry(node: tuple[Machine, int]) -> float | ProbeError:
        try:
            return float(reader(node[0].address, node[1]))
        except ProbeError as exc:
            return exc

    for (node, port), expires in zip(nodes, each(nodes, expiry), strict=True):  # all at once
        if isinstance(expires, ProbeError):
            results.add("tls", node.name, False, f"port {port}: {expires}")
            continue
        days = (expires - time.time()) / 86400
        if days <= 0:
            results.add("tls", node.name, False, f"port {port}: the certificate has expired")
        elif days <= tls.expiry_warning_days:
            results.add(
                "tls",
                node.name,
                True,
                f"WARNING: port {port}: the certificate expires in {days:.1f} days "
                f"(warning at {tls.expiry_warning_days}): renew it (remove "
                f"pki/{node.name}.* from the state directory, then `up --converge`)",
            )
        else:
            results.add("tls", node.name, True, f"on: port {port}, expires in {days:.0f} days")
