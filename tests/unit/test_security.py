"""Security: the spec section, the cluster's credentials, the roles' flags and files, the
firewall rules, and the health checks and workload authenticating with the credentials."""

from __future__ import annotations

import json
import re
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from provisioner.domain import Layer, Machine
from provisioner.errors import CredentialsError
from provisioner.health.checks import make_probes, run_checks
from provisioner.health.workload import WorkloadError, run_task
from provisioner.inventory import render_inventory
from provisioner.security import (
    ClusterCredentials,
    Credential,
    ensure_credentials,
    forget,
    generate,
    load_credentials,
    secrets_path,
)
from provisioner.spec import ClusterSpec

from .fake_scheduler import FakeScheduler, Scenario, offer
from .role_render import ROLES, cluster, env_file, render, role_vars, value


def spec_of(**fields: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "demo", **fields})


# --------------------------------------------------------------------------- spec


def test_everything_is_on_by_default_and_nothing_warns() -> None:
    security = spec_of().security
    assert all(security.protections().values())
    assert security.task_users == ["nobody"]
    assert security.warnings() == []


def test_each_part_can_be_turned_off_with_a_warning() -> None:
    security = spec_of(
        security={
            "authentication": False,
            "zookeeper_acl": False,
            "firewall": {"enabled": False},
            "tls": {"enabled": False},
        }
    ).security
    assert not security.needs_credentials
    assert not security.readonly_auth and not security.acls  # they need authentication
    assert security.warnings() == [
        "security: mesos authentication is OFF in the spec",
        "security: read-only endpoints authenticated is OFF in the spec",
        "security: mesos ACLs is OFF in the spec",
        "security: zookeeper ACL is OFF in the spec",
        "security: firewall is OFF in the spec",
        "security: tls is OFF in the spec",
        "security: tls without plain-text downgrade is OFF in the spec",
    ]


def test_tls_is_on_by_default_and_a_downgrade_warns() -> None:
    tls = spec_of().security.tls
    assert tls.enabled and not tls.support_downgrade
    assert (tls.certificate_days, tls.expiry_warning_days) == (90, 14)
    security = spec_of(security={"tls": {"support_downgrade": True}}).security
    assert security.warnings() == ["security: tls without plain-text downgrade is OFF in the spec"]


