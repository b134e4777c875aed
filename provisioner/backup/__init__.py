"""Backup and restore of a cluster's ZooKeeper tree, Mesos operator state and state directory."""

from __future__ import annotations

from .run import (
    KEEP,
    AutoBackup,
    BackupResult,
    RestoreResult,
    automatic_backups,
    before,
    restore,
    take_backup,
    verify,
)
from .sealed import PASSPHRASE_ENV, read_passphrase

__all__ = [
    "KEEP",
    "PASSPHRASE_ENV",
    "AutoBackup",
    "BackupResult",
    "RestoreResult",
    "automatic_backups",
    "before",
    "read_passphrase",
    "restore",
    "take_backup",
    "verify",
]
