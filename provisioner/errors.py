"""Domain errors: each carries a user-facing message, an optional hint and an exit code.

The library raises these; only ``cli.py`` turns them into a red line on stderr and an exit code.
"""

from __future__ import annotations


class ProvisionError(Exception):
    """Base for every error the CLI reports without a traceback."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class SpecError(ProvisionError):
    """The spec file is missing, unreadable, not YAML or not valid; lists every problem."""

    exit_code = 2

    def __init__(
        self, path: str, problems: list[str], hint: str | None = None, total: int | None = None
    ) -> None:
        self.path = path
        self.problems = problems
        #: How many problems were found; more than len(problems) when the list was cut short.
        self.total = len(problems) if total is None else total
        summary = f"{path}: {self.total} problem(s) in the cluster spec"
        super().__init__(summary + "\n" + "\n".join(f"  {p}" for p in problems), hint)


class UsageError(ProvisionError):
    """The command line asks for something impossible (bad option combination, bad count)."""

    exit_code = 2


class StateLockedError(ProvisionError):
    """Another dcos-provision command holds the lock on this cluster's state directory."""


class StateError(ProvisionError):
    """The state directory or state.json cannot be read or written."""


class ProviderError(ProvisionError):
    """A machine provider (vagrant, pulumi, static) failed to create, list or destroy machines."""


class ToolMissingError(ProviderError):
    """An external tool the provider needs (vagrant, pulumi, lxc) is not installed."""


class AnsibleError(ProvisionError):
    """A playbook run failed; the message names the failed hosts and tasks and the log path."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        failed_hosts: dict[str, str] | None = None,
        log_path: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.failed_hosts = failed_hosts or {}
        self.log_path = log_path


class HealthTimeoutError(ProvisionError):
    """The cluster did not become healthy within the wait budget."""


class QuorumError(ProvisionError):
    """A requested change would lose ZooKeeper or Mesos quorum, so it is refused."""


class NotBuiltError(ProvisionError):
    """The command's capability is not available for this spec yet; never pretend success."""


class RefusedError(ProvisionError):
    """A day-2 command (repair, verify --chaos) will not act: a human must decide first."""


class CredentialsError(ProvisionError):
    """The cluster's credentials file (brought by the operator, or secrets.json) is unusable."""

    exit_code = 2


class HostTrustError(ProvisionError):
    """An SSH host is reachable but not trusted (unknown or changed host key, refused login)."""


class ArchiveError(ProvisionError):
    """A backup archive is unreadable, damaged, another cluster's, or its passphrase is wrong;
    nothing was changed."""

    exit_code = 2
