"""The roles' TLS settings: LIBPROCESS_SSL_* for masters and agents, executors' own files."""

from __future__ import annotations

import json

import pytest

from .role_render import cluster, env_file, render, role_vars

STRICT = {
    "LIBPROCESS_SSL_ENABLED": "true",
    "LIBPROCESS_SSL_SUPPORT_DOWNGRADE": "false",
    "LIBPROCESS_SSL_CA_FILE": "/etc/dcos-provision/tls/ca.crt",
    "LIBPROCESS_SSL_VERIFY_SERVER_CERT": "true",
    "LIBPROCESS_SSL_REQUIRE_CLIENT_CERT": "true",
    "LIBPROCESS_SSL_VERIFY_IPADD": "true",
    "LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME": "openssl",
    "LIBPROCESS_SSL_ENABLE_TLS_V1_2": "true",
    "LIBPROCESS_SSL_ENABLE_TLS_V1_3": "true",
}


def _env(role: str, host: str, tls: bool = True, **extra: object) -> dict[str, str]:
    """The rendered environment file of `host` in a cluster whose spec sets security.tls."""
    inventory = cluster(security={"tls": {"enabled": tls}})
    variables = role_vars(role, inventory, host, **extra)
    return env_file(render(role, f"{role.replace('_', '-')}.env.j2", variables))


@pytest.mark.parametrize(
    ("role", "host"), [("mesos_master", "demo-master-1"), ("mesos_agent", "demo-agent-1")]
)
def test_tls_on_renders_strict_libprocess_settings_with_the_nodes_own_key(
    role: str, host: str
) -> None:
    env = _env(role, host)  # on by default
    assert {k: env[k] for k in STRICT} == STRICT
    assert env["LIBPROCESS_SSL_CERT_FILE"] == "/etc/dcos-provision/tls/node.crt"
    assert env["LIBPROCESS_SSL_KEY_FILE"] == "/etc/dcos-provision/tls/node.key"
    ciphers = env["LIBPROCESS_SSL_CIPHERS"].split(":")
    assert ciphers and all(
        c.startswith("ECDHE-") and ("GCM" in c or "CHACHA" in c) for c in ciphers
    )


@pytest.mark.parametrize(
    ("role", "host"), [("mesos_master", "demo-master-1"), ("mesos_agent", "demo-agent-1")]
)
def test_tls_off_renders_no_libprocess_settings(role: str, host: str) -> None:
    env = _env(role, host, tls=False)
    assert not [k for k in env if k.startswith("LIBPROCESS_")]
    assert "MESOS_EXECUTOR_ENVIRONMENT_VARIABLES" not in env


def test_the_downgrade_switch_reaches_the_environment() -> None:
    inventory = cluster(security={"tls": {"support_downgrade": True}})
    variables = role_vars("mesos_master", inventory, "demo-master-1")
    env = env_file(render("mesos_master", "mesos-master.env.j2", variables))
    assert env["LIBPROCESS_SSL_SUPPORT_DOWNGRADE"] == "true"


def test_executors_get_their_own_certificate_and_a_path_never_the_agents_key() -> None:
    env = _env("mesos_agent", "demo-agent-1")
    executor = json.loads(env["MESOS_EXECUTOR_ENVIRONMENT_VARIABLES"])
    assert {k: executor[k] for k in STRICT} == STRICT
    assert executor["LIBPROCESS_SSL_CERT_FILE"] == "/etc/dcos-provision/tls/executor.crt"
    assert executor["LIBPROCESS_SSL_KEY_FILE"] == "/etc/dcos-provision/tls/executor.key"
    assert "node.key" not in env["MESOS_EXECUTOR_ENVIRONMENT_VARIABLES"]
    assert "/usr/bin" in executor["PATH"].split(":")
    assert executor["LIBPROCESS_IP"] == env["MESOS_IP"]  # the agent's own address


def test_an_odd_cipher_list_fails_the_render() -> None:
    with pytest.raises(Exception, match="not a plain LIBPROCESS_SSL_ setting"):
        _env(
            "mesos_master",
            "demo-master-1",
            mesos_master_tls=True,
            mesos_master_tls_ciphers="A\nB=C",
        )


def test_agents_hand_executors_no_token_that_launches_nested_containers() -> None:
    """An executor token (JWT) may launch nested containers under its container as any user
    whatever the agent's ACLs, and a task can read it: with it every task became root (red
    team). Executors get TLS settings and their own certificate, and no token."""
    env = _env("mesos_agent", "demo-agent-1")
    assert "MESOS_AUTHENTICATE_HTTP_EXECUTORS" not in env
    assert "MESOS_JWT_SECRET_KEY" not in env
    executor = json.loads(env["MESOS_EXECUTOR_ENVIRONMENT_VARIABLES"])
    assert executor["LIBPROCESS_SSL_KEY_FILE"] == "/etc/dcos-provision/tls/executor.key"