@pytest.mark.parametrize(
    ("security", "message"),
    [
        ({"authentication": False, "authorization": True}, "needs authentication: true"),
        ({"task_users": ["Root!"]}, "not Unix user names"),
        ({"task_users": []}, "at least 1"),
        ({"firewall": {"operator_cidrs": ["10.0.0.0/33"]}}, "not IPv4 networks"),
        ({"firewall": {"operator_cidrs": ["fd00::/8"]}}, "not IPv4 networks"),
        ({"firewal": {}}, "Extra inputs are not permitted"),
        ({"tls": {"certificate_days": 0}}, "greater than or equal to 1"),
        (
            {"tls": {"certificate_days": 30, "expiry_warning_days": 30}},
            "less than certificate_days",
        ),
        ({"tls": {"downgrade": True}}, "Extra inputs are not permitted"),
    ],
)
def test_bad_security_settings_are_refused(security: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec_of(security=security)


# --------------------------------------------------------------------------- credentials


def test_credentials_are_generated_once_into_a_0600_file(tmp_path: Path) -> None:
    spec = spec_of()
    first = ensure_credentials(spec, tmp_path)
    assert first is not None
    path = secrets_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_credentials(spec, tmp_path) == first  # kept from then on
    assert load_credentials(spec, tmp_path) == first
    principals = {c.principal for c in (first.operator, first.health, first.agent)}
    assert principals == {"dcos-operator", "dcos-health", "dcos-agent"}
    assert (
        len({c.secret for c in (first.operator, first.health, first.agent, first.zookeeper)}) == 4
    )
    assert first.operator.secret not in repr(first)
    forget(tmp_path)
    assert not path.exists()


def test_no_credentials_when_nothing_needs_them(tmp_path: Path) -> None:
    spec = spec_of(security={"authentication": False, "zookeeper_acl": False})
    assert ensure_credentials(spec, tmp_path) is None
    assert not secrets_path(tmp_path).exists()


def _own_file(tmp_path: Path, mode: int = 0o600, **overrides: Any) -> Path:
    data = generate().to_dict()
    data["operator"]["principal"] = "alice"
    data.update(overrides)
    path = tmp_path / "creds.yaml"
    path.write_text(yaml.safe_dump(data))
    path.chmod(mode)
    return path


def test_own_credentials_are_used_and_copied_for_the_roles(tmp_path: Path) -> None:
    own = _own_file(tmp_path)
    (tmp_path / "spec.yaml").write_text("")
    spec = spec_of(security={"credentials_file": "creds.yaml"})
    spec._source = tmp_path / "spec.yaml"
    state = tmp_path / "state"
    creds = ensure_credentials(spec, state)
    assert creds is not None and creds.operator.principal == "alice"
    assert json.loads(secrets_path(state).read_text()) == yaml.safe_load(own.read_text())


@pytest.mark.parametrize(
    ("mode", "overrides", "message"),
    [
        (0o644, {}, "readable by others"),
        (0o600, {"agent": {"principal": "x", "secret": "short"}}, "agent.secret: must be"),
        (0o600, {"zookeeper": {"principal": "a:b", "secret": "x" * 20}}, "zookeeper.principal"),
        (0o600, {"health": None}, "health: missing"),
    ],
)
def test_bad_own_credentials_are_refused_without_showing_secrets(
    tmp_path: Path, mode: int, overrides: dict[str, Any], message: str
) -> None:
    own = _own_file(tmp_path, mode, **overrides)
    spec = spec_of(security={"credentials_file": str(own)})
    with pytest.raises(CredentialsError, match=message) as error:
        ensure_credentials(spec, tmp_path / "state")
    for entry in yaml.safe_load(own.read_text()).values():
        if isinstance(entry, dict) and len(entry.get("secret", "")) >= 12:
            assert entry["secret"] not in str(error.value)


def test_the_inventory_names_the_secrets_file_but_holds_no_secret(tmp_path: Path) -> None:
    spec = spec_of()
    creds = ensure_credentials(spec, tmp_path)
    assert creds is not None
    machine = Machine(
        name="demo-master-1", roles=("master", "zookeeper"), address="10.0.3.10", ssh_user="vagrant"
    )
    text = render_inventory(spec, [machine])
    assert "mesos_secrets_file: '{{ inventory_dir }}/secrets.json'" in text
    for cred in (creds.operator, creds.health, creds.agent, creds.zookeeper):
        assert cred.secret not in text


# --------------------------------------------------------------------------- roles


def _secrets_vars(tmp_path: Path) -> tuple[ClusterCredentials, dict[str, str]]:
    creds = generate()
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(creds.to_dict()))
    return creds, {"mesos_secrets_file": str(path)}


def test_master_flags_turn_on_authentication_acls_and_the_zookeeper_file() -> None:
    variables = role_vars("mesos_master", cluster(), "demo-master-1")
    env = env_file(render("mesos_master", "mesos-master.env.j2", variables))
    for flag in (
        "AUTHENTICATE_FRAMEWORKS",
        "AUTHENTICATE_HTTP_FRAMEWORKS",
        "AUTHENTICATE_AGENTS",
        "AUTHENTICATE_HTTP_READWRITE",
        "AUTHENTICATE_HTTP_READONLY",
    ):
        assert env[f"MESOS_{flag}"] == "true"
    assert env["MESOS_HTTP_FRAMEWORK_AUTHENTICATORS"] == "basic"
    assert env["MESOS_CREDENTIALS"] == "/etc/dcos-provision/mesos-master/credentials.json"
    assert env["MESOS_ACLS"] == "file:///etc/dcos-provision/mesos-master/acls.json"
    # The URL with the ZooKeeper password is a root-only file; /master/flags shows its path.
    assert env["MESOS_ZK"] == "file:///etc/dcos-provision/mesos-master/zk"


