"""Monitoring on a real cluster (1 master, 2 agents, real Mesos, mutual TLS on as by default):
Prometheus' HTTP API shows every target up and the Mesos series; stopping an agent fires
MesosAgentsBelowSpec within its `for:` window and restarting it clears it; headless Chromium
renders the Mesos UI over https (the operator's browser bundle from `credentials
--browser-bundle` in an NSS database, presented without a dialog) and Prometheus' targets
page; a node left on another Mesos build makes `status` fail naming it.

Screenshots and page dumps are kept under `.artifacts/test_monitoring/` (or
`$DCOS_TEST_ARTIFACTS/test_monitoring/`); the test prints the path.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from .cli_helpers import (
    REPO,
    cli,
    cli_json,
    container_ip,
    failed_in,
    healthy,
    in_container,
    secrets_of,
    status,
    wait_status,
    write_spec,
)
from .lab import containers, remove_stale_containers, require_lab

CLUSTER = "e2e-monitor"
PREFIX = f"{CLUSTER}-"
MASTER = f"{CLUSTER}-master-1"
AGENTS = [f"{CLUSTER}-agent-1", f"{CLUSTER}-agent-2"]
#: Short windows so the alert test is quick (the spec's monitoring section).
ALERT_FOR_S, SCRAPE_S = 10, 5
ARTIFACTS = Path(os.environ.get("DCOS_TEST_ARTIFACTS", REPO / ".artifacts")) / "test_monitoring"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_lab()
    remove_stale_containers(PREFIX)
    spec = write_spec(tmp_path_factory.mktemp("monitor"), CLUSTER, masters=1, agents=2)
    data = yaml.safe_load(spec.read_text())
    data["monitoring"] = {"alert_for_s": ALERT_FOR_S, "scrape_interval_s": SCRAPE_S}
    assert "tls" not in data.get("security", {})  # TLS on, the default
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        assert cli_json("up", str(spec))["healthy"] is True
        yield spec
    finally:
        cli("down", "--yes", str(spec))
        remove_stale_containers(PREFIX)
    assert not {c for c in containers() if c.startswith(PREFIX)}


def prometheus(path: str, **query: str) -> Any:
    url = f"http://{container_ip(MASTER)}:9090{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = json.loads(answer.read())
    assert body["status"] == "success", body
    return body["data"]


def series(promql: str) -> dict[str, float]:
    """host label -> value of each sample of an instant query."""
    result = prometheus("/api/v1/query", query=promql)["result"]
    return {r["metric"].get("host", ""): float(r["value"][1]) for r in result}


def alert_state(name: str) -> str | None:
    alerts = prometheus("/api/v1/alerts")["alerts"]
    states = [a["state"] for a in alerts if a["labels"]["alertname"] == name]
    return "firing" if "firing" in states else (states[0] if states else None)


def wait_for(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s"
        time.sleep(2)
    return value


def test_prometheus_scrapes_every_host_and_the_mesos_series(cluster: Path) -> None:
    def all_up() -> list[dict[str, Any]] | None:
        targets = prometheus("/api/v1/targets")["activeTargets"]
        return targets if targets and all(t["health"] == "up" for t in targets) else None

    targets = wait_for("every target up", all_up, 120)
    node = sorted(t["labels"]["host"] for t in targets if t["labels"]["job"] == "node")
    assert node == sorted([MASTER, *AGENTS])
    hosts = sorted([MASTER, *AGENTS])
    wait_for("Mesos series", lambda: sorted(series("dcos_mesos_up == 1")) == hosts, 60)
    assert series("dcos_mesos_master_elected") == {MASTER: 1.0}
    assert series("dcos_mesos_master_slaves_active") == {MASTER: 2.0}
    assert series("dcos_mesos_slave_registered") == {a: 1.0 for a in AGENTS}
    assert series("dcos_zookeeper_up") == {MASTER: 1.0}
    versions = prometheus("/api/v1/query", query="dcos_mesos_version_info")["result"]
    assert {r["metric"]["version"] for r in versions} == {"1.12.0"}
    # The health credential the exporter uses is root-only; node exporter is firewalled off
    # from agents (only masters and operators may scrape).
    config = "/etc/dcos-provision/monitoring/exporter.json"
    assert in_container(AGENTS[0], "stat", "-c", "%a %U", config).split() == ["600", "root"]
    probe = f"http://{container_ip(AGENTS[1])}:9100/metrics"
    blocked = in_container(AGENTS[0], "curl", "-sf", "--max-time", "3", probe, check=False)
    assert blocked == ""
    assert "node_exporter_build_info" in in_container(MASTER, "curl", "-sf", probe)
    # A second converge changes nothing, monitoring included.
    again = cli_json("up", str(cluster), "--converge")
    assert set(again["playbooks"][0]["changed"].values()) == {0}, again["playbooks"][0]
    figures = cli_json("metrics", str(cluster))
    assert figures["source"] == f"prometheus on {MASTER}"
    assert figures["leader"] == MASTER and figures["agents_active"] == 2


def test_a_stopped_agent_fires_the_agents_below_spec_alert_and_its_return_clears_it(
    cluster: Path,
) -> None:
    assert alert_state("MesosAgentsBelowSpec") is None
    in_container(AGENTS[1], "systemctl", "stop", "mesos-agent")
    try:
        started = time.monotonic()
        # Scrape + exporter period + evaluation + `for:`, with room for a loaded machine.
        budget = ALERT_FOR_S + 6 * SCRAPE_S + 30
        wait_for("alert firing", lambda: alert_state("MesosAgentsBelowSpec") == "firing", budget)
        sys.stderr.write(f"MesosAgentsBelowSpec fired after {time.monotonic() - started:.0f}s\n")
        alert = next(
            a
            for a in prometheus("/api/v1/alerts")["alerts"]
            if a["labels"]["alertname"] == "MesosAgentsBelowSpec"
        )
        assert (
            "1 agents active on the leader, the spec asks for 2" in alert["annotations"]["summary"]
        )
    finally:
        in_container(AGENTS[1], "systemctl", "start", "mesos-agent")
    wait_for("alert cleared", lambda: alert_state("MesosAgentsBelowSpec") is None, 120)
    wait_status(cluster, healthy)


def chromium(
    url: str, name: str, home: Path | None = None, preferences: dict[str, Any] | None = None
) -> str:
    """Render `url` in headless Chromium (fresh profile, `preferences` as its Preferences,
    `home` as $HOME: where it finds its NSS database); keep a screenshot and the DOM."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is not installed: run scripts/lab-setup.sh --dev"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    sys.stderr.write(f"browser artifacts: {ARTIFACTS}\n")
    pages = []
    for extra in (["--dump-dom"], [f"--screenshot={ARTIFACTS / (name + '.png')}"]):
        with tempfile.TemporaryDirectory() as profile:
            if preferences is not None:
                (Path(profile) / "Default").mkdir()
                (Path(profile) / "Default" / "Preferences").write_text(json.dumps(preferences))
            env = {**os.environ, "HOME": str(home)} if home else None
            result = subprocess.run(
                [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                 "--virtual-time-budget=15000", *extra, url],
                capture_output=True, text=True, timeout=180, check=False, cwd=profile, env=env,
            )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        pages.append(result.stdout)
    (ARTIFACTS / f"{name}.html").write_text(pages[0])
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 0
    return pages[0]


