"""Fixtures for the Mesos stand-in tests: subprocesses and a real ZooKeeper with unique paths."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .procs import STANDIN_DIR, Procs

# The stand-in's own package, for the tests that call its parsers directly.
sys.path.insert(0, str(STANDIN_DIR))


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """Stand-in processes, all killed at teardown; their logs show up when a test fails."""
    started = Procs(tmp_path)
    yield started
    started.kill_all()
    sys.stderr.write(started.logs())


@pytest.fixture
def zk_cluster(zookeeper: str, tmp_path: Path) -> Iterator[tuple[str, str, Procs]]:
    """(zk URL, its znode path, processes): a unique `/standin-test-<uuid>/mesos` path whose
    processes are killed before the whole tree is deleted."""
    from kazoo.client import KazooClient

    root = f"/standin-test-{uuid.uuid4().hex}"
    started = Procs(tmp_path)
    try:
        yield f"zk://{zookeeper}{root}/mesos", f"{root}/mesos", started
    finally:
        started.kill_all()
        sys.stderr.write(started.logs())
        client = KazooClient(hosts=zookeeper, timeout=5)
        client.start(timeout=10)
        try:
            client.delete(root, recursive=True)
        except Exception as err:  # best effort: the path may never have been created
            sys.stderr.write(f"cleanup of {root} failed: {err!r}\n")
        finally:
            client.stop()
            client.close()