def test_read_only_endpoints_can_stay_open_on_purpose() -> None:
    inventory = cluster(security={"readonly_authentication": False})
    master = env_file(
        render(
            "mesos_master",
            "mesos-master.env.j2",
            role_vars("mesos_master", inventory, "demo-master-1"),
        )
    )
    agent = env_file(
        render(
            "mesos_agent", "mesos-agent.env.j2", role_vars("mesos_agent", inventory, "demo-agent-1")
        )
    )
    assert master["MESOS_AUTHENTICATE_HTTP_READONLY"] == "false"
    assert master["MESOS_AUTHENTICATE_HTTP_READWRITE"] == "true"
    assert agent["MESOS_AUTHENTICATE_HTTP_READONLY"] == "false"


def test_security_off_renders_no_security_flag() -> None:
    inventory = cluster(security={"authentication": False, "zookeeper_acl": False})
    env = env_file(
        render(
            "mesos_master",
            "mesos-master.env.j2",
            role_vars("mesos_master", inventory, "demo-master-1"),
        )
    )
    assert not [k for k in env if "AUTHENTICATE" in k or k in ("MESOS_ACLS", "MESOS_CREDENTIALS")]
    assert env["MESOS_ZK"].startswith("zk://10.0.3.10:2181/")


def test_master_secret_files_hold_credentials_acls_and_the_zookeeper_url(tmp_path: Path) -> None:
    creds, extra = _secrets_vars(tmp_path)
    variables = role_vars("mesos_master", cluster(), "demo-master-1", **extra)
    files = value("__mesos_master_secret_files", variables)
    credentials = json.loads(files["credentials.json"])["credentials"]
    assert credentials == [
        {"principal": c.principal, "secret": c.secret}
        for c in (creds.operator, creds.health, creds.agent)
    ]
    acls = json.loads(files["acls.json"])
    assert acls["permissive"] is False  # deny by default: only what is granted below
    operator, health, agent = ["dcos-operator"], ["dcos-health"], ["dcos-agent"]

    def granted(action: str) -> list[str]:
        return sorted(p for rule in acls.get(action, []) for p in rule["principals"]["values"])

    assert granted("register_frameworks") == sorted(operator + health)
    assert acls["run_tasks"] == [
        {"principals": {"values": operator + health}, "users": {"values": ["nobody"]}}
    ]
    assert granted("register_agents") == agent  # and nothing else for the agent principal
    assert not [a for a in acls if a != "permissive" and a != "register_agents"
                and "dcos-agent" in granted(a)]  # fmt: skip
    for action in (
        "teardown_frameworks", "drain_agents", "mark_agents_gone", "deactivate_agents",
        "update_quotas", "update_weights", "update_maintenance_schedules",
        "start_maintenances", "stop_maintenances", "set_log_level", "access_sandboxes",
    ):  # fmt: skip
        assert granted(action) == operator, action
    for action in ("view_frameworks", "view_tasks", "view_flags", "get_maintenance_statuses"):
        assert granted(action) == sorted(operator + health), action
    # Health may read /metrics/snapshot only; the operator every endpoint (/logging/toggle).
    assert {"principals": {"values": health}, "paths": {"values": ["/metrics/snapshot"]}} in [
        {"principals": {"values": [p for p in r["principals"]["values"] if p in health]},
         "paths": r["paths"]} for r in acls["get_endpoints"] if "dcos-health" in
        r["principals"]["values"]
    ]  # fmt: skip
    # Every rule names its principals and one object (a typo'd object field fails Mesos).
    assert all(len(rule) == 2 for a, rules in acls.items() if a != "permissive" for rule in rules)
    zk = creds.zookeeper
    assert files["zk"] == f"zk://{zk.principal}:{zk.secret}@10.0.3.10:2181/mesos"
    assert value("__mesos_master_http_user", variables) == "dcos-operator"