def browser_home(cluster: Path, home: Path) -> tuple[Path, Path]:
    """An operator's browser set up as docs/monitoring.md says: the bundle from `credentials
    --browser-bundle` imported into `home`'s NSS database (where Chromium on Linux keeps
    client certificates), the cluster CA trusted for web sites. Returns (bundle, CA file)."""
    passphrase = home / "passphrase"
    home.mkdir(parents=True, exist_ok=True)
    passphrase.write_text("e2e browser bundle passphrase\n")
    bundle = home / "operator.p12"
    written = cli_json(
        "credentials", str(cluster), "--browser-bundle", str(bundle),
        "--passphrase-file", str(passphrase),
    )  # fmt: skip
    assert oct(bundle.stat().st_mode & 0o777) == "0o600"
    assert "OU=browser" in written["subject"]
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    database = f"sql:{nssdb}"
    for command in (
        ["certutil", "-N", "-d", database, "--empty-password"],
        ["pk12util", "-i", str(bundle), "-d", database, "-w", str(passphrase)],
        ["certutil", "-A", "-d", database, "-n", f"{CLUSTER} CA", "-t", "C,,",
         "-i", written["ca_certificate"]],
    ):  # fmt: skip
        assert shutil.which(command[0]), "libnss3-tools missing: run scripts/lab-setup.sh --dev"
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    return bundle, Path(written["ca_certificate"])


