"""doctor on real LXC hosts adopted by the static provider: all ok, then two breakages.

Two containers come up through vagrant-lxc (only as a way to get SSH hosts); the cluster under
test is a *static* spec pointing at their addresses, so host keys are strict and recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.doctor import run_doctor
from provisioner.providers.static import StaticProvider
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines

from .lab import require_lab, ssh_run, vagrant_hosts

CLUSTER = "e2e-static"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_doctor_on_adopted_hosts(tmp_path: Path) -> None:
    require_lab()
    with vagrant_hosts(CLUSTER, 1, tmp_path / "lab-state") as (master_box, agent_box):
        spec = ClusterSpec.model_validate(
            {
                "name": CLUSTER,
                "provider": {
                    "kind": "static",
                    "hosts": [
                        {
                            "name": "metal-1",
                            "address": master_box.address,
                            "roles": ["master", "zookeeper"],
                            "ssh_private_key": master_box.ssh_private_key,
                        },
                        {
                            "name": "metal-2",
                            "address": agent_box.address,
                            "roles": ["agent"],
                            "ssh_private_key": agent_box.ssh_private_key,
                        },
                    ],
                },
                "ssh": {"user": "vagrant"},
            }
        )
        static = StaticProvider(spec, tmp_path / "state")
        static.preflight()
        machines = static.create(plan_machines(spec))
        assert all(m.strict_host_keys for m in machines)
        known_hosts = tmp_path / "state" / "known_hosts"

        refused = run_doctor(spec, machines, known_hosts=known_hosts)
        assert refused.failed_hosts == ["metal-1", "metal-2"]
        assert "is not known" in refused.check("metal-1", "ssh_login").detail

        first = run_doctor(spec, machines, known_hosts=known_hosts, accept_new_host_keys=True)
        assert first.ok, first.failures
        assert sorted(first.recorded_host_keys) == sorted(m.address for m in machines)
        assert "Debian family" in first.check("metal-1", "os_family").detail
        # The box may bake in ZooKeeper: then 2181 is reported as held by ours, still ok.
        free_part = first.check("metal-1", "ports_free").detail.split(";")[0]
        assert free_part.endswith(" free") and "5050" in free_part, free_part

        metal_1, metal_2 = machines
        # A stranger on the master port of metal-1 ...
        rc, _out, err = ssh_run(
            metal_1, "setsid nohup nc -lk 5050 </dev/null >/dev/null 2>&1 & sleep 1; ss -ltnH"
        )
        assert rc == 0, err
        # ... and metal-2 no longer accepts the key.
        rc, _out, err = ssh_run(metal_2, "rm ~/.ssh/authorized_keys")
        assert rc == 0, err

        broken = run_doctor(spec, machines, known_hosts=known_hosts)
        assert broken.failed_hosts == ["metal-1", "metal-2"]
        assert [c.check for c in broken.failures] == ["ports_free", "ssh_login"]
        ports = broken.check("metal-1", "ports_free").detail
        assert ports.startswith("5050 in use by nc (pid "), ports
        login = broken.check("metal-2", "ssh_login").detail
        assert login == f"authentication as vagrant@{metal_2.address}:22 failed (key " + (
            f"{metal_2.ssh_private_key})"
        )
        assert all(c.skipped for c in broken.for_host("metal-2") if c.check != "ssh_login")
