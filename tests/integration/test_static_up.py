"""Acceptance of the static (bare-metal) provider through the real CLI on existing hosts.

Three containers come up through vagrant-lxc only as "existing hosts"; the cluster under test
is a static spec adopting them: doctor refuses their unknown host keys, records them with
--accept-new-host-keys, `up` converges and verifies the cluster over strict host-key checking
(with the recorded keys moved aside, Ansible refuses the hosts; with them back, a second `up`
changes nothing), and `down` resets the hosts (services, units, flags, Mesos install gone)
without deleting them, after which the cluster has no machines recorded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from provisioner.ansible import control_path_dir
from provisioner.domain import Machine

from .cli_helpers import (
    LAB_MESOS_VERSION,
    cli_json,
    http_json,
    in_container,
    mesos_section,
    status,
)
from .lab import require_lab, vagrant_hosts

LAB = "e2e-sup"
CLUSTER = "e2e-metal"
LAYERS = {"reachability", "zookeeper", "mesos_masters", "mesos_agents", "security"}
MASTER_FILES = ["/etc/systemd/system/mesos-master.service", "/etc/default/mesos-master"]
AGENT_FILES = ["/etc/systemd/system/mesos-agent.service", "/etc/default/mesos-agent"]
INSTALL_FILES = ["/opt/mesos", f"/opt/mesos-{LAB_MESOS_VERSION}"]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def write_static_spec(directory: Path, boxes: list[Machine]) -> Path:
    """metal-1 (master + zookeeper), metal-2 and metal-3 (agents) on the given hosts."""
    roles = [["master", "zookeeper"], ["agent"], ["agent"]]
    spec = {
        "name": CLUSTER,
        "provider": {
            "kind": "static",
            "hosts": [
                {
                    "name": f"metal-{number}",
                    "address": box.address,
                    "roles": host_roles,
                    "ssh_private_key": box.ssh_private_key,
                }
                for number, (box, host_roles) in enumerate(zip(boxes, roles, strict=True), 1)
            ],
        },
        "agents": {"resources": {"cpus": 1, "mem": 512, "disk": 1024}},
        "mesos": mesos_section(),
        "ssh": {"user": "vagrant"},
    }
    path = directory / f"{CLUSTER}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def is_active(container: str, unit: str) -> bool:
    out = in_container(container, "systemctl", "is-active", unit, check=False)
    return out.strip() == "active"


def existing(container: str, paths: list[str]) -> list[str]:
    script = 'for p in "$@"; do [ -e "$p" ] && echo "$p"; done; true'
    return in_container(container, "sh", "-c", script, "sh", *paths).split()


def close_ssh_masters(state_dir: Path) -> None:
    """Stop this cluster's persisted SSH connections (ControlPersist) so the next run dials."""
    directory = control_path_dir(state_dir)
    for socket_path in directory.glob("*") if directory.is_dir() else []:
        if socket_path.is_socket():
            subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={socket_path}", "host"],
                           capture_output=True, timeout=30, check=False)  # fmt: skip


def user_knows(address: str) -> bool:
    """Whether root's own ~/.ssh/known_hosts has a key for address (hashed entries too)."""
    own = Path.home() / ".ssh" / "known_hosts"
    if not own.exists():
        return False
    found = subprocess.run(["ssh-keygen", "-F", address, "-f", str(own)], capture_output=True,
                           check=False)  # fmt: skip
    return found.returncode == 0


def container_state(name: str) -> str:
    result = subprocess.run(["lxc-info", "-n", name, "-sH"], capture_output=True, text=True,
                            check=False)  # fmt: skip
    return result.stdout.strip()


