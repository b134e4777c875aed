"""dcos-provision Mesos test stand-in: a Python imitation of the Mesos master/agent interfaces.

It exists so the end-to-end tests can exercise the Ansible roles and the health checks where
real Mesos binaries cannot be installed. It is a test fixture, not Apache Mesos: it runs no
tasks, offers nothing to frameworks and keeps its registry in memory.
"""

import os

STANDIN_NAME = "dcos-provision Mesos test stand-in"
DEFAULT_VERSION = "1.11.0"


def mesos_version() -> str:
    """The Mesos version this stand-in reports; build.sh writes it into the VERSION file."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "VERSION")
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or DEFAULT_VERSION
    except OSError:
        return DEFAULT_VERSION
