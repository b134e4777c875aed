"""The drift check's comparison: what a host shows now against its last converge."""

from __future__ import annotations

import subprocess

from provisioner.drift import OBSERVE_SCRIPT, compare, parse_observation

CONVERGED = """mesos_master file /etc/default/mesos-master 1111
mesos_master file /etc/systemd/system/mesos-master.service 2222
zookeeper file /etc/zookeeper/conf/zoo.cfg 3333
mesos_install link /opt/mesos /opt/mesos-1.12.0
mesos_master service mesos-master active
mesos_master enabled mesos-master yes
zookeeper service zookeeper active
zookeeper enabled zookeeper yes
"""


def test_parse_keeps_files_and_links_and_reports_services_apart():
    recorded, services = parse_observation(CONVERGED)
    assert recorded == {
        "file /etc/default/mesos-master": "1111",
        "file /etc/systemd/system/mesos-master.service": "2222",
        "file /etc/zookeeper/conf/zoo.cfg": "3333",
        "link /opt/mesos": "/opt/mesos-1.12.0",
    }
    assert services == {"mesos-master": "active", "zookeeper": "active"}


def test_an_unchanged_host_has_not_drifted():
    recorded, _ = parse_observation(CONVERGED)
    assert not compare("m1", CONVERGED, recorded).drifted


def test_each_difference_is_named():
    recorded, _ = parse_observation(CONVERGED)
    now = (
        CONVERGED.replace("3333", "9999")
        .replace("file /etc/default/mesos-master 1111", "file /etc/default/mesos-master missing")
        .replace("/opt/mesos-1.12.0", "/opt/mesos-1.11.0")
        .replace("service zookeeper active", "service zookeeper inactive")
        .replace("enabled mesos-master yes", "enabled mesos-master no")
    )
    drift = compare("m1", now, recorded)
    assert drift.changes == [
        "/etc/default/mesos-master is missing",
        "/etc/zookeeper/conf/zoo.cfg changed",
        "/opt/mesos changed",
        "service mesos-master is active, disabled",
        "service zookeeper is inactive",
    ]


def test_a_host_without_a_record_or_manifest_is_converged():
    assert compare("m1", CONVERGED, None).changes == ["no record of its last converge"]
    recorded, _ = parse_observation(CONVERGED)
    gone = compare("m1", "- manifest - missing\n", recorded)
    assert "- newly managed" in gone.changes
    assert "/etc/zookeeper/conf/zoo.cfg no longer managed" in gone.changes


def test_the_script_observes_files_links_and_services(tmp_path):
    """Run the real script (as on a host) against a manifest directory of our own."""
    manifest = tmp_path / "manifest.d"
    manifest.mkdir()
    conf = tmp_path / "zoo.cfg"
    conf.write_text("tickTime=2000\n")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    (manifest / "zookeeper").write_text(
        f"file {conf}\nfile {tmp_path / 'absent'}\nlink {tmp_path / 'link'}\n"
    )
    out = subprocess.run(
        ["sh", "-s", str(manifest)], input=OBSERVE_SCRIPT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert all(line.startswith("zookeeper ") for line in out.stdout.splitlines()), out.stdout
    recorded, _ = parse_observation(out.stdout)
    import hashlib

    assert recorded == {
        f"file {conf}": hashlib.sha256(b"tickTime=2000\n").hexdigest(),
        f"file {tmp_path / 'absent'}": "missing",
        f"link {tmp_path / 'link'}": str(tmp_path / "target"),
    }


def test_an_untrusted_host_stops_the_check_and_a_down_host_is_left_out(tmp_path, monkeypatch):
    """Unknown host key: `up` must refuse (no silent trust); a host that is down is skipped."""
    import dataclasses

    import pytest

    from provisioner import drift
    from provisioner.errors import HostTrustError

    from .fake_ssh_server import machine_on_fake_server

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/known_hosts knows the fake host
    with machine_on_fake_server(tmp_path, "metal-1", strict_host_keys=True) as (_, _, known):
        down = dataclasses.replace(known, name="metal-2", address="127.0.0.2", ssh_port=1)
        with pytest.raises(HostTrustError) as refused:
            drift.check_drift([known, down], {}, known_hosts=str(tmp_path / "known_hosts"))
        assert refused.value.message.startswith("Host key verification failed")
        assert "metal-1" in refused.value.message and "metal-2" not in refused.value.message
        [skipped] = drift.check_drift([down], {}, known_hosts=str(tmp_path / "known_hosts"))
        assert skipped.error and not skipped.drifted
