"""Load a cluster spec from YAML and report every problem at once as `file:line field: message`."""

from __future__ import annotations

import os
import re
import stat
from functools import cache
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..errors import SpecError
from ..fileutil import atomic_write
from .model import ClusterSpec
from .yaml_loader import MAX_SPEC_BYTES, SpecLoader, compose, short_repr

#: Where a value sits in the spec: mapping keys and list indexes from the top.
KeyPath = tuple[str | int, ...]
_AT = re.compile(r"^@([^@]+)@ (.*)$", re.S)
_UNION_TAGS = {"vagrant", "static", "pulumi", "libvirt", "aws"}
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Bounds of one SpecError, so a hostile file still gets a short, readable answer.
_MAX_PROBLEMS = 25
_MAX_PROBLEM_CHARS = 240
_MAX_REPORT_CHARS = 1600


def _line_index(root: yaml.Node | None) -> dict[KeyPath, int]:
    """Map key paths in the YAML tree to their 1-based line.

    A node reached again through an alias is not walked again: the walk stays linear in the
    file, and errors below an alias point at the line of the alias's key.
    """
    index: dict[KeyPath, int] = {}
    walked: set[int] = set()
    stack: list[tuple[yaml.Node, KeyPath]] = [(root, ())] if root is not None else []
    while stack:
        node, path = stack.pop()
        index.setdefault(path, node.start_mark.line + 1)
        if id(node) in walked:
            continue
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                # explicit keys come after merged ones, so they win
                index[(*path, key_node.value)] = key_node.start_mark.line + 1
                stack.append((value_node, (*path, key_node.value)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))
    return index


def _parse_subpath(text: str) -> KeyPath:
    parts: list[str | int] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return tuple(parts)


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = str(part) if _PLAIN_KEY.fullmatch(str(part)) else short_repr(part, 40)
        out += f".{name}" if out else name
    return out or "(top level)"


def _clean_loc(loc: tuple) -> KeyPath:
    """Drop discriminator tags pydantic inserts (`provider.static.hosts` -> `provider.hosts`)."""
    cleaned: list[str | int] = []
    for i, part in enumerate(loc):
        prev = loc[i - 1] if i else None
        if isinstance(part, str) and part in _UNION_TAGS and prev in ("provider", "backend"):
            continue
        if isinstance(part, str) and part.startswith("function-"):
            continue
        cleaned.append(part)
    return tuple(cleaned)


@cache
def _secret_fields() -> frozenset[str]:
    """Names of the spec's secret fields (SecretStr: JSON Schema format `password`)."""
    schema = ClusterSpec.model_json_schema()
    found = set()
    for model in [schema, *schema.get("$defs", {}).values()]:
        for name, prop in model.get("properties", {}).items():
            if any(s.get("format") == "password" for s in [prop, *prop.get("anyOf", [])]):
                found.add(name)
    return frozenset(found)


def _message(error: ErrorDetails, secret: bool = False) -> str:
    """The message of one pydantic error; the input is echoed (shortened) unless secret."""
    kind = error["type"]
    msg = error["msg"]
    if kind == "extra_forbidden":
        return "unknown key (typo?); allowed keys are listed by `dcos-provision schema`"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return (
            f"unknown kind {short_repr(ctx.get('tag'))}: expected one of {ctx.get('expected_tags')}"
        )
    if kind == "union_tag_not_found":
        return f"missing the discriminator key: {error.get('ctx', {}).get('discriminator')}"
    msg = msg.removeprefix("Value error, ")
    if secret:
        return f"{msg} (the value is secret and not shown)"
    if "input" in error and kind not in ("missing",) and not isinstance(error["input"], dict):
        value = short_repr(error["input"])
        if value not in msg:
            msg = f"{msg}: got {value}"
    return msg


def _problems(exc: ValidationError, source: str, lines: dict) -> list[str]:
    """One line per problem; past what `_bounded` shows, only a placeholder per error."""
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        if len(problems) > _MAX_PROBLEMS:
            problems.append("")  # counted, never shown
            continue
        base = _clean_loc(tuple(error["loc"]))
        secret = any(part in _secret_fields() for part in base)
        text = _message(error, secret)
        # A model validator may report several problems, each pointing at a sub-field.
        for chunk in text.split("\n"):
            path, body = base, chunk
            match = _AT.match(chunk)
            if match:
                path, body = (*base, *_parse_subpath(match.group(1))), match.group(2)
            problems.append(_locate(source, lines, path, body))
    return problems


def _locate(source: str, lines: dict, path: KeyPath, message: str) -> str:
    probe = path
    while probe and probe not in lines:
        probe = probe[:-1]
    line = lines.get(probe)
    where = f"{source}:{line}" if line else source
    return f"{where} {format_path(path)}: {message}"


def _bounded(problems: list[str]) -> list[str]:
    """Every problem of a normal spec; a hostile one gets a readable head and a count."""
    kept: list[str] = []
    budget = _MAX_REPORT_CHARS
    for problem in problems:
        line = problem if len(problem) <= _MAX_PROBLEM_CHARS else problem[:_MAX_PROBLEM_CHARS] + "…"
        if len(kept) == _MAX_PROBLEMS or len(line) > budget:
            kept.append(f"... and {len(problems) - len(kept)} more problem(s)")
            break
        kept.append(line)
        budget -= len(line)
    return kept


def _spec_error(source: str, problems: list[str], hint: str | None = None) -> SpecError:
    return SpecError(source, _bounded(problems), hint=hint, total=len(problems))