def test_agent_gets_its_credential_and_the_http_credentials(tmp_path: Path) -> None:
    creds, extra = _secrets_vars(tmp_path)
    variables = role_vars("mesos_agent", cluster(), "demo-agent-1", **extra)
    env = env_file(render("mesos_agent", "mesos-agent.env.j2", variables))
    assert env["MESOS_CREDENTIAL"] == "/etc/dcos-provision/mesos-agent/credential.json"
    assert env["MESOS_HTTP_CREDENTIALS"] == "/etc/dcos-provision/mesos-agent/http_credentials.json"
    assert env["MESOS_AUTHENTICATE_HTTP_READWRITE"] == "true"
    # Agents only watch ZooKeeper: no credentials in their --master URL.
    assert env["MESOS_MASTER"] == "zk://10.0.3.10:2181/mesos"
    files = value("__mesos_agent_secret_files", variables)
    assert json.loads(files["credential.json"]) == {
        "principal": "dcos-agent",
        "secret": creds.agent.secret,
    }
    # Only the health principal: the operator's secret goes nowhere near an agent.
    http = json.loads(files["http_credentials.json"])["credentials"]
    assert http == [{"principal": "dcos-health", "secret": creds.health.secret}]
    assert not [name for name, text in files.items() if creds.operator.secret in text]
    assert env["MESOS_ACLS"] == "file:///etc/dcos-provision/mesos-agent/acls.json"
    acls = json.loads(files["acls.json"])
    assert acls["permissive"] is False
    granted = {a: [p for r in rules for p in r["principals"]["values"]]
               for a, rules in acls.items() if a != "permissive"}  # fmt: skip
    # Nothing that starts or enters a container, nothing for the agent principal; tasks
    # only as the task users.
    assert not {a for a in granted if "launch" in a or "attach" in a or "sandbox" in a}
    assert "dcos-agent" not in {p for principals in granted.values() for p in principals}
    principals = {"values": ["dcos-operator", "dcos-health"]}
    assert acls["run_tasks"] == [{"principals": principals, "users": {"values": ["nobody"]}}]
    # The registration wait on the agent itself authenticates as health, not as the operator.
    assert value("__mesos_agent_http_user", variables) == "dcos-health"


def _zookeeper_secrets(tmp_path: Path) -> tuple[ClusterCredentials, dict[str, str]]:
    creds, secrets = _secrets_vars(tmp_path)
    return creds, {"zookeeper_secrets_file": secrets["mesos_secrets_file"]}


def test_zookeeper_members_authenticate_each_other_with_a_derived_quorum_secret(
    tmp_path: Path,
) -> None:
    """Issue 20: SASL DIGEST-MD5 between ensemble members; the JAAS file holds a secret
    derived from the masters' ZooKeeper credential, never that credential itself."""
    creds, secrets = _zookeeper_secrets(tmp_path)
    inventory = cluster(masters={"count": 3})
    variables = role_vars("zookeeper", inventory, "demo-master-1", **secrets)
    cfg = render("zookeeper", "zoo.cfg.j2", variables).splitlines()
    for line in (
        "quorum.auth.enableSasl=true",
        "quorum.auth.learnerRequireSasl=true",
        "quorum.auth.serverRequireSasl=true",
        "quorum.auth.learner.saslLoginContext=QuorumLearner",
        "quorum.auth.server.saslLoginContext=QuorumServer",
    ):
        assert line in cfg
    jaas = render("zookeeper", "jaas.conf.j2", variables)
    assert re.fullmatch(r"[0-9a-f]{64}", value("__zookeeper_quorum_secret", variables))
    secret = value("__zookeeper_quorum_secret", variables)
    server = re.search(r"QuorumServer \{(.*?)\};", jaas, re.S)
    learner = re.search(r"QuorumLearner \{(.*?)\};", jaas, re.S)
    assert server and learner, jaas
    assert "org.apache.zookeeper.server.auth.DigestLoginModule required" in server[1]
    assert f'user_zookeeper="{secret}";' in server[1]
    assert f'username="zookeeper"\n       password="{secret}";' in learner[1]
    assert creds.zookeeper.secret not in jaas
    # Every member derives the same secret; another cluster's credential gives another one.
    other = role_vars("zookeeper", inventory, "demo-master-3", **secrets)
    assert value("__zookeeper_quorum_secret", other) == secret
    (tmp_path / "other").mkdir()
    _, elsewhere = _zookeeper_secrets(tmp_path / "other")
    third = role_vars("zookeeper", inventory, "demo-master-1", **elsewhere)
    assert value("__zookeeper_quorum_secret", third) != secret
    # The file is root:zookeeper 0640, written with no_log, and in the drift manifest.
    tasks = yaml.safe_load((ROLES / "zookeeper" / "tasks" / "main.yml").read_text())
    task = next(t for t in tasks if t["name"] == "Write the JAAS file of quorum authentication")
    assert task["no_log"] is True
    assert (
        task["ansible.builtin.template"]["owner"],
        task["ansible.builtin.template"]["mode"],
    ) == (
        "root",
        "0640",
    )
    assert value(task["ansible.builtin.template"]["group"].strip("{} "), variables) == "zookeeper"
    manifest = next(t for t in tasks if t["name"].startswith("Record the files"))
    entries = value(manifest["vars"]["common_manifest_entries"].strip("{} \n"), variables)
    assert "file /etc/zookeeper/conf/jaas.conf" in entries
    # Off with the ACL: no SASL line, no JAAS file in the manifest.
    off = role_vars("zookeeper", cluster(security={"zookeeper_acl": False}), "demo-master-1")
    assert "quorum.auth" not in render("zookeeper", "zoo.cfg.j2", off)
    assert "file /etc/zookeeper/conf/jaas.conf" not in value(
        manifest["vars"]["common_manifest_entries"].strip("{} \n"), off
    )


