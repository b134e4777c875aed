"""The role templates and derived variables, rendered with ansible's own templar from an
inventory that provisioner.inventory builds."""

from __future__ import annotations

import pytest

from provisioner.domain import Machine
from provisioner.inventory import build_inventory
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines

from .role_render import cluster, env_file, render, role_vars, value

# --------------------------------------------------------------------------- mesos_master


@pytest.mark.parametrize(("masters", "quorum"), [(1, "1"), (3, "2"), (5, "3")])
def test_master_env_quorum_and_zk(masters: int, quorum: str) -> None:
    inventory = cluster(masters={"count": masters}, security={"zookeeper_acl": False})
    variables = role_vars("mesos_master", inventory, "demo-master-1")
    env = env_file(render("mesos_master", "mesos-master.env.j2", variables))

    assert env["MESOS_QUORUM"] == quorum
    members = ",".join(f"10.0.3.{10 + i}:2181" for i in range(masters))
    assert env["MESOS_ZK"] == f"zk://{members}/mesos"
    assert env["MESOS_IP"] == env["MESOS_ADVERTISE_IP"] == "10.0.3.10"
    assert env["MESOS_HOSTNAME"] == "demo-master-1"
    assert env["MESOS_PORT"] == "5050"
    assert env["MESOS_CLUSTER"] == "demo"
    assert env["MESOS_WORK_DIR"] == "/var/lib/mesos/master"
    assert env["MESOS_LOG_DIR"] == "/var/log/mesos"


def test_master_extra_flags_are_uppercased_and_quoted_safely() -> None:
    inventory = cluster(
        masters={"count": 3},
        mesos={
            "cluster_name": "prod",
            "master_flags": {
                "offer_timeout": "30secs",
                "hostname_lookup": False,
                "webui_dir": "/srv/web ui",
                "roles": "a;b",
                "acls": '{"x": "it\'s"}',
            },
        },
        security={"authorization": False},
    )
    text = render(
        "mesos_master", "mesos-master.env.j2", role_vars("mesos_master", inventory, "demo-master-2")
    )
    env = env_file(text)
    assert env["MESOS_OFFER_TIMEOUT"] == "30secs"
    assert env["MESOS_HOSTNAME_LOOKUP"] == "false"
    assert env["MESOS_WEBUI_DIR"] == "/srv/web ui"
    assert env["MESOS_ROLES"] == "a;b"
    assert env["MESOS_ACLS"] == '{"x": "it\'s"}'
    assert env["MESOS_CLUSTER"] == "prod"
    assert "MESOS_QUORUM=2\n" in text  # plain values stay unquoted
    assert text.startswith("# Ansible managed\n")


def test_master_unit_runs_the_installed_binary_under_systemd_rules() -> None:
    variables = role_vars("mesos_master", cluster(), "demo-master-1")
    unit = render("mesos_master", "mesos-master.service.j2", variables)
    assert "ExecStart=/opt/mesos-1.11.0/bin/mesos-master\n" in unit
    assert "EnvironmentFile=/etc/default/mesos-master\n" in unit
    assert "Environment=LD_LIBRARY_PATH=/opt/mesos-1.11.0/lib\n" in unit
    for line in (
        "Restart=always",
        "RestartSec=5",
        "LimitNOFILE=16384",
        "WantedBy=multi-user.target",
    ):
        assert f"{line}\n" in unit
    packaged = render(
        "mesos_master", "mesos-master.service.j2", {**variables, "mesos_install_lib_dir": ""}
    )
    assert "LD_LIBRARY_PATH" not in packaged


def test_master_only_hosts_stop_agent_units_but_colocated_hosts_keep_theirs() -> None:
    inventory = cluster(masters={"count": 3})
    variables = role_vars("mesos_master", inventory, "demo-master-1")
    assert value("__mesos_master_foreign_units", variables) == [
        "mesos-slave.service",
        "mesos-agent.service",
    ]
    inventory["all"]["children"]["mesos"]["children"]["mesos_agents"]["hosts"]["demo-master-1"] = {}
    variables = role_vars("mesos_master", inventory, "demo-master-1")
    assert value("__mesos_master_foreign_units", variables) == ["mesos-slave.service"]


# --------------------------------------------------------------------------- mesos_agent


