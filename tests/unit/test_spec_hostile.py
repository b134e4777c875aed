"""Hostile spec files (issue #12): exit 2 fast, one short message, no traceback, no secret.

The nasty files are built here; the big ones are generated at test time, never committed.
Timing bounds are deliberately generous: 2 s of this process's CPU time (so other jobs on a
shared 2-core machine do not make them flaky) and 30 s of wall time (hangs); benchmarks
measure performance, these only catch "minutes" and "never returns".
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provisioner.cli import app
from provisioner.errors import SpecError
from provisioner.spec.file import load_spec, parse_spec
from provisioner.spec.yaml_loader import MAX_SPEC_BYTES

runner = CliRunner()
HEAD = "name: x\nprovider: {kind: vagrant}\n"
SECRET = "20251126"


def laughs(levels: int, indent: str = "") -> str:
    """Billion laughs: each level a list of nine aliases of the level before."""
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"{indent}l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "deep flow nesting": HEAD + "agents: " + "[" * 50_000 + "]" * 50_000 + "\n",
    "deep block nesting": HEAD
    + "agents:\n"
    + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(1_000)),
    "deep nesting inside a list field": HEAD
    + "mesos: {install: {runtime_packages: "
    + "[" * 900
    + "]" * 900
    + "}}\n",
    "alias bomb in an unknown key": HEAD + "bomb:\n" + laughs(9, "  "),
    "alias bomb in a list field": HEAD
    + "x-defs:\n"
    + laughs(8, "  ")
    + "mesos: {install: {runtime_packages: *l8}}\n",
    "alias bomb through merge keys": HEAD
    + "x-a: &a {k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7, k8: 8}\n"
    + "".join(
        f"x-{chr(98 + i)}: &{chr(98 + i)} {{<<: [{', '.join([f'*{chr(97 + i)}'] * 9)}]}}\n"
        for i in range(8)
    )
    + "agents: {<<: *i}\n",
    "recursive alias": HEAD + "x: &a [*a]\n",
    "recursive alias in a list field": HEAD + "mesos: {install: {runtime_packages: &a [*a]}}\n",
    "unhashable key": HEAD + "? [a, b]\n: 1\n",
    "mapping as a key": HEAD + "agents: {? {a: 1} : 2}\n",
    "5000-digit integer": HEAD + "masters: {count: " + "7" * 5000 + "}\n",
    "5000-digit integer in a name": "name: " + "1" * 5000 + "\nprovider: {kind: vagrant}\n",
    "long sexagesimal integer": HEAD + "agents: {count: " + "1" + ":10" * 3000 + "}\n",
    "impossible date as version": HEAD + "mesos: {version: 2024-13-01}\n",
    "timestamp tag": HEAD + "mesos: {version: !!timestamp 2024-02-30}\n",
    "python tag": HEAD + "agents: !!python/object/apply:os.system [true]\n",
    "huge name": "name: " + "a" * 900_000 + "\nprovider: {kind: vagrant}\n",
    "huge list of bad packages": HEAD
    + "mesos:\n  install:\n    runtime_packages:\n"
    + "    - 'bad package'\n" * 40_000,
    "many bad hosts": "name: x\nprovider:\n  kind: static\n  hosts:\n"
    + "  - {name: 'BAD HOST', address: 0.0.0.0, roles: [master]}\n" * 3_000,
    "NUL byte": HEAD + "agents: {count: 1}\x00\n",
    "numeric password": HEAD + f"ssh: {{password: {SECRET}}}\n",
    "list password": HEAD + f"ssh: {{password: [{SECRET}, {SECRET}]}}\n",
    "mapping password": HEAD + f"ssh: {{password: {{p: {SECRET}}}}}\n",
}


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class Stopwatch:
    """CPU seconds of this process, and wall seconds, since creation."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.monotonic()

    def seconds(self) -> float:
        assert time.monotonic() - self.wall < 30.0, "took more than 30 s of wall time"
        return time.process_time() - self.cpu