def test_firewall_admits_each_port_only_to_whom_it_serves() -> None:
    """2181/5050: members and operators; 2888/3888: ZooKeeper members only; 5051: masters
    and operators only (an agent or its task cannot reach another agent's API)."""
    inventory = cluster(
        agents={"count": 2}, security={"firewall": {"operator_cidrs": ["192.0.2.0/24"]}}
    )
    variables = role_vars("common", inventory, "demo-master-1")
    rules = render("common", "firewall.nft.j2", variables)
    sets = dict(re.findall(r"set (\w+) \{[^}]*?(?:elements = \{ ([^}]*) \})?\s*\}", rules))
    assert sets == {
        "cluster_members": "10.0.3.10, 10.0.3.11, 10.0.3.12",
        "masters": "10.0.3.10",
        "zookeeper_members": "10.0.3.10",
        "operators": "192.0.2.0/24",
    }
    chain = rules.split("chain input")[1]
    assert "tcp dport { 2181, 5050 } ip saddr @cluster_members accept" in chain
    assert "tcp dport { 2888, 3888 } ip saddr @zookeeper_members accept" in chain
    assert "tcp dport 5051 ip saddr @masters accept" in chain
    assert "tcp dport { 2181, 5050, 5051 } ip saddr @operators accept" in chain
    assert "tcp dport { 2181, 2888, 3888, 5050, 5051 } drop\n" in chain
    # No rule lets the cluster's members at large reach the agents' or the peer ports.
    assert not re.search(r"(5051|2888|3888)[^\n]*@cluster_members", chain)
    assert "22" not in chain  # SSH is left alone
    # Replies leave a Mesos port only from root, ZooKeeper's and the monitoring ports from no
    # login account or `nobody` (who binds a port while its daemon restarts poses as it).
    output = rules.split("chain output {")[1]
    assert "tcp sport { 5050, 5051 } meta skuid != 0 drop" in output
    assert "tcp sport { 2181, 2888, 3888, 9090, 9100 } meta skuid >= 1000 drop" in output


def test_the_agents_port_is_reserved_for_root_where_no_zookeeper_runs() -> None:
    """Red team: while mesos-agent restarted, `nobody` bound 5051, served HTTPS with the
    executors' certificate and received the health secret. On hosts without ZooKeeper the
    ports up to the highest service port are privileged (per network namespace); ZooKeeper
    hosts keep the kernel's default (Debian's ZooKeeper binds 2181 as its own user)."""
    inventory = cluster(agents={"count": 1})
    agent = role_vars("common", inventory, "demo-agent-1")
    assert int(value("common_unprivileged_port_start", agent)) == 5052
    master = role_vars("common", inventory, "demo-master-1")
    assert int(value("common_unprivileged_port_start", master)) == 0
    tasks = yaml.safe_load((ROLES / "common/tasks/main.yml").read_text())
    task = next(t for t in tasks if t["name"].startswith("Reserve the service ports"))
    assert task["ansible.builtin.template"]["dest"] == "/etc/sysctl.d/61-dcos-provision-ports.conf"
    assert "net.ipv4.ip_unprivileged_port_start = 5052\n" in render(
        "common", task["ansible.builtin.template"]["src"], agent
    )
    assert task["notify"] == "Reserve the service ports now"
    assert task["when"] == "common_unprivileged_port_start | int > 0"


