"""The `monitoring` section and role: spec, inventory, firewall, Prometheus' configuration and
rules, and the exporter script run against local fake Mesos and ZooKeeper endpoints."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from pydantic import ValidationError

from provisioner.security import generate
from provisioner.spec import ClusterSpec

from .local_play import run_local_playbook
from .role_render import ROLES, cluster, render, role_vars, value

EXPORTER = ROLES / "monitoring" / "files" / "dcos-metrics-exporter.py"


# --------------------------------------------------------------------------- spec, inventory


def test_monitoring_is_on_by_default_with_documented_settings() -> None:
    spec = ClusterSpec.model_validate({"name": "demo"})
    assert spec.monitoring.enabled is True
    assert spec.monitoring.retention_days == 15
    schema = ClusterSpec.model_json_schema()["$defs"]["MonitoringSpec"]["properties"]
    assert all(field.get("description") for field in schema.values())


def test_bad_monitoring_values_are_refused_together() -> None:
    with pytest.raises(ValidationError) as error:
        ClusterSpec.model_validate(
            {"name": "demo", "monitoring": {"retention_days": 0, "disk_full_percent": 100, "x": 1}}
        )
    problems = {tuple(e["loc"]) for e in error.value.errors()}
    assert problems == {
        ("monitoring", "retention_days"),
        ("monitoring", "disk_full_percent"),
        ("monitoring", "x"),
    }


def test_the_inventory_carries_the_monitoring_settings() -> None:
    inventory = cluster(agents={"count": 2}, monitoring={"enabled": False, "alert_for_s": 5})
    variables = inventory["all"]["vars"]
    assert variables["monitoring_enabled"] is False
    assert variables["monitoring_alert_for_s"] == 5
    assert variables["monitoring_agents_expected"] == 2


# --------------------------------------------------------------------------- firewall


def test_monitoring_ports_admit_the_masters_and_operators_only() -> None:
    inventory = cluster(
        masters={"count": 3},
        agents={"count": 2},
        security={"firewall": {"operator_cidrs": ["192.0.2.0/24"]}},
    )
    rules = render("common", "firewall.nft.j2", role_vars("common", inventory, "demo-agent-1"))
    # Masters at .10-.12, agents at .13 and .14: only the masters may scrape.
    masters = rules.split("set masters {")[1].split("set zookeeper_members")[0]
    assert "elements = { 10.0.3.10, 10.0.3.11, 10.0.3.12 }" in masters
    ports = "tcp dport { 9090, 9100 }"
    chain = rules.split("chain input")[1]
    assert f"{ports} ip saddr @masters accept" in chain
    assert f"{ports} ip saddr @operators accept" in chain
    assert f"{ports} drop" in chain
    assert f"{ports} ip saddr @cluster_members" not in chain


# --------------------------------------------------------------------------- prometheus


def _prometheus(**spec: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    inventory = cluster(masters={"count": 3}, agents={"count": 2}, **spec)
    variables = role_vars("monitoring", inventory, "demo-master-1")
    config = yaml.safe_load(render("monitoring", "prometheus.yml.j2", variables))
    rules = yaml.safe_load(render("monitoring", "rules.yml.j2", variables))
    return config, rules, render("monitoring", "prometheus.default.j2", variables)


def test_prometheus_scrapes_every_host_and_keeps_the_spec_retention() -> None:
    config, _, defaults = _prometheus(monitoring={"retention_days": 30, "scrape_interval_s": 10})
    assert config["global"]["scrape_interval"] == "10s"
    node = next(job for job in config["scrape_configs"] if job["job_name"] == "node")
    targets = {t["targets"][0]: t["labels"] for t in node["static_configs"]}
    assert sorted(targets) == [
        f"demo-{name}:9100" for name in ("agent-1", "agent-2", "master-1", "master-2", "master-3")
    ]
    assert targets["demo-master-1:9100"]["roles"] == "master,zookeeper"
    assert targets["demo-agent-2:9100"] == {"host": "demo-agent-2", "roles": "agent"}
    assert "--storage.tsdb.retention.time=30d" in defaults


def test_alert_rules_mirror_the_health_layers_with_the_spec_thresholds() -> None:
    _, rules, _ = _prometheus(monitoring={"alert_for_s": 20, "disk_full_percent": 80})
    by_name = {rule["alert"]: rule for rule in rules["groups"][0]["rules"]}
    assert {
        "ZooKeeperMemberDown",
        "ZooKeeperQuorumLost",
        "MesosNoLeader",
        "MesosLeaderFlapping",
        "MesosAgentsBelowSpec",
        "MesosRegistrarNotRecovered",
        "DiskNearlyFull",
        "MemoryNearlyFull",
    } <= set(by_name)
    assert by_name["MesosAgentsBelowSpec"]["for"] == "20s"
    assert by_name["MesosAgentsBelowSpec"]["expr"].endswith("< 2")
    assert by_name["ZooKeeperQuorumLost"]["expr"].endswith("< 2")  # 3 members
    assert "> 80" in by_name["DiskNearlyFull"]["expr"]
    # Prometheus' own template syntax survives Ansible's rendering.
    assert "{{ $labels.host }}" in by_name["MesosMasterDown"]["annotations"]["summary"]


def test_the_exporter_settings_hold_the_health_credential_in_a_root_only_file(
    tmp_path: Path,
) -> None:
    creds = generate()
    (tmp_path / "secrets.json").write_text(json.dumps(creds.to_dict()))
    inventory = cluster(agents={"count": 1})
    variables = role_vars(
        "monitoring", inventory, "demo-master-1", mesos_secrets_file=str(tmp_path / "secrets.json")
    )
    settings = json.loads(render("monitoring", "exporter.json.j2", variables))
    assert settings["principal"] == creds.health.principal == "dcos-health"
    assert settings["secret"] == creds.health.secret
    # TLS is on by default: the exporter speaks HTTPS with the node's own certificate.
    assert settings["mesos"] == [{"role": "master", "url": "https://10.0.3.10:5050"}]
    assert (settings["ca_file"], settings["cert_file"], settings["key_file"]) == tuple(
        f"/etc/dcos-provision/tls/{name}" for name in ("ca.crt", "node.crt", "node.key")
    )
    assert settings["zookeeper"] == "10.0.3.10:2181"
    agent = json.loads(
        render(
            "monitoring",
            "exporter.json.j2",
            role_vars(
                "monitoring",
                inventory,
                "demo-agent-1",
                monitoring_mesos_scheme="https",
                mesos_secrets_file=str(tmp_path / "secrets.json"),
            ),
        )
    )
    assert agent["mesos"] == [{"role": "agent", "url": "https://10.0.3.11:5051"}]
    assert agent["zookeeper"] == "" and agent["principal"] == "dcos-health"
    # With TLS off in the spec: plain HTTP and no certificate files.
    plain = json.loads(
        render(
            "monitoring",
            "exporter.json.j2",
            role_vars(
                "monitoring",
                inventory,
                "demo-agent-1",
                mesos_tls_enabled=False,
                mesos_secrets_file=str(tmp_path / "secrets.json"),
            ),
        )
    )
    assert plain["mesos"] == [{"role": "agent", "url": "http://10.0.3.11:5051"}]
    assert plain["ca_file"] == plain["cert_file"] == plain["key_file"] == ""
    # The looped task that writes it: mode 0600, and the item is marked secret (no_log).
    files = {f["src"]: f for f in value("__monitoring_files", variables)}
    assert files["exporter.json.j2"]["mode"] == "0600" and files["exporter.json.j2"]["secret"]
    assert not any(f.get("secret") for src, f in files.items() if src != "exporter.json.j2")


@pytest.mark.timeout(120)
def test_the_looped_file_task_censors_only_the_secret_file(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The role's own task and handler, run for real on localhost: every file is written with
    its mode, the secret one's content and result never reach the events or the log, and the
    other items stay visible (no_log is per item, not on the whole task)."""
    tasks = yaml.safe_load((ROLES / "monitoring" / "tasks" / "files.yml").read_text())
    task = next(t for t in tasks if t["name"] == "Write the monitoring settings, units and rules")
    handlers = yaml.safe_load((ROLES / "monitoring" / "handlers" / "main.yml").read_text())
    secret = "s3cret-" + generate().health.secret
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "public.j2").write_text("port={{ 9100 }}\n")
    (tmp_path / "templates" / "secret.j2").write_text('{"secret": "{{ the_secret }}"}\n')
    files = [
        {"src": "public.j2", "dest": str(tmp_path / "public.conf"), "mode": "0644", "restarts": ""},
        {
            "src": "secret.j2",
            "dest": str(tmp_path / "exporter.json"),
            "mode": "0600",
            "restarts": "",
            "secret": True,
        },
    ]
    play = {
        "name": "The monitoring role's file task",
        "hosts": "all",
        "gather_facts": False,
        "vars": {
            "__monitoring_files": files,
            "monitoring_files_only": [],
            "the_secret": secret,
            "monitoring_exporter_service": "x",
        },
        "tasks": [task],
        "handlers": handlers,
    }
    events = run_local_playbook(tmp_path, request, yaml.safe_dump([play]))
    state = tmp_path / "state"
    assert (tmp_path / "public.conf").read_text() == "port=9100\n"
    assert secret in (tmp_path / "exporter.json").read_text()
    assert (tmp_path / "exporter.json").stat().st_mode & 0o777 == 0o600
    assert secret not in json.dumps(events, default=str)
    # The log names the public item (its label) and censors the secret one.
    (log,) = [path.read_text() for path in (state / "logs").iterdir()]
    assert f"changed: [testhost] => (item={tmp_path / 'public.conf'})" in log
    assert "changed: [testhost] => (item=(censored due to no_log))" in log
    assert secret not in log


