"""paramiko, imported without `invoke`: import it from here (`from .sshlib import paramiko`).

paramiko's `config` module imports `invoke` (and with it asyncio and unittest.mock: about
140 ms of CPU, most of a `status` run's SSH cost) only to run the `Match exec` lines of
ssh_config files; dcos-provision never reads an ssh_config file with paramiko. So the first
import of paramiko sees `invoke` as absent; `sys.modules` is left as it was afterwards, so
whoever imports `invoke` later gets it whole. (When `invoke` is already loaded, paramiko
takes it as it would.)
"""

from __future__ import annotations

import sys

_KEEP_OUT = "invoke"
_blocked = _KEEP_OUT not in sys.modules and "paramiko" not in sys.modules
if _blocked:
    sys.modules[_KEEP_OUT] = None  # type: ignore[assignment]  # `import invoke` raises
try:
    import paramiko as paramiko  # re-exported
finally:
    if _blocked:
        del sys.modules[_KEEP_OUT]

__all__ = ["paramiko"]