def test_firewall_defaults_to_the_controllers_ssh_address() -> None:
    variables = role_vars(
        "common",
        cluster(),
        "demo-master-1",
        common_firewall_ssh_client={"stdout": "10.0.3.1 51234 22"},
    )
    assert value("__common_firewall_operators", variables) == ["10.0.3.1"]
    variables["common_firewall_ssh_client"] = {"stdout": "::1 51234 22"}
    assert value("__common_firewall_operators", variables) == []


# --------------------------------------------------------------------------- health


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def test_probes_send_the_health_credential() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        credential = Credential("dcos-health", "s3cret-s3cret")
        probes = make_probes([], via_ssh=False, credential=credential)
        probes.http_get("127.0.0.1", server.server_address[1], "/master/state")
        plain = make_probes([], via_ssh=False)
        plain.http_get("127.0.0.1", server.server_address[1], "/master/state")
    finally:
        server.shutdown()
        server.server_close()
    assert _Recorder.seen[-2:] == [credential.basic_auth(), None]
    assert credential.basic_auth() == "Basic ZGNvcy1oZWFsdGg6czNjcmV0LXMzY3JldA=="


def test_the_workload_authenticates_as_its_principal() -> None:
    credential = Credential("dcos-health", "s3cret-s3cret")
    scenario = Scenario(
        offers=[offer("o-1", "demo-agent-1", cpus=1, mem=512)],
        authorization=credential.basic_auth(),
    )
    fake = FakeScheduler(scenario)
    try:
        outcome = run_task("10.0.3.11", fake.opener, timeout_s=10, credential=credential)
    finally:
        fake.stop()
    assert outcome.states[-1] == "TASK_FINISHED"
    headers, body = fake.subscriptions[0]
    assert body["subscribe"]["framework_info"]["principal"] == "dcos-health"
    assert headers["Authorization"] == credential.basic_auth()
    assert all(h["Authorization"] == credential.basic_auth() for h in fake.call_headers)


def test_without_credentials_an_authenticating_master_refuses_the_workload() -> None:
    scenario = Scenario(offers=[offer("o-1", "a", cpus=1, mem=512)], authorization="Basic x")
    fake = FakeScheduler(scenario)
    try:
        with pytest.raises(WorkloadError, match=r"SUBSCRIBE to .* answered 401"):
            run_task("10.0.3.11", fake.opener, timeout_s=5)
    finally:
        fake.stop()


class _FlagProbes:
    """Answers /master/flags, the agents' /flags and the /mesos ACL from plain data."""

    http_auth = None

    def __init__(self, master: dict[str, str], agent: dict[str, str], acls: list) -> None:
        self.master, self.agent, self.acls = master, agent, acls

    def http_get(self, address: str, port: int, path: str) -> tuple[int, dict, bytes]:
        flags = self.master if port == 5050 else self.agent
        return 200, {}, json.dumps({"flags": flags}).encode()

    def zk_acls(self, hosts: list[str], path: str) -> list[tuple[str, str, int]]:
        return self.acls


def _security_checks(
    spec: ClusterSpec, probes: _FlagProbes, hosts: Any = None
) -> dict[tuple[str, str | None], Any]:
    from provisioner.health.masters import MasterFacts
    from provisioner.health.security import check_security
    from provisioner.health.view import ClusterView

    machines = [
        Machine(
            name="demo-master-1",
            roles=("master", "zookeeper"),
            address="10.0.3.10",
            ssh_user="vagrant",
        ),
        Machine(name="demo-agent-1", roles=("agent",), address="10.0.3.11", ssh_user="vagrant"),
    ]
    facts = MasterFacts(leader=machines[0])
    checks = check_security(ClusterView(spec, machines), probes, facts, hosts)  # type: ignore[arg-type]
    assert all(c.layer == Layer.SECURITY for c in checks)
    return {(c.name, c.host): c for c in checks}


