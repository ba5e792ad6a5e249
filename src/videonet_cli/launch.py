"""The ``videonet`` process's entry point: what has to happen before anything is imported."""

from __future__ import annotations

import gc


def main() -> None:
    """Run ``videonet`` with no cycle collection while its modules are imported.

    Importing the command line made 47 young and 4 older collections, 10-15 ms of CPU of every
    start (docs/performance.md, "Start-up"); they find no garbage worth it. The command's async
    core freezes what was imported and turns collection back on (`commands.common.run`).
    """
    gc.disable()
    from videonet_cli.main import main as run

    run()
