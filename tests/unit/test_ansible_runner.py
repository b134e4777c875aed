"""provisioner.ansible: result and error translation from recorded events, and real local runs."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.ansible import (
    HostStats,
    control_path_dir,
    error_for,
    hosts_in_play,
    private_dir,
    progress_event,
    result_from_events,
    run_playbook,
    runner_env,
    strategy_env,
)
from provisioner.errors import AnsibleError, StateError

LOG = Path("/state/logs/run.log")


def event(name: str, host: str | None = None, **data: Any) -> dict[str, Any]:
    """A runner event as ansible-runner hands it to event_handler (only the keys we read)."""
    event_data = {"play": "Play A", "task": data.pop("task", ""), **data}
    if host:
        event_data["host"] = host
    return {"event": name, "stdout": data.get("stdout_text", ""), "event_data": event_data}


def stats(**per_key: dict[str, int]) -> dict[str, Any]:
    processed = {h: 1 for counts in per_key.values() for h in counts}
    return event("playbook_on_stats", **per_key, processed=processed)


RECORDED = [
    event("playbook_on_play_start"),
    event("playbook_on_task_start", task="Write zoo.cfg"),
    event("runner_on_ok", "m1", task="Write zoo.cfg", res={"changed": True}),
    event("runner_on_ok", "m2", task="Write zoo.cfg", res={"changed": False}),
    event("playbook_on_task_start", task="Wait until ZooKeeper answers ruok with imok"),
    event(
        "runner_on_failed",
        "m2",
        task="Wait until ZooKeeper answers ruok with imok",
        res={"msg": "non-zero return code", "stderr": "bash: connect: Connection refused\n"},
    ),
    event(
        "runner_on_unreachable",
        "a1",
        task="Gathering Facts",
        res={"msg": "Failed to connect to the host via ssh: timed out"},
    ),
    event("runner_on_failed", "m1", task="Optional probe", ignore_errors=True, res={"msg": "meh"}),
    stats(
        ok={"m1": 5, "m2": 3},
        changed={"m1": 2},
        failures={"m2": 1},
        dark={"a1": 1},
        ignored={"m1": 1},
    ),
]


def test_recorded_events_become_stats_failures_and_play_hosts() -> None:
    result = result_from_events(RECORDED, playbook="site.yml", status="failed", rc=2, log_path=LOG)

    assert result.stats["m1"] == HostStats(ok=5, changed=2, ignored=1)
    assert result.stats["a1"].unreachable == 1
    assert result.changed_hosts() == ["m1"]
    assert result.failed_hosts() == ["a1", "m2"]
    assert not result.ok
    assert hosts_in_play(result) == {"m1", "m2", "a1"}
    assert hosts_in_play(result, "Play A") == {"m1", "m2", "a1"}
    assert hosts_in_play(result, "Another play") == set()
    # the ignored failure on m1 is not a failure
    assert [f.host for f in result.failures] == ["a1", "m2"]


def test_error_names_hosts_tasks_messages_and_log() -> None:
    result = result_from_events(RECORDED, playbook="site.yml", status="failed", rc=2, log_path=LOG)
    error = error_for(result)

    text = str(error)
    assert text.startswith("site.yml failed on 2 host(s):")
    assert (
        "m2 (failed) at task 'Wait until ZooKeeper answers ruok with imok': "
        "non-zero return code: bash: connect: Connection refused" in text
    )
    assert "a1 (unreachable) at task 'Gathering Facts': Failed to connect" in text
    assert "m1" not in text.split("\n", 1)[1].split("Full log")[0]
    assert text.endswith(f"Full log: {LOG}")
    assert error.log_path == str(LOG)
    assert set(error.failed_hosts) == {"a1", "m2"}
    assert error.hint


def test_identical_failures_share_one_line() -> None:
    events = [
        event("runner_on_failed", h, task="Refuse", res={"msg": "pass --limit"}) for h in ("b", "a")
    ] + [stats(failures={"a": 1, "b": 1})]
    text = str(
        error_for(
            result_from_events(events, playbook="scale.yml", status="failed", rc=2, log_path=LOG)
        )
    )
    assert "  a, b (failed) at task 'Refuse': pass --limit" in text
    assert text.count("Refuse") == 1


def test_rescued_failure_is_not_a_failed_run() -> None:
    events = [
        event("runner_on_failed", "m1", task="Try", res={"msg": "first attempt"}),
        event("runner_on_ok", "m1", task="Rescue", res={"changed": True}),
        stats(ok={"m1": 2}, changed={"m1": 1}, rescued={"m1": 1}),
    ]
    result = result_from_events(events, playbook="p.yml", status="successful", rc=0, log_path=LOG)
    assert result.ok
    assert result.failed_hosts() == []


def test_run_failing_before_any_task_reports_the_output_tail() -> None:
    events = [
        {"event": "verbose", "stdout": "ERROR! 'hostz' is not a valid attribute for a Play"},
        {"event": "verbose", "stdout": "The error appears to be in '/p/site.yml': line 2"},
    ]
    result = result_from_events(events, playbook="site.yml", status="failed", rc=4, log_path=LOG)
    text = str(error_for(result))
    assert "site.yml failed (status failed, rc 4) before any task failed:" in text
    assert "'hostz' is not a valid attribute" in text


def test_progress_events() -> None:
    kinds = [progress_event(e) for e in RECORDED]
    summary = [(k["event"], k["host"]) for k in kinds if k is not None]
    assert summary == [
        ("play_start", None),
        ("task_start", None),
        ("host_changed", "m1"),
        ("host_ok", "m2"),
        ("task_start", None),
        ("host_failed", "m2"),
        ("host_unreachable", "a1"),
        ("host_ok", "m1"),  # ignore_errors
        ("stats", None),
    ]
    failed = progress_event(RECORDED[5])
    assert failed is not None and "Connection refused" in failed["msg"]
    assert progress_event({"event": "runner_on_start", "event_data": {}}) is None
    retry = progress_event(event("runner_retry", "m1", task="Wait", res={"retries": 7}))
    assert retry is not None and retry["event"] == "host_retry" and "7" in retry["msg"]


def test_control_path_dir_stays_short_enough_for_ssh(tmp_path: Path) -> None:
    assert control_path_dir(Path("/s/demo")) == Path("/s/demo/cp")
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 4)
    short = control_path_dir(deep)
    assert short != deep / "cp"
    assert len(str(short)) <= 64
    assert control_path_dir(deep) == short  # stable per cluster
    assert control_path_dir(deep / "other") != short


def test_control_sockets_go_only_to_a_private_directory_of_this_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: a predictable /tmp directory created by someone else (or left open) must not
    hold our SSH control sockets."""
    made = private_dir(tmp_path / "cp")
    assert made.is_dir() and made.stat().st_mode & 0o777 == 0o700
    assert private_dir(made) == made  # ours: accepted again
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    with pytest.raises(StateError, match=r"planted: refusing it .*mode 0777, others may enter"):
        private_dir(planted)
    link = tmp_path / "link"
    link.symlink_to(made)
    with pytest.raises(StateError, match="not a directory"):
        private_dir(link)
    monkeypatch.setattr(os, "getuid", lambda: 4242)  # as if another user had created it
    with pytest.raises(StateError, match=r"owned by uid \d+, not by this user \(4242\)"):
        private_dir(made)
    # Too long a state dir: the short fallback lives in the user's private runtime dir.
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 4)
    assert control_path_dir(deep).parent == Path("/run/user/1000")