SECURE_MASTER = {
    "authenticate_frameworks": "true",
    "authenticate_http_frameworks": "true",
    "authenticate_agents": "true",
    "authenticate_http_readwrite": "true",
    "authenticate_http_readonly": "true",
    "credentials": "/etc/dcos-provision/mesos-master/credentials.json",
    "acls": "file:///etc/dcos-provision/mesos-master/acls.json",
}
SECURE_AGENT = {
    "acls": "file:///etc/dcos-provision/mesos-agent/acls.json",
    "authenticate_http_readwrite": "true",
    "authenticate_http_readonly": "true",
    "credential": "/etc/dcos-provision/mesos-agent/credential.json",
}
PROTECTED = [("world", "anyone", 1), ("digest", "mesos:hash=", 31)]


def test_status_security_layer_reports_every_protection_on() -> None:
    checks = _security_checks(spec_of(), _FlagProbes(SECURE_MASTER, SECURE_AGENT, PROTECTED))
    assert all(c.ok for c in checks.values())
    assert checks[("mesos_authentication", "demo-master-1")].detail == "on"
    assert (
        checks[("zookeeper_acl", None)].detail == "on: /mesos ACL world:anyone:1, digest:mesos:31"
    )
    assert "hash=" not in checks[("zookeeper_acl", None)].detail


def test_status_security_layer_fails_when_the_cluster_runs_open() -> None:
    probes = _FlagProbes({}, {}, [("world", "anyone", 31)])
    checks = _security_checks(spec_of(), probes)
    failed = {name for (name, _host), c in checks.items() if not c.ok}
    assert failed == {
        "mesos_authentication",
        "mesos_acls",
        "agent_authentication",
        "agent_acls",
        "zookeeper_acl",
    }
    assert "authenticate_frameworks" in checks[("mesos_authentication", "demo-master-1")].detail


def test_status_security_layer_says_off_for_what_the_spec_turns_off() -> None:
    spec = spec_of(
        security={"authentication": False, "zookeeper_acl": False, "firewall": {"enabled": False}}
    )
    checks = _security_checks(spec, _FlagProbes({}, {}, [("world", "anyone", 31)]))
    assert all(c.ok for c in checks.values())
    assert checks[("firewall", None)].detail == "OFF (spec)"
    assert checks[("mesos_acls", "demo-master-1")].detail == "OFF (spec)"


class _Nft:
    """Answers `nft list table` per host: the rules loaded, or (flushed) no table."""

    LOADED = (
        "table inet dcos_provision {\n\tchain input {\n"
        "\t\ttcp dport { 2181, 2888, 3888, 5050, 5051 } drop\n\t}\n}\n"
    )

    def __init__(self, flushed: set[str]) -> None:
        self.flushed, self.commands = flushed, []

    def run(self, machine: Machine, command: str, stdin: str = "", timeout_s: float = 60.0):
        self.commands.append((machine.name, command))
        if machine.name in self.flushed:
            return 1, "", "Error: No such file or directory\nlist table inet dcos_provision\n"
        return 0, self.LOADED, ""


def test_status_security_layer_reads_every_hosts_live_firewall() -> None:
    """`nft flush ruleset` on one host: the firewall check fails naming that host only."""
    probes = _FlagProbes(SECURE_MASTER, SECURE_AGENT, PROTECTED)
    nft = _Nft(flushed={"demo-agent-1"})
    checks = _security_checks(spec_of(), probes, nft)
    assert {name for name, _ in nft.commands} == {"demo-master-1", "demo-agent-1"}
    assert all("nft list table inet dcos_provision" in cmd for _, cmd in nft.commands)
    assert checks[("firewall", "demo-master-1")].ok
    failed = [key for key, c in checks.items() if not c.ok]
    assert failed == [("firewall", "demo-agent-1")]
    assert "not loaded" in checks[("firewall", "demo-agent-1")].detail
    # Rules that no longer drop the cluster ports fail too.
    emptied = _Nft(set())
    emptied.LOADED = "table inet dcos_provision {\n}\n"
    assert not _security_checks(spec_of(), probes, emptied)[("firewall", "demo-master-1")].ok


class _NftTogether(_Nft):
    """Answers only when both hosts are asked at once (a barrier of two): hosts read one
    after another would break it."""

    def __init__(self) -> None:
        super().__init__(set())
        self.barrier = threading.Barrier(2, timeout=10)

    def run(self, machine: Machine, command: str, stdin: str = "", timeout_s: float = 60.0):
        self.barrier.wait()
        return super().run(machine, command, stdin, timeout_s)


