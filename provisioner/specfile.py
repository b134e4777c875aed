"""Load a cluster spec from YAML and report every problem at once as `file:line field: message`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import SpecError
from .spec import ClusterSpec

Path_ = tuple[str | int, ...]
_AT = re.compile(r"^@([^@]+)@ (.*)$", re.S)
_UNION_TAGS = {"vagrant", "static", "pulumi", "libvirt", "aws"}


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent overwrite would lose a setting)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_index(node: yaml.Node | None, path: Path_ = (), index: dict | None = None) -> dict:
    """Map every key path in the YAML tree to its 1-based line."""
    index = {} if index is None else index
    if node is None:
        return index
    index.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            index[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), index)
    return index


def _parse_subpath(text: str) -> Path_:
    parts: list[str | int] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return tuple(parts)


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _clean_loc(loc: tuple) -> Path_:
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


def _message(error: dict) -> str:
    kind = error["type"]
    msg = error["msg"]
    if kind == "extra_forbidden":
        return "unknown key (typo?); allowed keys are listed by `dcos-provision schema`"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"unknown kind {ctx.get('tag')!r}: expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"missing the discriminator key: {error.get('ctx', {}).get('discriminator')}"
    msg = msg.removeprefix("Value error, ")
    if "input" in error and kind not in ("missing",) and not isinstance(error["input"], dict):
        value = error["input"]
        if f"{value!r}" not in msg and str(value) not in msg:
            msg = f"{msg}: got {value!r}"
    return msg


def _problems(exc: ValidationError, source: str, lines: dict) -> list[str]:
    problems = []
    for error in exc.errors():
        base = _clean_loc(tuple(error["loc"]))
        text = _message(error)
        # A model validator may report several problems, each pointing at a sub-field.
        for chunk in text.split("\n"):
            path, body = base, chunk
            match = _AT.match(chunk)
            if match:
                path, body = (*base, *_parse_subpath(match.group(1))), match.group(2)
            problems.append(_locate(source, lines, path, body))
    return problems


def _locate(source: str, lines: dict, path: Path_, message: str) -> str:
    probe = path
    while probe and probe not in lines:
        probe = probe[:-1]
    line = lines.get(probe)
    where = f"{source}:{line}" if line else source
    return f"{where} {format_path(path)}: {message}"


def parse_spec(text: str, source: str = "<spec>", path: Path | None = None) -> ClusterSpec:
    """Validate YAML text; raise SpecError listing every problem."""
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        detail = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise SpecError(source, [f"{source}{line} YAML syntax error: {detail}"]) from None
    except yaml.YAMLError as exc:
        raise SpecError(source, [f"{source} YAML error: {exc}"]) from None
    if data is None:
        raise SpecError(
            source, [f"{source}: the file is empty; a spec needs at least `name` and `provider`"]
        )
    if not isinstance(data, dict):
        raise SpecError(
            source,
            [f"{source}:1 (top level): expected a mapping of keys, got {type(data).__name__}"],
        )
    try:
        spec = ClusterSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(source, _problems(exc, source, _line_index(node))) from None
    if path is not None:
        spec._source = path.resolve()
    return spec


def load_spec(path: Path | str) -> ClusterSpec:
    """Read and validate a spec file; missing/unreadable files are SpecErrors too."""
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise SpecError(
            source,
            [f"{source}: no such file"],
            hint="pass the path of a cluster spec, e.g. examples/local.yaml",
        )
    if path.is_dir():
        raise SpecError(source, [f"{source}: is a directory, not a spec file"])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(source, [f"{source}: cannot read: {exc}"]) from None
    return parse_spec(text, source, path)


def set_agent_count(path: Path, count: int) -> bool:
    """Rewrite `agents.count` in the spec file in place (comments kept); False if unchanged.

    `scale` keeps the file the single source of truth, so a later `up` does not undo it.
    """
    text = path.read_text(encoding="utf-8")
    root = yaml.compose(text, Loader=_LineLoader)
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
    from .state import atomic_write

    atomic_write(path, new_text, mode=path.stat().st_mode & 0o777)
    return True


def _mapping_value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if key_node.value == key:
            return value_node
    return None