def test_the_mesos_ui_over_tls_shows_the_agents_with_the_operator_bundle(
    cluster: Path, tmp_path: Path
) -> None:
    operator = secrets_of(cluster)["operator"]
    address = container_ip(MASTER)
    bundle, ca_file = browser_home(cluster, tmp_path / "home")
    # Chromium's AutoSelectCertificateForUrls setting, as a profile preference: present the
    # operator's certificate to this origin without the selection dialog (which headless
    # Chromium would wait on forever).
    origin = f"https://{address}:5050"
    preferences = {"profile": {"content_settings": {"exceptions": {"auto_select_certificate": {
        f"{origin},*": {"setting": {"filters": [
            {"SUBJECT": {"CN": f"{CLUSTER}-operator-browser", "OU": "browser"}}
        ]}}
    }}}}}  # fmt: skip
    # The UI fetches /master/state with the browser's credentials: those of the page's URL.
    user = urllib.parse.quote(operator["principal"], safe="")
    secret = urllib.parse.quote(operator["secret"], safe="")
    page = chromium(
        f"https://{user}:{secret}@{address}:5050/#/agents",
        "mesos-agents",
        home=tmp_path / "home",
        preferences=preferences,
    )
    for agent in AGENTS:
        assert agent in page, f"{agent} not in the rendered Mesos UI"
    # The bundle opens the TLS connection, nothing more: without the operator's credential
    # the state the UI renders is refused (no anonymous bypass), and plain HTTP gets nothing.
    key, cert, _ = pkcs12.load_key_and_certificates(
        bundle.read_bytes(), b"e2e browser bundle passphrase"
    )
    assert key is not None and cert is not None
    client_pem = tmp_path / "client.pem"
    client_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(client_pem)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{origin}/master/state", timeout=10, context=context)
    assert refused.value.code == 401
    try:
        urllib.request.urlopen(f"http://{address}:5050/master/state", timeout=10)
    except urllib.error.HTTPError as answered:
        pytest.fail(f"plain HTTP to 5050 answered {answered.code}")
    except OSError:
        pass  # refused, reset or unanswered: no TLS, no conversation
    else:
        pytest.fail("plain HTTP to 5050 answered")


def test_the_prometheus_ui_lists_every_target_up(cluster: Path) -> None:
    # Debian's prometheus 2.42 ships the classic UI only (`/` redirects to /classic/graph).
    # Prometheus speaks plain HTTP (no TLS of its own; its port is firewalled to the masters
    # and the operator CIDR): docs/monitoring.md.
    page = chromium(f"http://{container_ip(MASTER)}:9090/classic/targets", "prometheus-targets")
    for host in [MASTER, *AGENTS]:
        assert f"{host}:9100" in page
    assert "node (3/3 up)" in page