def test_status_reads_the_hosts_firewalls_all_at_once() -> None:
    probes = _FlagProbes(SECURE_MASTER, SECURE_AGENT, PROTECTED)
    checks = _security_checks(spec_of(), probes, _NftTogether())
    assert checks[("firewall", "demo-master-1")].ok and checks[("firewall", "demo-agent-1")].ok


class _FlagProbesTogether(_FlagProbes):
    """Answers the flags only when the master and the agent are asked at once."""

    def __init__(self) -> None:
        super().__init__(SECURE_MASTER, SECURE_AGENT, PROTECTED)
        self.barrier = threading.Barrier(2, timeout=10)

    def http_get(self, address: str, port: int, path: str) -> tuple[int, dict, bytes]:
        self.barrier.wait()
        return super().http_get(address, port, path)


def test_status_asks_every_nodes_flags_at_once() -> None:
    checks = _security_checks(spec_of(), _FlagProbesTogether(), _Nft(set()))
    assert all(c.ok for c in checks.values()), checks


def test_status_security_layer_checks_every_master_and_agent_acls() -> None:
    """Not only the leader's flags: a follower without --acls fails, naming it."""
    from provisioner.health.masters import MasterFacts
    from provisioner.health.security import check_security
    from provisioner.health.view import ClusterView

    spec = spec_of(masters={"count": 3})
    machines = [
        Machine(name=f"demo-master-{i}", roles=("master", "zookeeper"), address=f"10.0.3.1{i}",
                ssh_user="vagrant", zookeeper_id=i)
        for i in (1, 2, 3)
    ]  # fmt: skip

    class Probes(_FlagProbes):
        def http_get(self, address: str, port: int, path: str) -> tuple[int, dict, bytes]:
            flags = dict(SECURE_MASTER)
            if address == "10.0.3.13":
                flags.pop("acls")
            return 200, {}, json.dumps({"flags": flags}).encode()

    facts = MasterFacts(leader=machines[0])
    checks = check_security(ClusterView(spec, machines), Probes({}, {}, PROTECTED), facts)  # type: ignore[arg-type]
    failed = [(c.name, c.host) for c in checks if not c.ok]
    assert failed == [("mesos_acls", "demo-master-3")]


def test_run_checks_adds_the_security_layer_only_on_request() -> None:
    spec = spec_of()
    probes = _FlagProbes(SECURE_MASTER, SECURE_AGENT, PROTECTED)
    report = run_checks(spec, [], probes, security=False)  # type: ignore[arg-type]
    assert not report.layer_checks(Layer.SECURITY)
    report = run_checks(spec, [], probes, security=True)  # type: ignore[arg-type]
    assert report.layer_checks(Layer.SECURITY)


def test_the_workload_runs_as_a_user_the_acl_allows() -> None:
    from provisioner.health.checks import workload_user

    assert workload_user(spec_of()) == "nobody"
    assert workload_user(spec_of(security={"task_users": ["svc", "nobody"]})) == "nobody"
    assert workload_user(spec_of(security={"task_users": ["svc"]})) == "svc"
    scenario = Scenario(offers=[offer("o-1", "demo-agent-1", cpus=1, mem=512)])
    fake = FakeScheduler(scenario)
    try:
        run_task("10.0.3.11", fake.opener, timeout_s=10, user="svc")
    finally:
        fake.stop()
    task = fake.calls[0]["accept"]["operations"][0]["launch"]["task_infos"][0]
    assert task["command"]["user"] == "svc"
    assert fake.subscriptions[0][1]["subscribe"]["framework_info"]["user"] == "svc"


@pytest.mark.parametrize(
    ("role", "unit", "host"),
    [
        ("mesos_master", "mesos-master.service.j2", "demo-master-1"),
        ("mesos_agent", "mesos-agent.service.j2", "demo-agent-1"),
    ],
)
def test_every_mesos_unit_requires_the_peer_address_to_match(
    role: str, unit: str, host: str
) -> None:
    """A libprocess message whose `From` names another host than the connection's source
    (a forged master message) is refused with 400 (issue 20, attack 1)."""
    text = render(role, unit, role_vars(role, cluster(), host))
    assert "Environment=LIBPROCESS_REQUIRE_PEER_ADDRESS_IP_MATCH=true\n" in text
