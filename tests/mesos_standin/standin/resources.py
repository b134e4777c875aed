"""Agent `--resources` and `--attributes`: parsing (text or JSON) and the JSON the endpoints show.

Follows src/common/resources.cpp, attributes.cpp and values.cpp closely enough that a value the
real agent rejects is rejected here too, and the rendered state looks the same.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

_NUMBER = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


class ParseError(ValueError):
    """A resources or attributes value Mesos would refuse."""


def _brackets_match(text: str) -> bool:
    for opening, closing in ("[]", "{}", "()"):
        depth = 0
        for char in text:
            depth += char == opening
            depth -= char == closing
            if depth < 0:
                return False
        if depth:
            return False
    return True


def parse_value(text: str) -> dict[str, Any]:
    """stout/values.cpp parse: `[a-b,...]` RANGES, `{a,b}` SET, a number SCALAR, else TEXT."""
    compact = text.replace(" ", "").strip()
    if not compact:
        raise ParseError("Expecting non-empty string")
    if not _brackets_match(compact):
        raise ParseError("Mismatched brackets")
    if compact.startswith("["):
        tokens = [t for t in re.split(r"[\[\]\-,\n]", compact) if t]
        if len(tokens) % 2:
            raise ParseError('Expecting one or more "ranges"')
        ranges = []
        for begin, end in zip(tokens[::2], tokens[1::2], strict=True):
            if not begin.isdigit() or not end.isdigit():
                bad = begin if not begin.isdigit() else end
                raise ParseError(f"Expecting non-negative integers in '{bad}'")
            ranges.append((int(begin), int(end)))
        return {"type": "RANGES", "ranges": _coalesce(ranges)}
    if "[" in compact:
        raise ParseError("Unexpected '[' found")
    if compact.startswith("{"):
        items = [t for t in re.split(r"[{},\n]", compact) if t]
        return {"type": "SET", "set": sorted(set(items))}
    if "{" in compact:
        raise ParseError("Unexpected '{' found")
    if _NUMBER.match(compact):
        return {"type": "SCALAR", "scalar": float(compact)}
    return {"type": "TEXT", "text": compact}


def _coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for begin, end in sorted((min(b, e), max(b, e)) for b, e in ranges):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def render_value(value: dict[str, Any]) -> Any:
    """The summary form used in state JSON: a double, "[a-b, c-d]", "{a, b}" or text."""
    if value["type"] == "SCALAR":
        return float(value["scalar"])
    if value["type"] == "RANGES":
        return "[" + ", ".join(f"{b}-{e}" for b, e in value["ranges"]) + "]"
    if value["type"] == "SET":
        return "{" + ", ".join(value["set"]) + "}"
    return value["text"]


def _add(total: dict[str, dict[str, Any]], name: str, value: dict[str, Any]) -> None:
    if value["type"] == "TEXT":
        raise ParseError(f"Bad type for resource {name} value {value['text']} type TEXT")
    if value["type"] == "SCALAR" and value["scalar"] < 0:
        raise ParseError(f"Invalid scalar resource {name}: negative value {value['scalar']}")
    if name not in total:
        total[name] = value
        return
    current = total[name]
    if current["type"] != value["type"]:
        raise ParseError(f"Resource '{name}' given with two different types")
    if value["type"] == "SCALAR":
        current["scalar"] += value["scalar"]
    elif value["type"] == "RANGES":
        current["ranges"] = _coalesce(current["ranges"] + value["ranges"])
    else:
        current["set"] = sorted(set(current["set"]) | set(value["set"]))


def _from_json(items: list[Any]) -> dict[str, dict[str, Any]]:
    total: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict) or "name" not in item or "type" not in item:
            raise ParseError(f"Invalid resource JSON (needs 'name' and 'type'): {item}")
        kind = item["type"]
        try:
            if kind == "SCALAR":
                value: dict[str, Any] = {"type": kind, "scalar": float(item["scalar"]["value"])}
            elif kind == "RANGES":
                pairs = [(int(r["begin"]), int(r["end"])) for r in item["ranges"]["range"]]
                value = {"type": kind, "ranges": _coalesce(pairs)}
            elif kind == "SET":
                value = {"type": kind, "set": sorted(str(i) for i in item["set"]["item"])}
            else:
                raise ParseError(f"Unsupported resource type '{kind}' for {item['name']}")
        except (KeyError, TypeError, ValueError) as err:
            raise ParseError(f"Invalid value for resource {item['name']}: {err}") from err
        _add(total, str(item["name"]), value)
    return total


def parse_resources(text: str) -> dict[str, dict[str, Any]]:
    """`--resources`: a JSON array if it parses as one, otherwise `name(role):value;...`."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, list):
        return _from_json(document)
    total: dict[str, dict[str, Any]] = {}
    for token in (t for t in text.split(";") if t.strip()):
        pair = [part for part in token.split(":") if part]
        if len(pair) != 2:
            raise ParseError(f"Bad value for resources, missing or extra ':' in {token}")
        name = pair[0].strip()
        if "(" in name:
            close = name.find(")")
            if close < name.find("("):
                raise ParseError(f"Bad value for resources, mismatched parentheses in {token}")
            name = name[: name.find("(")].strip()
        try:
            value = parse_value(pair[1])
        except ParseError as err:
            raise ParseError(
                f"Failed to parse resource {name} value {pair[1].strip()} error {err}"
            ) from err
        _add(total, name, value)
    return total


