"""Entry points of bin/mesos-master and bin/mesos-agent: flags, start-up checks, then serve.

Start-up refusals use the messages of src/master/main.cpp and src/slave/main.cpp, and exit 1,
so a misconfigured role fails here as it would with real Mesos.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

from . import STANDIN_NAME, log, mesos_version
from .flagdefs import AGENT_FLAGS, MASTER_FLAGS
from .flags import Flag, FlagError, Flags, load, usage
from .http_util import Router, Server
from .resources import ParseError, agent_resources, parse_attributes, summary
from .values import default_ip, is_ipv4, parse_pid, reverse_lookup
from .zk_url import CHROOT_ERROR, ZkUrl, parse_url

PROGRAMS = {"master": "mesos-master", "agent": "mesos-agent"}


class StartupError(Exception):
    """Refusal to start; `usage` adds the flag list after the message, as flags.usage() does."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def _address(flags: Flags) -> tuple[str, str, int, str]:
    """(bind ip, advertised ip, advertised port, hostname) following libprocess' rules."""
    ip = flags.get("ip")
    if ip and flags.get("ip_discovery_command"):
        raise StartupError("Only one of `--ip` or `--ip_discovery_command` should be specified")
    if flags.get("ip_discovery_command"):
        result = subprocess.run(
            flags.get("ip_discovery_command"),
            shell=True,
            text=True,
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise StartupError(f"Failed to execute ip_discovery_command: {result.stderr.strip()}")
        ip = result.stdout.strip()
    if ip is not None and not is_ipv4(ip):
        raise StartupError(f"Parsing LIBPROCESS_IP={ip} failed: Failed to parse IP address '{ip}'")
    advertise_ip = flags.get("advertise_ip")
    if advertise_ip is not None and not is_ipv4(advertise_ip):
        raise StartupError(
            f"Parsing LIBPROCESS_ADVERTISE_IP={advertise_ip} failed: Failed to "
            f"parse IP address '{advertise_ip}'"
        )
    public_ip = advertise_ip or (ip if ip and ip != "0.0.0.0" else default_ip())
    port = flags.get("advertise_port") or flags.get("port")
    hostname = flags.get("hostname")
    if not hostname:
        hostname = reverse_lookup(public_ip) if flags.get("hostname_lookup") else public_ip
        if not hostname:
            log.warning(
                f"Failed to get hostname for {public_ip}; using the IP (real Mesos would exit here)"
            )
            hostname = public_ip
    return ip or "0.0.0.0", public_ip, int(port), hostname


def _bind(flags: Flags, bind_ip: str, router: Router) -> Server:
    try:
        return Server((bind_ip, int(flags.get("port"))), router)
    except OSError as err:
        raise StartupError(
            f"Failed to initialize: Failed to bind on {bind_ip}:"
            f"{flags.get('port')}: {err.strerror or err}"
        ) from err


def _zk_url(value: str, what: str) -> ZkUrl:
    text = value.strip()
    if not text.startswith("zk://"):
        raise StartupError(f"Failed to create a master {what}: Failed to parse '{text}'")
    try:
        url = parse_url(text)
    except ValueError as err:
        raise StartupError(f"Failed to create a master {what}: {err}") from err
    if url.path == "/":
        raise StartupError(f"Failed to create a master {what}: {CHROOT_ERROR}")
    return url


def _kazoo() -> None:
    try:
        import kazoo  # noqa: F401
    except ImportError as err:
        raise StartupError(
            f"The {STANDIN_NAME} needs kazoo (Debian: python3-kazoo): {err}"
        ) from err


def run_master(flags: Flags) -> None:
    _kazoo()
    from .contender import Contender
    from .master import Master
    from .master_http import MasterEndpoints

    registry = flags.get("registry")
    if registry not in ("replicated_log", "in_memory"):
        raise StartupError(f"'{registry}' is not a supported option for registry persistence")
    zk = flags.get("zk").strip() if flags.get("zk") else None
    if registry == "replicated_log":
        if not flags.get("work_dir"):
            raise StartupError("--work_dir needed for replicated log based registry")
        try:
            os.makedirs(os.path.join(flags.get("work_dir"), "replicated_log"), exist_ok=True)
        except OSError as err:
            raise StartupError(
                f"Failed to create work directory '{flags.get('work_dir')}': {err.strerror}"
            ) from err
        if zk and flags.get("quorum") is None:
            raise StartupError(
                "Need to specify --quorum for replicated log based registry when using ZooKeeper"
            )
    url = _zk_url(zk, "contender") if zk else None
    if flags.get("agent_reregister_timeout") < 600:
        raise StartupError(
            f"Invalid value '{flags.shown['agent_reregister_timeout']}' for "
            "--agent_reregister_timeout: Expected at least 10mins"
        )
    bind_ip, ip, port, hostname = _address(flags)
    master = Master(flags, mesos_version(), ip, port, hostname)
    server = _bind(flags, bind_ip, MasterEndpoints(master).router())
    log.info(f"Master {master.id} ({hostname}) started on {ip}:{port} [{STANDIN_NAME}]")
    master.start_pinger()
    if url is None:
        master.become_leader()
        threading.Thread(target=_tick_forever, args=(master,), daemon=True).start()
    else:
        Contender(master, url, float(flags.get("zk_session_timeout"))).start()
    server.serve_forever()


def _tick_forever(master: object) -> None:
    while True:
        time.sleep(1.0)
        master.tick()  # type: ignore[attr-defined]


def run_agent(flags: Flags) -> None:
    _kazoo()
    from .agent import Agent
    from .agent_http import AgentEndpoints
    from .zk import LeaderDetector

    master_flag = flags.get("master")
    if not master_flag and not flags.get("master_detector"):
        raise StartupError("Missing required option `--master` or `--master_detector`", usage=True)
    if flags.get("master_detector"):
        raise StartupError("--master_detector modules are not supported by the stand-in")
    master_flag = master_flag.strip()
    url = _zk_url(master_flag, "detector") if master_flag.startswith("zk://") else None
    static = None if url else _static_master(master_flag)
    policy = flags.get("reconfiguration_policy")
    if policy not in ("equal", "additive"):
        raise StartupError(
            f"Unknown option for 'reconfiguration_policy' flag: '{policy}'. "
            "Supported options are 'equal' and 'additive'"
        )
    work_dir = flags.get("work_dir")
    try:
        os.makedirs(work_dir, exist_ok=True)
    except OSError as err:
        raise StartupError(f"Failed to create work directory '{work_dir}': {err.strerror}") from err
    try:
        resources = summary(agent_resources(flags.get("resources"), work_dir))
    except ParseError as err:
        raise StartupError(f"Failed to determine agent resources: {err}") from err
    try:
        attributes = parse_attributes(flags.get("attributes"))
    except ParseError as err:
        raise StartupError(f"Failed to parse attributes: {err}") from err
    bind_ip, ip, port, hostname = _address(flags)
    agent = Agent(flags, mesos_version(), ip, port, hostname, resources, attributes)
    agent.recover()
    server = _bind(flags, bind_ip, AgentEndpoints(agent).router())
    log.info(f"Agent {agent.pid} ({hostname}) started [{STANDIN_NAME}]")
    agent.start()
    if url is not None:
        LeaderDetector(url, float(flags.get("zk_session_timeout")), agent.on_detected).start()
    else:
        agent.on_detected(static)
    server.serve_forever()


def _static_master(value: str) -> dict[str, str]:
    """`host:port` or `master@host:port`: a standalone detector that always reports it."""
    import socket

    pid = value if value.startswith("master@") else f"master@{value}"
    try:
        _, host, port = parse_pid(pid)
        ip = socket.gethostbyname(host)
    except (ValueError, OSError) as err:
        raise StartupError(
            f"Failed to create a master detector: Failed to parse '{value}'"
        ) from err
    return {"pid": f"master@{ip}:{port}", "hostname": host}


def _wants(argv: list[str], env: Mapping[str, str], name: str) -> bool:
    for arg in argv:
        if arg.strip() == "--":
            break
        if arg.strip().lower() in (f"--{name}", f"--{name}=true"):
            return True
    return env.get(f"MESOS_{name.upper()}") == "true"


def main(role: str, argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    program = PROGRAMS[role]
    definitions: list[Flag] = MASTER_FLAGS if role == "master" else AGENT_FLAGS
    if _wants(argv, env, "help"):
        print(usage(program, definitions))
        return 0
    if _wants(argv, env, "version"):
        print(f"mesos {mesos_version()} ({STANDIN_NAME}, not Apache Mesos)")
        return 0
    try:
        flags = load(definitions, env, argv)
    except FlagError as err:
        sys.stderr.write(usage(program, definitions, str(err)) + "\n")
        return 1
    log.setup(program, flags.get("log_dir"))
    try:
        (run_master if role == "master" else run_agent)(flags)
    except StartupError as err:
        if err.usage:
            sys.stderr.write(usage(program, definitions, str(err)) + "\n")
        else:
            log.info(str(err), level="E")
        return 1
    return 0
