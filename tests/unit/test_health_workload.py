"""The workload layer against a local server speaking the v1 scheduler API (RecordIO stream)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioner.health.workload import TASK_USER, WorkloadError, check_workload, run_task

from .fake_scheduler import STREAM_ID, FakeScheduler, Scenario, offer


@pytest.fixture
def scheduler(request) -> Iterator[FakeScheduler]:
    fake = FakeScheduler(getattr(request, "param", Scenario()))
    yield fake
    fake.stop()


def test_a_task_runs_to_finished_and_the_framework_is_torn_down(scheduler):
    scheduler.scenario.offers = [
        offer("o-small", "demo-agent-1", cpus=0.05, mem=16),
        offer("o-fits", "demo-agent-2", cpus=1, mem=512),
    ]

    outcome = run_task("10.0.3.11", scheduler.opener, timeout_s=10)

    assert outcome.agent == "demo-agent-2"
    assert outcome.states == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    types = scheduler.call_types()
    assert types[:2] == ["ACCEPT", "DECLINE"]
    assert types.count("ACKNOWLEDGE") == 3 and types[-1] == "TEARDOWN"
    accept = scheduler.calls[0]
    assert accept["framework_id"] == {"value": "fw-1"}
    assert accept["accept"]["offer_ids"] == [{"value": "o-fits"}]
    task = accept["accept"]["operations"][0]["launch"]["task_infos"][0]
    assert task["command"]["user"] == TASK_USER
    assert {r["name"]: r["scalar"]["value"] for r in task["resources"]} == {
        "cpus": 0.1,
        "mem": 32.0,
    }
    assert scheduler.calls[1]["decline"]["offer_ids"] == [{"value": "o-small"}]
    assert all(h.get("Mesos-Stream-Id") == STREAM_ID for h in scheduler.call_headers)


def test_a_failed_task_names_the_agent_state_and_message(scheduler):
    scheduler.scenario.offers = [offer("o-1", "demo-agent-1", cpus=1, mem=512)]
    scheduler.scenario.states = [
        ("TASK_STARTING", ""),
        ("TASK_FAILED", "Failed to launch container: user 'nobody' not found"),
    ]

    [check] = check_workload("10.0.3.11", scheduler.opener, standin=False, timeout_s=10)

    assert not check.ok and check.layer == "workload"
    assert check.detail == (
        "the task ended on agent demo-agent-1: last state TASK_FAILED "
        "(Failed to launch container: user 'nobody' not found)"
    )
    assert scheduler.call_types()[-1] == "TEARDOWN"


def test_no_offer_within_the_budget_says_no_agent_has_room(scheduler):
    with pytest.raises(WorkloadError, match=r"no offer with 0.1 cpus and 32 MB within 1s"):
        run_task("10.0.3.11", scheduler.opener, timeout_s=1)


@pytest.mark.parametrize("scheduler", [Scenario(subscribe_status=403)], indirect=True)
def test_a_refused_subscription_is_reported_with_the_masters_answer(scheduler):
    [check] = check_workload("10.0.3.11", scheduler.opener, standin=False, timeout_s=5)

    assert not check.ok
    assert check.detail == "SUBSCRIBE to 10.0.3.11:5050 answered 403: Framework is not authorized"


def test_the_stand_in_never_passes_and_is_not_contacted(scheduler):
    [check] = check_workload("10.0.3.11", scheduler.opener, standin=True)

    assert not check.ok
    assert "not available" in check.detail and "stand-in" in check.detail
    assert scheduler.calls == []


def test_success_reports_seconds(scheduler):
    scheduler.scenario.offers = [offer("o-1", "demo-agent-1", cpus=1, mem=512)]

    [check] = check_workload(
        "10.0.3.11", scheduler.opener, standin=False, agent_name=lambda h: f"machine:{h}"
    )

    assert check.ok and check.host == "machine:demo-agent-1"
    assert check.seconds is not None and 0 <= check.seconds < 10
    assert check.to_dict()["seconds"] == check.seconds