def test_agent_env_always_has_resources_and_the_zk_master() -> None:
    inventory = cluster(masters={"count": 3}, agents={"count": 2, "cpus": 2, "memory_mb": 2048})
    env = env_file(
        render(
            "mesos_agent", "mesos-agent.env.j2", role_vars("mesos_agent", inventory, "demo-agent-2")
        )
    )
    assert env["MESOS_RESOURCES"] == "cpus:2;mem:2048;disk:10240;ports:[31000-32000]"
    assert env["MESOS_MASTER"] == "zk://10.0.3.10:2181,10.0.3.11:2181,10.0.3.12:2181/mesos"
    assert env["MESOS_IP"] == env["MESOS_ADVERTISE_IP"] == "10.0.3.14"
    assert env["MESOS_HOSTNAME"] == "demo-agent-2"
    assert env["MESOS_PORT"] == "5051"
    assert env["MESOS_WORK_DIR"] == "/var/lib/mesos/agent"
    assert env["MESOS_CONTAINERIZERS"] == "mesos"
    assert "MESOS_ATTRIBUTES" not in env


def test_agent_attributes_and_extra_flags() -> None:
    inventory = cluster(
        agents={
            "count": 1,
            "attributes": {"rack": "r1", "zone": "b"},
            "resources": {"cpus": 1, "mem": 1024, "disk": 4096},
        },
        mesos={
            "agent_flags": {
                "launcher": "posix",
                "isolation": "posix/cpu,posix/mem",
                "systemd_enable_support": False,
                "containerizers": "docker,mesos",
            }
        },
    )
    text = render(
        "mesos_agent", "mesos-agent.env.j2", role_vars("mesos_agent", inventory, "demo-agent-1")
    )
    env = env_file(text)
    assert env["MESOS_ATTRIBUTES"] == "rack:r1;zone:b"
    assert env["MESOS_RESOURCES"] == "cpus:1;mem:1024;disk:4096;ports:[31000-32000]"
    assert env["MESOS_LAUNCHER"] == "posix"
    assert env["MESOS_ISOLATION"] == "posix/cpu,posix/mem"
    assert env["MESOS_SYSTEMD_ENABLE_SUPPORT"] == "false"
    assert env["MESOS_CONTAINERIZERS"] == "docker,mesos"  # extra flags may override defaults
    assert text.count("MESOS_CONTAINERIZERS=") == 1


def test_agent_unit_kills_only_the_agent() -> None:
    unit = render(
        "mesos_agent", "mesos-agent.service.j2", role_vars("mesos_agent", cluster(), "demo-agent-1")
    )
    assert "ExecStart=/opt/mesos-1.11.0/bin/mesos-agent\n" in unit
    assert "KillMode=process\n" in unit
    assert "EnvironmentFile=/etc/default/mesos-agent\n" in unit
    assert "Restart=always\n" in unit and "LimitNOFILE=16384\n" in unit


def test_agent_identity_tracks_what_recovery_compares() -> None:
    base = role_vars("mesos_agent", cluster(), "demo-agent-1")
    identity = value("__mesos_agent_identity", base)
    assert identity == {
        "resources": "cpus:1;mem:1024;disk:10240;ports:[31000-32000]",
        "attributes": "",
        "hostname": "demo-agent-1",
        "ip": "10.0.3.11",
    }
    flags_only = {**base, "mesos_agent_extra_flags": {"isolation": "posix/cpu"}}
    assert value("__mesos_agent_identity", flags_only) == identity
    more_memory = {**base, "mesos_agent_resources": "cpus:1;mem:2048;disk:10240"}
    assert value("__mesos_agent_identity", more_memory) != identity


# --------------------------------------------------------------------------- zookeeper


