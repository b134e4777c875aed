"""Entry point of `dcos-provision` (and `python -m provisioner`).

It imports the CLI inside a guard: Ctrl-C while the first half second of imports runs
would otherwise print a KeyboardInterrupt traceback. Like ``cli.py`` it may print and exit,
and does only that: one line and exit code 130, as ``cli._run`` does for commands.
"""

from __future__ import annotations

import sys

INTERRUPTED = 130


def main() -> None:
    try:
        from .cli import app

        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(INTERRUPTED)


if __name__ == "__main__":
    main()
