"""Flag loading with stout's rules: MESOS_* environment, `--name=value`, booleans, file:// values.

The messages match stout's so that a role feeding the stand-in a bad flag fails the same way a
real Mesos binary would (see MESOS-FACTS §1 "How flag loading works").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from .values import BadValue, format_duration, parse_bool, parse_duration, parse_float, parse_int

ENV_PREFIX = "MESOS_"


@dataclasses.dataclass(frozen=True)
class Flag:
    """One flag: `kind` picks the parser, `default` is the text /flags shows when unset."""

    name: str
    kind: str  # string | bool | int | port | duration | float | secure
    help: str
    default: str | None = None
    required: bool = False
    alias: str | None = None  # deprecated spelling (slave_* for agent_*)


class FlagError(Exception):
    """Flag loading failed; the message is what the real binary prints before its usage text."""


@dataclasses.dataclass
class Flags:
    """Loaded flags: parsed values, the strings /flags shows, and which were given explicitly."""

    values: dict[str, Any]
    shown: dict[str, str]
    given: set[str]

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) is not None


def _parse(flag: Flag, raw: str) -> tuple[Any, str]:
    """Return (value, shown text) for one raw value, reading file:// first like stout's fetch."""
    path = None
    text = raw
    if raw.startswith("file://"):
        path = raw[len("file://") :]
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as err:
            raise BadValue(f"Error reading file '{path}': {err.strerror or err}") from err
    if flag.kind == "bool":
        value: Any = parse_bool(text.strip() if path else text)
        return value, "true" if value else "false"
    if flag.kind in ("int", "port"):
        value = parse_int(text, 0, 65535 if flag.kind == "port" else None)
        return value, str(value)
    if flag.kind == "duration":
        value = parse_duration(text)
        return value, format_duration(value)
    if flag.kind == "float":
        value = parse_float(text)
        return value, f"{value:g}"
    if flag.kind == "secure":
        # SecurePathOrValue (--zk, --master): /flags shows the file's path, never its contents.
        return text, path if path is not None else text
    return text, text


def _command_line(argv: Iterable[str]) -> list[tuple[str, str | None]]:
    """Flags from argv in order; anything not starting with `--` is skipped, `--` ends parsing."""
    pairs: list[tuple[str, str | None]] = []
    for arg in argv:
        arg = arg.strip()
        if arg == "--":
            break
        if not arg.startswith("--"):
            continue
        if "=" in arg:
            name, value = arg[2:].split("=", 1)
            pairs.append((name.lower(), value))
        else:
            pairs.append((arg[2:].lower(), None))
    return pairs


def load(definitions: list[Flag], env: Mapping[str, str], argv: Iterable[str]) -> Flags:
    """Load flags from the environment and the command line, or raise FlagError."""
    by_name = {flag.name: flag for flag in definitions}
    aliases = {flag.alias: flag for flag in definitions if flag.alias}

    def lookup(name: str) -> Flag | None:
        return by_name.get(name) or aliases.get(name)

    pairs = _command_line(argv)
    on_command_line = {name for name, _ in pairs}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        bare = name[3:] if name.startswith("no-") else name
        if lookup(bare) is not None and name not in on_command_line:
            pairs.append((name, value))
    # stout keeps the values in an ordered multimap: by name, then in insertion order.
    pairs.sort(key=lambda pair: pair[0])

    values: dict[str, Any] = {}
    shown: dict[str, str] = {}
    loaded_via: dict[str, str] = {}
    for name, value in pairs:
        negated = name.startswith("no-")
        flag_name = name[3:] if negated else name
        flag = lookup(flag_name)
        if flag is None:
            via = f" via '{name}'" if negated else ""
            raise FlagError(f"Failed to load unknown flag '{flag_name}'{via}")
        if flag.name in loaded_via:
            raise FlagError(
                f"Flag '{flag_name}' is already loaded via name '{loaded_via[flag.name]}'"
            )
        if flag.kind != "bool":
            if negated:
                raise FlagError(f"Failed to load non-boolean flag '{flag_name}' via '{name}'")
            if value is None:
                raise FlagError(f"Failed to load non-boolean flag '{flag_name}': Missing value")
            raw = value
        elif value is None or value == "":
            raw = "false" if negated else "true"
        elif negated:
            raise FlagError(
                f"Failed to load boolean flag '{flag_name}' via '{name}' with value '{value}'"
            )
        else:
            raw = value
        try:
            values[flag.name], shown[flag.name] = _parse(flag, raw)
        except BadValue as err:
            raise FlagError(
                f"Failed to load flag '{flag_name}': Failed to load value '{raw}': {err}"
            ) from err
        loaded_via[flag.name] = flag_name

    for flag in sorted(definitions, key=lambda item: item.name):
        if flag.name in values:
            continue
        if flag.required:
            raise FlagError(f"Flag '{flag.name}' is required, but it was not provided")
        if flag.default is not None:
            values[flag.name], shown[flag.name] = _parse(flag, flag.default)
    return Flags(values=values, shown=dict(sorted(shown.items())), given=set(loaded_via))


def usage(program: str, definitions: list[Flag], message: str | None = None) -> str:
    """stout's usage text: the optional error, then one line per flag."""
    head = f"{message}\n\n" if message else ""
    head += f"Usage: {program} [options]\n\n"
    columns = {}
    for flag in definitions:
        if flag.kind == "bool":
            text = f"  --[no-]{flag.name}" + (f", --[no-]{flag.alias}" if flag.alias else "")
        else:
            text = f"  --{flag.name}=VALUE" + (f", --{flag.alias}=VALUE" if flag.alias else "")
        columns[flag.name] = text
    width = max(len(text) for text in columns.values()) + 5
    lines = []
    for flag in sorted(definitions, key=lambda item: item.name):
        default = f" (default: {flag.default})" if flag.default is not None else ""
        lines.append(columns[flag.name].ljust(width) + flag.help + default)
    return head + "\n".join(lines) + "\n"