def validate(path: Path | str, *args: str) -> tuple[int, str, str, float]:
    watch = Stopwatch()
    result = runner.invoke(app, ["validate", str(path), *args])
    return result.exit_code, result.stdout, result.stderr, watch.seconds()


def assert_refused_cleanly(code: int, out: str, err: str, seconds: float) -> None:
    assert code == 2, err
    assert seconds < 2.0, f"took {seconds:.1f} s of CPU time"
    assert 0 < len(err) < 2_000, err[:3000]
    assert "Traceback" not in err + out
    assert "internal error" not in err
    assert SECRET not in err + out


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_spec_is_refused_fast_with_one_short_message(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, HOSTILE[name])
    assert_refused_cleanly(*validate(path))
    code, out, err, seconds = validate(path, "--json")
    assert_refused_cleanly(code, out, err, seconds)
    assert json.loads(out)["valid"] is False
    assert len(out) < 4_000  # the same problems, JSON-quoted


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_spec_through_any_command_is_exit_2(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, HOSTILE[name])
    watch = Stopwatch()
    result = runner.invoke(app, ["plan", str(path), "--json"])
    assert_refused_cleanly(result.exit_code, result.stdout, result.stderr, watch.seconds())


def test_alias_bomb_message_names_the_line_and_the_cause() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(HOSTILE["alias bomb in an unknown key"], "c.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("c.yaml:")
    assert "alias" in problem


def test_deep_block_nesting_is_refused_by_depth_not_size() -> None:
    text = HOSTILE["deep block nesting"]
    assert len(text) < MAX_SPEC_BYTES
    with pytest.raises(SpecError, match=r"c\.yaml:\d+ .*nested more than 50 levels deep"):
        parse_spec(text, "c.yaml")


def test_a_nul_byte_is_one_line() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(HOSTILE["NUL byte"], "c.yaml")
    (problem,) = info.value.problems
    assert "\n" not in problem and "unacceptable character #x0000" in problem


def test_recursive_alias_is_named() -> None:
    with pytest.raises(SpecError, match="refers to the value that contains it"):
        parse_spec(HOSTILE["recursive alias"], "c.yaml")


def test_unhashable_key_says_what_a_key_must_be() -> None:
    with pytest.raises(SpecError, match=r"c\.yaml:3 .*a key must be a plain value"):
        parse_spec(HOSTILE["unhashable key"], "c.yaml")


def test_dates_are_text_so_a_date_like_name_is_just_a_name() -> None:
    assert parse_spec("name: 2024-02-30\nprovider: {kind: vagrant}\n").name == "2024-02-30"
    assert parse_spec("name: 2024-02-28\nprovider: {kind: vagrant}\n").name == "2024-02-28"
    with pytest.raises(
        SpecError, match=r"mesos\.version: must look like 1\.11\.0: got '2024-13-01'"
    ):
        parse_spec(HOSTILE["impossible date as version"], "c.yaml")


def test_a_value_echoed_in_an_error_is_cut_short() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(HOSTILE["huge name"], "c.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("c.yaml:1 name: must be a DNS label")
    assert "(900000 characters)" in problem
    assert len(problem) < 300


def test_many_problems_are_counted_not_all_printed() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(HOSTILE["many bad hosts"], "c.yaml")
    problems = info.value.problems
    assert info.value.total == 6_000  # a bad name and a bad address on each of 3000 hosts
    assert str(info.value).startswith("c.yaml: 6000 problem(s) in the cluster spec\n")
    assert problems[0].startswith("c.yaml:5 provider.hosts[0].name: must be a DNS label")
    assert problems[-1].startswith("... and ") and problems[-1].endswith("more problem(s)")
    assert sum(len(p) for p in problems) < 2_000


@pytest.mark.parametrize("name", ["numeric password", "list password", "mapping password"])
def test_a_bad_password_is_reported_without_its_value(tmp_path: Path, name: str) -> None:
    code, out, err, _ = validate(write(tmp_path, HOSTILE[name]), "--json")
    assert code == 2
    assert "ssh.password" in err
    assert "secret and not shown" in err
    assert SECRET not in out + err


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    code, out, err, seconds = validate(fifo)
    assert_refused_cleanly(code, out, err, seconds)
    assert "is a FIFO (named pipe), not a regular file" in err


def test_character_device_is_refused_without_reading_it() -> None:
    code, out, err, seconds = validate("/dev/zero")
    assert_refused_cleanly(code, out, err, seconds)
    assert "/dev/zero: is a character device, not a regular file" in err


def test_a_12_mb_spec_is_refused_by_size_before_parsing(tmp_path: Path) -> None:
    big = write(tmp_path, HEAD + "agents:\n  attributes:\n" + "    k: v\n" * 1_500_000)
    assert big.stat().st_size > 12_000_000
    code, out, err, seconds = validate(big)
    assert_refused_cleanly(code, out, err, seconds)
    assert "too big for a cluster spec" in err and "the limit is 1024 KiB" in err


def test_text_over_the_cap_is_refused_by_parse_spec_too() -> None:
    with pytest.raises(SpecError, match="too big"):
        parse_spec(HEAD + "#" * MAX_SPEC_BYTES)


def test_a_spec_just_under_the_cap_loads_quickly(tmp_path: Path) -> None:
    lines = "".join(f"    - pkg{i}\n" for i in range(70_000))
    path = write(tmp_path, HEAD + "mesos:\n  install:\n    runtime_packages:\n" + lines)
    assert MAX_SPEC_BYTES * 0.8 < path.stat().st_size <= MAX_SPEC_BYTES
    watch = Stopwatch()
    spec = load_spec(path)
    assert watch.seconds() < 2.0
    assert len(spec.mesos.install.runtime_packages) == 70_000


def test_merge_keys_share_machine_sizes(tmp_path: Path) -> None:
    text = (
        HEAD
        + "x-size: &size {cpus: 2, memory_mb: 2048}\n"
        + "masters: {<<: *size, count: 3}\n"
        + "agents: {<<: [*size, {count: 4}], cpus: 3}\n"
        + "zookeeper: {<<: {placement: dedicated}, count: 3}\n"
    )
    spec = parse_spec(text)
    assert (spec.masters.count, spec.masters.cpus, spec.masters.memory_mb) == (3, 2, 2048)
    assert (spec.agents.count, spec.agents.cpus, spec.agents.memory_mb) == (4, 3, 2048)
    assert spec.zookeeper.placement == "dedicated"


def test_an_error_in_a_merged_value_points_at_a_line(tmp_path: Path) -> None:
    text = HEAD + "x-size: &size {cpus: 0}\nagents: {<<: *size}\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, "c.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("c.yaml:3 agents.cpus: Input should be greater than or equal to 1")


def test_a_duplicate_key_is_still_refused_but_may_override_a_merged_one() -> None:
    with pytest.raises(SpecError, match=r"c\.yaml:5 YAML syntax error: duplicate key 'cpus'"):
        parse_spec(HEAD + "agents:\n  cpus: 2\n  cpus: 3\n", "c.yaml")
    assert parse_spec(HEAD + "agents: {<<: {cpus: 2}, cpus: 3}\n").agents.cpus == 3


def test_crlf_and_a_bom_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: x\r\nprovider: {kind: vagrant}\r\nagents: {count: 2}\r\n")
    assert load_spec(path).agents.count == 2
    path.write_bytes(b"\xef\xbb\xbfname: x\r\nprovider: {kind: vagrant}\r\nagents: {count: -1}\r\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.problems[0].startswith(f"{path}:3 agents.count:")


def test_unknown_key_names_are_shown_escaped() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(HEAD + 'agents: {"a\\nb\\u001b[2J": 1}\n', "c.yaml")
    (problem,) = info.value.problems
    assert "\n" not in problem and "\x1b" not in problem
    assert "agents.'a\\nb\\x1b[2J': unknown key" in problem
