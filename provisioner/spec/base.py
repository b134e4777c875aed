"""Shared pieces of the spec models: the strict base model, name rules and message helpers."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationInfo, field_validator

# Use these with ``fullmatch``: ``match`` with ``$`` would let a trailing newline through.
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")
HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
FLAG_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")
#: C0 and C1 controls, DEL and the Unicode line/paragraph separators: each could end a line
#: in an env file, a unit, an inventory or a command line.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ODD_COUNTS = (1, 3, 5, 7)

#: Mesos flags the roles set themselves; extra flags may not override them.
MASTER_OWNED_FLAGS = frozenset(
    {"zk", "quorum", "ip", "advertise_ip", "hostname", "port", "cluster", "work_dir", "log_dir"}
)
AGENT_OWNED_FLAGS = frozenset(
    {
        "master",
        "ip",
        "advertise_ip",
        "hostname",
        "port",
        "resources",
        "attributes",
        "work_dir",
        "log_dir",
    }
)


def shown(value: object, limit: int = 60) -> str:
    """A value for an error message: repr, cut to ``limit`` characters."""
    text = repr(value)
    size = len(value) if isinstance(value, str) else len(text)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({size} characters)"


def control_character(text: str) -> str | None:
    """The first control character in ``text`` as an escape (``'\\n'``), or None."""
    found = CONTROL_CHARACTERS.search(text)
    return repr(found.group())[1:-1] if found else None


def _control_problems(value: Any, path: str = "") -> Iterator[str]:
    """Messages for control characters anywhere in a field's value (keys included)."""
    if isinstance(value, str):
        bad = control_character(value)
        if bad:
            message = f"must not contain control characters such as newlines: found '{bad}'"
            yield at(path, message) if path else message
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and control_character(key):
                where = f"key {shown(key)}"
                yield (
                    at(path, f"{where} must not contain control characters")
                    if path
                    else f"{where} must not contain control characters"
                )
                continue
            yield from _control_problems(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _control_problems(item, f"{path}[{index}]")


def local_file_problem(value: str | None, info: ValidationInfo, what: str) -> str | None:
    """Why ``value`` (relative to the spec file) is not a readable regular file, or None.

    Only checked when the spec is loaded from a file (the context carries its folder), so a
    spec built in code for tests or tools is not tied to this machine's files.
    """
    base_dir = (info.context or {}).get("base_dir") if info else None
    if value is None or base_dir is None:
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else Path(base_dir) / path
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"{what} {path} does not exist"
    except OSError as exc:
        return f"{what} {path} cannot be read: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return f"{what} {path} is a directory, not a file"
    if not stat.S_ISREG(mode):
        return f"{what} {path} is not a regular file (a device, FIFO or socket)"
    return None


def at(path: str, message: str) -> str:
    """Prefix a validator message so the loader reports it under ``<model path>.<path>``."""
    return f"@{path}@ {message}"


def odd_count(value: int) -> int:
    if value not in ODD_COUNTS:
        raise ValueError(f"must be odd (1, 3, 5, 7) to keep a quorum: got {value}")
    return value


class StrictModel(BaseModel):
    """Unknown keys are errors (typos), values are frozen once loaded, and no text value may
    hold a control character (each ends up in a config file, an inventory or a command line).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        if isinstance(value, SecretStr | BaseModel):
            return value  # secrets never reach a file; nested models checked themselves
        problems = list(_control_problems(value))
        if problems:
            raise ValueError("\n".join(problems))
        return value