def test_static_doctor_up_noop_down(tmp_path: Path) -> None:
    require_lab()
    state_dir = tmp_path / ".dcos-provision" / CLUSTER
    with vagrant_hosts(LAB, 2, tmp_path / "lab-state") as hosts:
        names = [host.name for host in hosts]
        assert names == [f"{LAB}-master-1", f"{LAB}-agent-1", f"{LAB}-agent-2"]
        try:
            on = dict(zip(["metal-1", "metal-2", "metal-3"], names, strict=True))
            addresses = sorted(box.address for box in hosts)
            spec = str(write_static_spec(tmp_path, hosts))
            known_hosts = state_dir / "known_hosts"

            # doctor: unknown host keys are refused, then recorded on request.
            refused = cli_json("doctor", spec, expect_rc=1)
            assert refused["ok"] is False
            assert refused["failed_hosts"] == ["metal-1", "metal-2", "metal-3"]
            logins = [c for c in refused["checks"] if c["check"] == "ssh_login"]
            assert len(logins) == 3 and all("is not known" in c["detail"] for c in logins), logins
            assert refused["recorded_host_keys"] == []
            assert not known_hosts.exists()

            accepted = cli_json("doctor", spec, "--accept-new-host-keys")
            assert accepted["ok"] is True, [c for c in accepted["checks"] if not c["ok"]]
            assert sorted(accepted["recorded_host_keys"]) == addresses
            recorded = [line.split()[0] for line in known_hosts.read_text().splitlines()]
            assert sorted(recorded) == addresses

            # up: adopted, converged and verified; Ansible checks host keys strictly.
            first = cli_json("up", spec)
            assert first["healthy"] is True
            assert [p["playbook"] for p in first["playbooks"]] == ["site.yml"]
            inventory = (state_dir / "inventory.yml").read_text()
            assert "StrictHostKeyChecking" not in inventory, inventory
            rc, report = status(Path(spec))
            assert rc == 0 and report["healthy"] is True, report
            assert {c["layer"] for c in report["checks"]} == LAYERS
            assert all(c["ok"] for c in report["checks"])
            code, leader = http_json(hosts[0].address, 5050, "/master/state")
            assert code == 200, code
            assert {s["hostname"] for s in leader["slaves"] if s["active"]} == {
                "metal-2",
                "metal-3",
            }

            # Without the keys doctor recorded, `up` refuses the hosts (no silent trust): its
            # drift check logs in first and names them ...
            assert not any(user_knows(address) for address in addresses)
            close_ssh_masters(state_dir)  # a persisted connection would skip the key check
            known_hosts.rename(known_hosts.with_suffix(".aside"))
            untrusted = cli_json("up", spec, expect_rc=1)
            assert "Host key verification failed" in untrusted["error"], untrusted
            assert all(f"metal-{n}" in untrusted["error"] for n in (1, 2, 3)), untrusted
            known_hosts.with_suffix(".aside").rename(known_hosts)

            # ... and with them, a second up has nothing to do, and the full play (Ansible
            # checking the keys strictly) changes nothing.
            again = cli_json("up", spec)
            assert again["healthy"] is True and again["drift"] == {} and again["playbooks"] == []
            second = cli_json("up", spec, "--converge")
            assert second["healthy"] is True
            changed = second["playbooks"][0]["changed"]
            assert set(changed) == {"metal-1", "metal-2", "metal-3"}
            assert all(count == 0 for count in changed.values()), changed

            # What down must undo is there now.
            assert is_active(on["metal-1"], "mesos-master")
            assert all(is_active(on[h], "mesos-agent") for h in ("metal-2", "metal-3"))
            master_files = MASTER_FILES + INSTALL_FILES
            assert existing(on["metal-1"], master_files) == master_files
            for host in ("metal-2", "metal-3"):
                assert (
                    existing(on[host], AGENT_FILES + INSTALL_FILES) == AGENT_FILES + INSTALL_FILES
                )
            assert is_active(on["metal-1"], "zookeeper")
            marker = f"dcos-provision cluster {CLUSTER}"
            assert marker in in_container(on["metal-1"], "cat", "/etc/hosts")

            # down: the hosts are reset, not deleted, and the cluster is forgotten.
            down = cli_json("down", "--yes", spec)
            assert down == {"cluster": CLUSTER, "destroyed": ["metal-1", "metal-2", "metal-3"]}
            for name in names:
                assert container_state(name) == "RUNNING", name
                assert not is_active(name, "mesos-master"), name
                assert not is_active(name, "mesos-agent"), name
                leftovers = existing(name, MASTER_FILES + AGENT_FILES + INSTALL_FILES)
                assert leftovers == [], (name, leftovers)
            assert not is_active(on["metal-1"], "zookeeper")
            hosts_file = in_container(on["metal-1"], "cat", "/etc/hosts")
            assert marker not in hosts_file, hosts_file

            gone = cli_json("status", spec, expect_rc=1)
            assert "no machines recorded" in gone["error"], gone
        finally:
            close_ssh_masters(state_dir)