def test_runner_env_puts_the_venv_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    env = runner_env(tmp_path)
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert env["ANSIBLE_CONFIG"].endswith("playbooks/ansible.cfg")
    assert Path(env["ANSIBLE_CONFIG"]).is_file()
    assert env["ANSIBLE_SSH_CONTROL_PATH_DIR"] == str(control_path_dir(tmp_path))
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert env["ANSIBLE_SSH_COMMON_ARGS"] == (
        "-o StrictHostKeyChecking=yes "
        f'-o "UserKnownHostsFile=~/.ssh/known_hosts {tmp_path.resolve()}/known_hosts"'
    )


def test_mitogen_is_the_strategy_unless_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DCOS_PROVISION_MITOGEN", raising=False)
    env = runner_env(tmp_path)
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    plugins = Path(env["ANSIBLE_STRATEGY_PLUGINS"])
    assert (plugins / "mitogen_linear.py").is_file()  # where Ansible will look it up
    assert strategy_env({"DCOS_PROVISION_MITOGEN": "1"}) == strategy_env({})
    monkeypatch.setenv("DCOS_PROVISION_MITOGEN", "0")
    assert "ANSIBLE_STRATEGY" not in runner_env(tmp_path)


# --------------------------------------------------------------------------- real local runs


def write_inventory(path: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


def local_host() -> dict[str, Any]:
    return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


PROBE = """
- name: Probe
  hosts: all
  gather_facts: false
  tasks:
    - name: Locate ansible-playbook
      ansible.builtin.command: which ansible-playbook
      register: probe_which
      changed_when: false
    - name: Record the environment
      ansible.builtin.copy:
        content: "{{ probe_which.stdout }}\\n{{ lookup('env', 'ANSIBLE_SSH_CONTROL_PATH_DIR') }}\\n"
        dest: "{{ probe_out }}/{{ inventory_hostname }}.txt"
        mode: "0644"
    - name: Fail on purpose
      ansible.builtin.fail:
        msg: the probe was told to fail
      when: probe_fail | default(false) | bool
"""


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """The cluster state dir; its SSH control dir lands in /tmp when tmp_path is too long."""
    path = tmp_path / "state"
    yield path
    shutil.rmtree(control_path_dir(path), ignore_errors=True)


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    playbook = tmp_path / "probe.yml"
    playbook.write_text(PROBE)
    return playbook


@pytest.mark.timeout(120)
def test_real_run_uses_the_venv_and_per_cluster_env(
    tmp_path: Path, probe: Path, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # the venv is not on PATH, as under systemd/cron
    inventory = write_inventory(tmp_path / "inv.yml", {"node-a": local_host()})
    seen: list[str] = []

    result = run_playbook(
        str(probe),
        inventory=inventory,
        state_dir=state,
        extravars={"probe_out": str(tmp_path)},
        on_event=lambda e: seen.append(e["event"]),
    )

    which, control_dir = (tmp_path / "node-a.txt").read_text().splitlines()
    assert which == str(Path(sys.executable).parent / "ansible-playbook")
    assert control_dir == str(control_path_dir(state))  # state/cp, or /tmp when that is too long
    assert result.status == "successful" and result.rc == 0
    assert result.stats["node-a"].changed == 1
    assert result.changed_hosts() == ["node-a"]
    assert "task_start" in seen and "host_changed" in seen and seen[-1] == "stats"
    assert result.log_path.parent == state / "logs"
    assert result.log_path.name.endswith("-probe.log")
    assert "TASK [Locate ansible-playbook]" in result.log_path.read_text()


@pytest.mark.timeout(120)
def test_real_failure_raises_naming_host_task_and_log(
    tmp_path: Path, probe: Path, state: Path
) -> None:
    inventory = write_inventory(tmp_path / "inv.yml", {"node-a": local_host()})
    with pytest.raises(AnsibleError) as caught:
        run_playbook(
            str(probe),
            inventory=inventory,
            state_dir=state,
            extravars={"probe_out": str(tmp_path), "probe_fail": True},
        )
    error = caught.value
    assert "node-a (failed) at task 'Fail on purpose': the probe was told to fail" in str(error)
    assert error.log_path is not None and Path(error.log_path).is_file()
    assert "Fail on purpose" in Path(error.log_path).read_text()


@pytest.mark.timeout(120)
def test_a_run_does_not_inherit_the_previous_runs_settings(
    tmp_path: Path, probe: Path, state: Path
) -> None:
    """ansible-runner keeps env/extravars and env/cmdline in its private dir and reads them
    back on the next run: a failing or --check run must not leak into the next one."""
    inventory = write_inventory(tmp_path / "inv.yml", {"node-a": local_host()})
    checked = run_playbook(
        str(probe),
        inventory=inventory,
        state_dir=state,
        check=True,
        extravars={"probe_out": str(tmp_path)},
    )
    assert checked.changed_hosts() == ["node-a"]
    assert not (tmp_path / "node-a.txt").exists()  # --check wrote nothing
    with pytest.raises(AnsibleError):
        run_playbook(
            str(probe),
            inventory=inventory,
            state_dir=state,
            extravars={"probe_out": str(tmp_path), "probe_fail": True},
        )

    result = run_playbook(
        str(probe), inventory=inventory, state_dir=state, extravars={"probe_out": str(tmp_path)}
    )
    assert result.ok
    assert (tmp_path / "node-a.txt").exists()  # neither --check nor probe_fail carried over


@pytest.mark.timeout(120)
def test_real_unreachable_host_is_named(tmp_path: Path, probe: Path, state: Path) -> None:
    unreachable = {
        "ansible_host": "127.0.0.1",
        "ansible_port": 1,
        "ansible_user": "nobody",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o ConnectTimeout=3",
    }
    inventory = write_inventory(
        tmp_path / "inv.yml", {"node-a": local_host(), "node-down": unreachable}
    )
    with pytest.raises(AnsibleError) as caught:
        run_playbook(
            str(probe),
            inventory=inventory,
            state_dir=state,
            extravars={"probe_out": str(tmp_path)},
        )
    text = str(caught.value)
    assert "failed on 1 host(s)" in text
    assert "node-down (unreachable) at task 'Locate ansible-playbook'" in text
    assert "node-a" not in text


@pytest.mark.timeout(120)
def test_limit_restricts_the_hosts_a_play_touches(tmp_path: Path, probe: Path, state: Path) -> None:
    inventory = write_inventory(
        tmp_path / "inv.yml", {"node-a": local_host(), "node-b": local_host()}
    )
    result = run_playbook(
        str(probe),
        inventory=inventory,
        state_dir=state,
        limit=["node-b"],
        extravars={"probe_out": str(tmp_path)},
    )
    assert hosts_in_play(result, "Probe") == {"node-b"}
    assert set(result.stats) == {"node-b"}
    assert not (tmp_path / "node-a.txt").exists()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("playbook", "group", "variables"),
    [
        ("firewall.yml", "mesos_agents", {"common_firewall_enabled": True}),
        ("monitoring_targets.yml", "mesos_masters", {}),
    ],
)
def test_a_host_that_does_not_answer_is_left_out_of_a_membership_update(
    tmp_path: Path, state: Path, playbook: str, group: str, variables: dict[str, Any]
) -> None:
    """firewall.yml (before scale.yml, after a removal) and monitoring_targets.yml go on
    without a dead host: the run succeeds and names it as left out (`up` then forgets what it
    recorded there); the health checks report the host."""
    dead = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "nobody"}
    inventory = {"all": {"children": {group: {"hosts": {"h1": {**dead, **variables}}}}}}
    (tmp_path / "inv.yml").write_text(yaml.safe_dump(inventory))
    events: list[dict[str, Any]] = []
    result = run_playbook(
        playbook, inventory=tmp_path / "inv.yml", state_dir=state, on_event=events.append
    )
    assert result.ok
    assert result.left_out == ["h1"]
    assert [e["host"] for e in events if e["event"] == "host_unreachable"] == ["h1"]