# --------------------------------------------------------------------------- exporter script


class _Mesos(BaseHTTPRequestHandler):
    credential: ClassVar[str] = ""
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        if self.path == "/version":
            self._answer(200, {"version": "1.12.0"})
        elif self.headers.get("Authorization") != self.credential:
            self._answer(401, {})
        else:
            self._answer(
                200, {"master/elected": 1.0, "master/slaves_active": 2, "system/load_1min": 0.5}
            )

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def _zookeeper(answer: bytes) -> socket.socket:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(16)
            conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return listener


def _run_exporter(tmp_path: Path, settings: dict[str, Any]) -> dict[str, float]:
    config = tmp_path / "exporter.json"
    config.write_text(
        json.dumps({"output": str(tmp_path / "dcos.prom"), "timeout_s": 2, **settings})
    )
    subprocess.run([sys.executable, str(EXPORTER), str(config)], check=True, capture_output=True)
    samples = {}
    for line in (tmp_path / "dcos.prom").read_text().splitlines():
        name, _, number = line.rpartition(" ")
        samples[name] = float(number)
    assert not list(tmp_path.glob(".dcos.*"))  # the temporary file was renamed
    return samples


def test_the_exporter_writes_mesos_and_zookeeper_figures_as_the_health_principal(
    tmp_path: Path,
) -> None:
    _Mesos.credential = "Basic " + base64.b64encode(b"dcos-health:s3cret").decode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mesos)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    zookeeper = _zookeeper(b"zk_version\t3.8.0\nzk_server_state\tleader\nzk_avg_latency\t3\n")
    try:
        samples = _run_exporter(
            tmp_path,
            {
                "mesos": [{"role": "master", "url": f"http://127.0.0.1:{server.server_port}"}],
                "principal": "dcos-health",
                "secret": "s3cret",
                "zookeeper": f"127.0.0.1:{zookeeper.getsockname()[1]}",
            },
        )
    finally:
        server.shutdown()
        server.server_close()
        zookeeper.close()
    assert samples['dcos_mesos_up{role="master"}'] == 1
    assert samples['dcos_mesos_master_elected{role="master"}'] == 1
    assert samples['dcos_mesos_master_slaves_active{role="master"}'] == 2
    assert samples['dcos_mesos_version_info{role="master",version="1.12.0"}'] == 1
    assert samples["dcos_zookeeper_up"] == 1 and samples["dcos_zookeeper_leader"] == 1
    assert samples["dcos_zk_avg_latency"] == 3
    assert "dcos_exporter_last_run_timestamp_seconds" in samples


def test_the_exporter_reports_down_endpoints_and_a_wrong_credential(tmp_path: Path) -> None:
    _Mesos.credential = "Basic " + base64.b64encode(b"dcos-health:right").decode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mesos)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    zookeeper = _zookeeper(b"This ZooKeeper instance is not currently serving requests\n")
    try:
        samples = _run_exporter(
            tmp_path,
            {
                "mesos": [
                    {"role": "master", "url": f"http://127.0.0.1:{server.server_port}"},
                    {"role": "agent", "url": f"http://127.0.0.1:{port}"},
                ],
                "principal": "dcos-health",
                "secret": "wrong",
                "zookeeper": f"127.0.0.1:{zookeeper.getsockname()[1]}",
            },
        )
    finally:
        server.shutdown()
        server.server_close()
        zookeeper.close()
    assert samples['dcos_mesos_up{role="master"}'] == 0  # 401: no anonymous figures
    assert samples['dcos_mesos_up{role="agent"}'] == 0
    assert samples["dcos_zookeeper_up"] == 0
