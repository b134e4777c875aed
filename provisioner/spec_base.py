"""Shared pieces of the spec models: the strict base model, name rules and message helpers."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
FLAG_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
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


def at(path: str, message: str) -> str:
    """Prefix a validator message so the loader reports it under ``<model path>.<path>``."""
    return f"@{path}@ {message}"


def odd_count(value: int) -> int:
    if value not in ODD_COUNTS:
        raise ValueError(f"must be odd (1, 3, 5, 7) to keep a quorum: got {value}")
    return value


class StrictModel(BaseModel):
    """Unknown keys are errors (typos), values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