def parse_spec(text: str, source: str = "<spec>", path: Path | None = None) -> ClusterSpec:
    """Validate YAML text; raise SpecError listing every problem (bounded for hostile input)."""
    if len(text) > MAX_SPEC_BYTES:
        raise _spec_error(source, [_too_big(source, len(text))])
    try:
        node, data = compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        detail = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise _spec_error(source, [f"{source}{line} YAML syntax error: {detail}"]) from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())  # one line, even for reader errors
        raise _spec_error(source, [f"{source} YAML error: {detail}"]) from None
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:  # a limit we missed
        raise _spec_error(
            source, [f"{source}: cannot read the YAML ({type(exc).__name__}); simplify the file"]
        ) from None
    if data is None:
        raise _spec_error(
            source, [f"{source}: the file is empty; a spec needs at least `name` and `provider`"]
        )
    if not isinstance(data, dict):
        raise _spec_error(
            source,
            [f"{source}:1 (top level): expected a mapping of keys, got {type(data).__name__}"],
        )
    base_dir = path.resolve().parent if path is not None else None
    try:
        spec = ClusterSpec.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise _spec_error(source, _problems(exc, source, _line_index(node))) from None
    if path is not None:
        spec._source = path.resolve()
    return spec


def _too_big(source: str, size: int) -> str:
    return (
        f"{source}: {size} bytes is too big for a cluster spec (a spec is a few KB; "
        f"the limit is {MAX_SPEC_BYTES // 1024} KiB)"
    )


def load_spec(path: Path | str) -> ClusterSpec:
    """Read and validate a spec file: only a regular file, at most MAX_SPEC_BYTES.

    FIFOs, devices and sockets are refused before anything is read (they could block or
    never end); the file is opened non-blocking and checked again on the open descriptor.
    """
    path = Path(path)
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SpecError(
            source,
            [f"{source}: no such file"],
            hint="pass the path of a cluster spec, e.g. examples/local.yaml",
        ) from None
    except IsADirectoryError:
        raise SpecError(source, [f"{source}: is a directory, not a spec file"]) from None
    except OSError as exc:
        raise SpecError(source, [f"{source}: cannot read: {exc.strerror or exc}"]) from None
    try:
        problem, hint = _not_a_spec_file(source, os.fstat(fd))
        if problem:
            raise SpecError(source, [problem], hint=hint)
        raw = b""
        while len(raw) <= MAX_SPEC_BYTES:
            chunk = os.read(fd, MAX_SPEC_BYTES + 1 - len(raw))
            if not chunk:
                break
            raw += chunk
    except OSError as exc:
        raise SpecError(source, [f"{source}: cannot read: {exc.strerror or exc}"]) from None
    finally:
        os.close(fd)
    if len(raw) > MAX_SPEC_BYTES:  # grew after fstat
        raise SpecError(source, [_too_big(source, len(raw))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            source, [f"{source}: cannot read: not UTF-8 text (byte {exc.start} is invalid)"]
        ) from None
    return parse_spec(text, source, path)


def _not_a_spec_file(source: str, info: os.stat_result) -> tuple[str | None, str | None]:
    """(problem, hint) when the opened file is not a regular file of a sensible size."""
    if stat.S_ISDIR(info.st_mode):
        return f"{source}: is a directory, not a spec file", None
    if not stat.S_ISREG(info.st_mode):
        return (
            f"{source}: is {_file_kind(info.st_mode)}, not a regular file",
            "pass the path of a spec file (pipes and devices are not read)",
        )
    if info.st_size > MAX_SPEC_BYTES:
        return _too_big(source, info.st_size), None
    return None, None


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO (named pipe)",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((kind for test, kind in kinds.items() if test(mode)), "not a regular file")


def set_agent_count(path: Path, count: int) -> bool:
    """Rewrite `agents.count` in the spec file in place (comments kept); False if unchanged.

    `scale` keeps the file the single source of truth, so a later `up` does not undo it.
    """
    text = path.read_text(encoding="utf-8")
    root, _data = compose(text, SpecLoader)  # exact character offsets for the edit below
    agents = _mapping_value(root, "agents")
    count_node = _mapping_value(agents, "count") if agents is not None else None
    if count_node is not None:
        start, end = count_node.start_mark.index, count_node.end_mark.index
        if text[start:end] == str(count):
            return False
        new_text = text[:start] + str(count) + text[end:]
    elif agents is None:
        new_text = text.rstrip("\n") + f"\nagents:\n  count: {count}\n"
    elif isinstance(agents, yaml.MappingNode) and agents.flow_style:
        start = agents.start_mark.index + 1
        new_text = text[:start] + f"count: {count}, " + text[start:]
    elif isinstance(agents, yaml.MappingNode) and agents.value:
        first_key = agents.value[0][0]
        indent = " " * first_key.start_mark.column
        line_start = text.rfind("\n", 0, first_key.start_mark.index) + 1
        new_text = text[:line_start] + f"{indent}count: {count}\n" + text[line_start:]
    else:
        raise SpecError(
            str(path),
            [f"{path}: cannot set agents.count automatically"],
            hint="edit agents.count in the file and run `up`",
        )
    parse_spec(new_text, str(path), path)  # never write a file that no longer validates
    atomic_write(path, new_text, mode=path.stat().st_mode & 0o777)
    return True


def _mapping_value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if key_node.value == key and isinstance(value_node, yaml.Node):
            return value_node
    return None