def detect_resources(work_dir: str) -> dict[str, dict[str, Any]]:
    """What the agent offers when `--resources` leaves a resource out (containerizer.cpp)."""
    mem_mb = 1024.0
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    mem_mb = int(line.split()[1]) / 1024.0
    except OSError:
        pass
    mem_mb = mem_mb - 1024 if mem_mb >= 2048 else mem_mb / 2
    try:
        stat = os.statvfs(work_dir)
        disk_mb = stat.f_blocks * stat.f_frsize / 1024.0 / 1024.0
    except OSError:
        disk_mb = 10240.0
    disk_mb = disk_mb - 5120 if disk_mb >= 10240 else disk_mb / 2
    return {
        "cpus": {"type": "SCALAR", "scalar": float(os.cpu_count() or 1)},
        "mem": {"type": "SCALAR", "scalar": float(int(mem_mb))},
        "disk": {"type": "SCALAR", "scalar": float(int(disk_mb))},
        "ports": {"type": "RANGES", "ranges": [(31000, 32000)]},
    }


def agent_resources(flag: str | None, work_dir: str) -> dict[str, dict[str, Any]]:
    """`--resources` completed with auto-detected cpus, mem, disk and ports, like Mesos."""
    given = parse_resources(flag) if flag else {}
    for name, value in detect_resources(work_dir).items():
        given.setdefault(name, value)
    return given


def summary(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Resources as the endpoints show them: always cpus, gpus, mem and disk."""
    shown: dict[str, Any] = {"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0}
    for name, value in resources.items():
        shown[name] = render_value(value)
    return shown


def empty_summary() -> dict[str, Any]:
    return {"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0}


def parse_attributes(text: str | None) -> dict[str, Any]:
    """`--attributes`: `key:value` pairs split on `;` or newline, rendered as state shows them."""
    attributes: dict[str, Any] = {}
    for token in (t for t in re.split(r"[;\n]", text or "") if t):
        if ":" not in token:
            raise ParseError(f"Invalid attribute key:value pair '{token}'")
        name, raw = token.split(":", 1)
        try:
            value = parse_value(raw)
        except ParseError as err:
            raise ParseError(f"Failed to parse attribute '{name}' value '{raw}': {err}") from err
        if value["type"] == "SET":
            raise ParseError(f"Bad type for attribute {name} value {raw} type SET")
        attributes[name] = render_value(value)
    return attributes