def test_zoo_cfg_lists_every_member_by_its_own_id() -> None:
    hosts = [
        {
            "name": "zk-c",
            "address": "10.1.0.3",
            "roles": ["zookeeper", "master"],
            "zookeeper_id": 9,
        },
        {
            "name": "zk-a",
            "address": "10.1.0.1",
            "roles": ["zookeeper", "master"],
            "zookeeper_id": 5,
        },
        {
            "name": "zk-b",
            "address": "10.1.0.2",
            "roles": ["zookeeper", "master"],
            "zookeeper_id": 2,
        },
    ]
    spec = ClusterSpec.model_validate(
        {"name": "st", "provider": {"kind": "static", "hosts": hosts}}
    )
    machines = [
        Machine(
            name=p.name,
            roles=p.roles,
            address=p.address or "",
            ssh_user="admin",
            zookeeper_id=p.zookeeper_id,
        )
        for p in plan_machines(spec)
    ]
    inventory = build_inventory(spec, machines)
    variables = role_vars("zookeeper", inventory, "zk-a")
    cfg = render("zookeeper", "zoo.cfg.j2", variables)
    lines = cfg.splitlines()

    assert [line for line in lines if line.startswith("server.")] == [
        "server.2=10.1.0.2:2888:3888",
        "server.5=10.1.0.1:2888:3888",
        "server.9=10.1.0.3:2888:3888",
    ]
    assert variables["zookeeper_myid"] == 5  # from the host, not its position
    for line in (
        "dataDir=/var/lib/zookeeper",
        "clientPort=2181",
        "autopurge.purgeInterval=24",
        "autopurge.snapRetainCount=3",
        "4lw.commands.whitelist=ruok,srvr,mntr",
        "admin.enableServer=false",
    ):
        assert line in lines
    assert lines[0] == "# Ansible managed"


def test_zookeeper_environment_logs_through_log4j() -> None:
    variables = role_vars("zookeeper", cluster(masters={"count": 3}), "demo-master-2")
    env = env_file(render("zookeeper", "environment.j2", variables))
    assert env["CLASSPATH"].split(":") == [
        "/etc/zookeeper/conf",
        "/usr/share/java/zookeeper.jar",
        "/usr/share/java/slf4j-log4j12.jar",
        "/usr/share/java/log4j-1.2.jar",
    ]
    assert env["ZOO_LOG_DIR"] == "/var/log/zookeeper"
    assert env["ZOO_LOG4J_PROP"] == "INFO,ROLLINGFILE"
    assert env["ZOOCFG"] == "/etc/zookeeper/conf/zoo.cfg"
    # Quorum authentication is on with the ZooKeeper ACL (the default): the server's JAAS file.
    assert (
        env["JAVA_OPTS"]
        == "-Xmx512m -Djava.security.auth.login.config=/etc/zookeeper/conf/jaas.conf"
    )
    off = cluster(masters={"count": 3}, security={"zookeeper_acl": False})
    variables = role_vars("zookeeper", off, "demo-master-2")
    assert env_file(render("zookeeper", "environment.j2", variables))["JAVA_OPTS"] == "-Xmx512m"


# --------------------------------------------------------------------------- mesos_install


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "deb http://rpm.aventer.biz/Debian/ {codename} main",
            "deb [signed-by=/etc/apt/keyrings/mesos.asc] "
            "http://rpm.aventer.biz/Debian/ bookworm main",
        ),
        (
            "deb [arch=amd64] http://mirror.example/mesos {codename} main",
            "deb [signed-by=/etc/apt/keyrings/mesos.asc arch=amd64] "
            "http://mirror.example/mesos bookworm main",
        ),
        (
            "deb [signed-by=/usr/share/keyrings/m.gpg] http://m.example/ {codename} main",
            "deb [signed-by=/usr/share/keyrings/m.gpg] http://m.example/ bookworm main",
        ),
    ],
)
def test_apt_source_line(line: str, expected: str) -> None:
    inventory = cluster()
    inventory["all"]["children"]["mesos"]["vars"]["mesos_install_apt_repository"] = line
    variables = role_vars("mesos_install", inventory, "demo-master-1")
    assert value("__mesos_install_apt_source", variables) == expected
    assert variables["mesos_install_apt_key_url"] == (
        "https://www.aventer.biz/assets/support_aventer.asc"
    )


def test_tarball_archive_name_comes_from_url_or_path() -> None:
    inventory = cluster(
        mesos={"install": {"method": "tarball", "url": "https://dl.example/mesos-1.11.0.tar.gz"}}
    )
    variables = role_vars("mesos_install", inventory, "demo-agent-1")
    assert value("__mesos_install_archive", variables) == (
        "/var/cache/dcos-provision/mesos-1.11.0.tar.gz"
    )
    assert value("mesos_install_prefix", variables) == "/opt/mesos-1.11.0"
    assert value("__mesos_install_search_paths", variables) == ["/opt/mesos-1.11.0"]