def test_a_node_left_on_another_build_fails_status_naming_it(cluster: Path, tmp_path: Path) -> None:
    """An interrupted upgrade, as left behind: one agent's unit runs another install."""
    agent = AGENTS[1]
    build = subprocess.run(
        ["sh", str(REPO / "tests/mesos_standin/build.sh")],
        env={**os.environ, "VERSION": "1.11.0", "DIST": str(tmp_path)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    tarball = Path(build.stdout.strip())
    unit = "/etc/systemd/system/mesos-agent.service"
    in_container(agent, "cp", unit, "/root/mesos-agent.service.saved")
    try:
        with tarball.open("rb") as data:
            subprocess.run(
                ["lxc-attach", "-n", agent, "--", "sh", "-c",
                 "mkdir -p /opt/mesos-1.11.0 && tar -xzf - -C /opt/mesos-1.11.0"
                 " && ln -sfn bin /opt/mesos-1.11.0/sbin"],
                stdin=data, check=True, timeout=120,
            )  # fmt: skip
        in_container(
            agent,
            "sed",
            "-i",
            "s#^ExecStart=.*#ExecStart=/opt/mesos-1.11.0/sbin/mesos-agent#",
            unit,
        )
        in_container(agent, "systemctl", "daemon-reload")
        in_container(agent, "systemctl", "restart", "mesos-agent")

        def names_it(rc: int, report: dict[str, Any]) -> bool:
            return rc == 1 and any(
                c["name"] == "version" for c in failed_in(report, "mesos_agents")
            )

        report = wait_status(cluster, names_it, timeout=120)
        [check] = [c for c in failed_in(report, "mesos_agents") if c["name"] == "version"]
        assert check["host"] == agent
        assert "runs Mesos 1.11.0, the spec asks for 1.12.0" in check["detail"]
        assert not [c for c in failed_in(report, "mesos_masters") if c["name"] == "version"]
        rc, _ = status(cluster)
        assert rc == 1
    finally:
        in_container(agent, "cp", "/root/mesos-agent.service.saved", unit)
        in_container(agent, "systemctl", "daemon-reload")
        in_container(agent, "systemctl", "restart", "mesos-agent")
        in_container(agent, "rm", "-rf", "/opt/mesos-1.11.0", "/root/mesos-agent.service.saved")
    wait_status(cluster, healthy)


def test_scaling_down_points_prometheus_at_the_agents_that_stay(cluster: Path) -> None:
    """Found in review: after `scale` the removed agent stayed a (down) target and the
    agents-below-spec rule kept the old count, so the alert fired until a full converge. Now
    the plan's `monitoring` step rewrites Prometheus' targets and rules on the master; the
    next `up` finds no drift. (Last in this module: it leaves one agent.)"""
    shrunk = cli_json("scale", str(cluster), "--agents", "1", "--yes")
    steps = [(p["playbook"], p["limit"]) for p in shrunk["playbooks"]]
    assert ("monitoring_targets.yml", [MASTER]) in steps, steps
    assert shrunk["healthy"] is True

    def node_targets() -> list[str] | None:
        try:
            targets = prometheus("/api/v1/targets")["activeTargets"]
        except (urllib.error.URLError, ConnectionError):
            return None  # Prometheus is restarting
        return sorted(t["labels"]["host"] for t in targets if t["labels"]["job"] == "node")

    wait_for("Prometheus scrapes the agents that stay", lambda: node_targets() == [
        AGENTS[0], MASTER
    ], 60)  # fmt: skip
    rule = next(
        r
        for group in prometheus("/api/v1/rules")["groups"]
        for r in group["rules"]
        if r["name"] == "MesosAgentsBelowSpec"
    )
    assert rule["query"].rstrip().endswith("< 1"), rule["query"]
    time.sleep(ALERT_FOR_S + 3 * SCRAPE_S)  # past the alert's window: nothing pending or firing
    assert alert_state("MesosAgentsBelowSpec") is None
    again = cli_json("up", str(cluster))
    assert again["drift"] == {} and again["playbooks"] == [], again
