"""The one interface between the cores and the render layer: events are plain dicts.

A core (transfer, calls, chat, analysis) calls its reporter with each event as it happens and
returns its result as data; the render layer (``videonet_cli.render``) implements `Reporter`
for a terminal, for JSON lines, or for nothing. Cores never print.
"""

from __future__ import annotations

from typing import Any, Protocol


class Reporter(Protocol):
    def __call__(self, event: dict[str, Any]) -> None:
        """Show one event: ``{"event": KIND, ...}``."""
        ...


def ignore(event: dict[str, Any]) -> None:
    """A reporter that shows nothing."""
