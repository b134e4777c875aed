"""benchmarks/bench.py reads a run against the speed goals: value, target and how far off."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_goals_say_how_far_each_is_and_which_were_not_measured() -> None:
    bench = load_bench()
    times = {
        "up 1+1 to healthy": 60.0,
        "up 3+5 to healthy": 90.0,
        "status (1+1)": 1.25,
        "no-op up (1+1)": 2.0,
    }
    goals = {g["goal"]: g for g in bench.goal_rows(times)}
    assert goals["up 1+1 to verified"] == {
        "goal": "up 1+1 to verified", "value": 60.0, "target": 45.0, "unit": "s",
        "met": False, "over": 15.0, "over_percent": 33,
    }  # fmt: skip
    ratio = goals["up 3+5 / up 1+1"]
    assert (ratio["value"], ratio["met"], ratio["over"]) == (1.5, True, 0.0)
    assert (goals["status (1+1)"]["over"], goals["status (1+1)"]["over_percent"]) == (0.25, 25)
    assert goals["no-op up (1+1)"]["met"] is True
    # not run (e.g. --quick): listed, not measured, never counted as met
    for missing in ("README's main job (3+2)", "+1 agent at N=5 / at N=1", "status (3+5)"):
        assert (goals[missing]["value"], goals[missing]["met"]) == (None, None)
    table = bench.goals_table(bench.goal_rows(times))
    assert "15.0s over (33% above)" in table
    assert "not measured" in table.splitlines()[2]  # the README's main job, second goal
    # the targets
    targets = {g["goal"]: g["target"] for g in goals.values()}
    assert targets["README's main job (3+2)"] == 75.0
    assert targets["+1 agent at N=5 / at N=1"] == 1.3
    assert targets["no-op up (3+5)"] == 4.0


def test_readme_job_is_the_local_example_under_its_own_name() -> None:
    bench = load_bench()
    text = bench.readme_spec_text("bench-readme")
    assert "\nname: bench-readme\n" in text and "\nname: local\n" not in text
    assert f"path: {bench.TARBALL}" in text
    assert "masters: {count: 3" in text and "count: 2" in text
