"""glog-looking log lines on stderr (and `<log_dir>/<program>.INFO`), plus the fatal exit."""

from __future__ import annotations

import datetime
import logging
import os
import sys
import threading

_lock = threading.Lock()
_files: list = []


def setup(program: str, log_dir: str | None) -> None:
    """Send our lines to stderr and, like glog with --log_dir, to a file in log_dir."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="W %(asctime)s %(name)s] %(message)s"
    )
    if log_dir:
        try:
            os.makedirs(log_dir, exist_ok=True)
            path = os.path.join(log_dir, f"{program}.INFO")
            _files.append(open(path, "a", encoding="utf-8"))  # noqa: SIM115 - kept open
        except OSError as err:
            info(f"Failed to open log file in {log_dir}: {err}", level="W")


def info(message: str, level: str = "I") -> None:
    now = datetime.datetime.now()
    line = f"{level}{now:%m%d %H:%M:%S.%f} {os.getpid()} standin] {message}\n"
    with _lock:
        for stream in [sys.stderr, *_files]:
            try:
                stream.write(line)
                stream.flush()
            except (OSError, ValueError):
                pass


def warning(message: str) -> None:
    info(message, level="W")


def fatal(message: str, code: int = 1) -> None:
    """Exit at once like Mesos' EXIT(EXIT_FAILURE): no cleanup, ZK sessions are left to expire."""
    info(message, level="E")
    os._exit(code)
