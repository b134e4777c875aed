"""Shared pytest configuration."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ZOOKEEPER = os.environ.get("DCOS_TEST_ZOOKEEPER", "127.0.0.1:2181")


@pytest.fixture
def zookeeper() -> str:
    """host:port of the test ZooKeeper (`scripts/host-zookeeper.sh start`); a missing one fails
    in CI and skips elsewhere."""
    host, _, port = ZOOKEEPER.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as err:
        reason = f"no ZooKeeper at {ZOOKEEPER} ({err}); run scripts/host-zookeeper.sh start"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return ZOOKEEPER


@pytest.fixture
def repo() -> Path:
    return REPO
