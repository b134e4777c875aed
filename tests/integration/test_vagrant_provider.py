"""VagrantProvider on real LXC containers: create, reach, list and destroy two machines."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from provisioner.errors import ProviderError
from provisioner.paths import vagrant_dir
from provisioner.providers.vagrant import VagrantProvider
from provisioner.remote.ssh import SshProbes
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines

from .cli_helpers import LAB_MESOS
from .lab import containers, remove_stale_containers, require_lab, ssh_run

CLUSTER = "e2e-vprov"
PREFIX = f"{CLUSTER}-"
#: An empty, stopped container whose name extends one of ours: exact-name cleanup must spare it.
DECOY = f"{CLUSTER}-agent-10"
#: An empty, stopped container of another cluster whose name starts like ours: it must survive.
#: (Other containers on the host are no measure: the e2e suite runs two modules at once.)
NEIGHBOUR = f"{CLUSTER}x-master-1"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_vagrantfile_refuses_to_run_without_machines_file() -> None:
    require_lab()
    env = {k: v for k, v in os.environ.items() if k != "DCOS_PROVISION_MACHINES"}
    env.update(VAGRANT_CWD=str(vagrant_dir()), VAGRANT_CHECKPOINT_DISABLE="1")
    result = subprocess.run(["vagrant", "status"], env=env, capture_output=True, text=True,
                            cwd="/", check=False)  # fmt: skip
    assert result.returncode != 0
    assert "DCOS_PROVISION_MACHINES is not set" in result.stderr


def test_create_list_destroy_two_machines(tmp_path: Path) -> None:
    require_lab()
    remove_stale_containers(PREFIX)
    remove_stale_containers(f"{CLUSTER}x-")
    for decoy in (DECOY, NEIGHBOUR):
        subprocess.run(["lxc-create", "-n", decoy, "-t", "none", "-B", "dir"], check=True)
    spec = ClusterSpec.model_validate(
        {
            "name": CLUSTER,
            "provider": {"kind": "vagrant"},
            "agents": {"count": 1},
            "mesos": {"install": {"method": "tarball", "path": str(LAB_MESOS)}},
        }
    )
    lab_mesos_sha256 = hashlib.sha256(LAB_MESOS.read_bytes()).hexdigest()
    progress: list[str] = []
    provider = VagrantProvider(spec, tmp_path / "state", progress.append)
    planned = plan_machines(spec)
    names = [m.name for m in planned]
    assert names == [f"{CLUSTER}-master-1", f"{CLUSTER}-agent-1"]
    try:
        provider.preflight()
        machines = provider.create(planned)
        assert [m.name for m in machines] == names
        assert any("Importing base box" in line or "Creating" in line for line in progress)
        assert set(containers()) >= set(names)

        by_name = {m.name: m for m in machines}
        login_key = provider.login_key
        public = login_key.with_name("id_ed25519.pub").read_text().split()[:2]
        for machine in machines:
            assert machine.address.startswith("10.0.3.")
            assert machine.ssh_private_key == str(login_key)  # the cluster's own key
            assert machine.strict_host_keys is True
            rc, out, err = ssh_run(machine, "hostname && sudo -n true && echo sudo-ok")
            assert rc == 0, err
            assert out.split() == [machine.name, "sudo-ok"]
            # Vagrant's well-known insecure key was never authorized: the box's lxc-template
            # wrote the cluster's key before the first boot
            rc, out, err = ssh_run(machine, "cat ~/.ssh/authorized_keys")
            assert rc == 0, err
            assert [line.split()[:2] for line in out.splitlines()] == [public]
            # the container is an overlay on the box unpacked once, not a copy of it
            config = Path(f"/var/lib/lxc/{machine.name}/config").read_text()
            assert "overlay:/var/lib/dcos-provision/lxc-base/" in config
            # ... with the lab's Mesos baked in, marked as role mesos_install marks an unpack
            prefix = f"/opt/mesos-{spec.mesos.version}"
            assert "-mesos-" in config
            rc, out, err = ssh_run(
                machine, f"cat {prefix}/.dcos-provision-{lab_mesos_sha256} && ls {prefix}"
            )
            assert rc == 0, err
            assert out.splitlines()[0] == str(LAB_MESOS)
            assert {"lib", "etc"} <= set(out.splitlines()[1:])
        assert not any("insecure key" in line for line in progress)
        # The host keys recorded through lxc-attach are the ones sshd presents: a strict
        # login (RejectPolicy, the state dir's known_hosts only) gets in.
        known_hosts = tmp_path / "state" / "known_hosts"
        strict = SshProbes(machines, known_hosts_file=str(known_hosts))
        try:
            for machine in machines:
                assert strict.run(machine, "hostname")[:2] == (0, f"{machine.name}\n")
        finally:
            strict.close()
        # names resolve between the machines (dnsmasq on lxcbr0), both ways
        master, agent = by_name[names[0]], by_name[names[1]]
        for source, target in ((master, agent), (agent, master)):
            rc, out, err = ssh_run(source, f"getent hosts {target.name}")
            assert rc == 0, err
            assert out.split()[0] == target.address
        assert (master.roles, master.zookeeper_id) == (("master", "zookeeper"), 1)
        assert (agent.roles, agent.zookeeper_id) == (("agent",), None)

        listed = provider.list()
        assert [(m.name, m.address, m.roles, m.zookeeper_id) for m in listed] == [
            (m.name, m.address, m.roles, m.zookeeper_id) for m in machines
        ]
        # a second create finds both running and brings nothing up
        progress.clear()
        again = provider.create(planned)
        assert [m.address for m in again] == [m.address for m in machines]
        assert not any(line.startswith("vagrant up") for line in progress)
    finally:
        try:
            provider.destroy(names)
            assert {c for c in containers() if c.startswith(PREFIX)} == {DECOY}
        finally:
            remove_stale_containers(PREFIX)
        assert {c for c in containers() if c.startswith(PREFIX)} == set()
        try:
            assert NEIGHBOUR in containers()
        finally:
            remove_stale_containers(f"{CLUSTER}x-")
    assert provider.list() == []
    assert CLUSTER not in (tmp_path / "state" / "known_hosts").read_text()  # lines forgotten


def test_name_clash_with_a_container_vagrant_did_not_create(tmp_path: Path) -> None:
    """A container made outside this cluster's vagrant state is reported, never adopted or
    overwritten by `create`."""
    require_lab()
    prefix = "e2e-vclash-"
    remove_stale_containers(prefix)
    spec = ClusterSpec.model_validate(
        {"name": "e2e-vclash", "provider": {"kind": "vagrant"}, "agents": {"count": 0}}
    )
    squatter = "e2e-vclash-master-1"
    subprocess.run(["lxc-create", "-n", squatter, "-t", "none", "-B", "dir"], check=True)
    try:
        provider = VagrantProvider(spec, tmp_path / "state")
        with pytest.raises(ProviderError) as caught:
            provider.create(plan_machines(spec))
        assert f"vagrant up failed for {squatter}" in caught.value.message
        assert "same name you've specified" in caught.value.message
        assert f"lxc-destroy -f -n {squatter}" in (caught.value.hint or "")
        assert squatter in containers()
        assert not (Path("/var/lib/lxc") / squatter / "rootfs").exists()  # still the empty stub
    finally:
        remove_stale_containers(prefix)
