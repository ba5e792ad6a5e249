"""What a feature is: one `install(router, hub)` that declares its HTTP routes (aiohttp route
definitions, `router.add_routes(...)`) and its Socket.IO events (`Event`s, `hub.add_events(...)`)
the same way, and async `start`/`stop` for its own background work.

`app.build` lists the features; `run_features` starts them in that order when the daemon starts
and stops the started ones in reverse when it stops, so what starts first (the bus, the
database) stops last. Features talk through the hub or the daemon bus, never by importing one
another.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from aiohttp import web

from videonet_daemon.realtime.hub import Event, Hub

__all__ = ["Event", "Feature", "Quiet", "run_features"]

log = logging.getLogger(__name__)


class Feature(Protocol):
    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        """Add the feature's HTTP routes to ``router`` and its socket events to ``hub``."""
        ...

    async def start(self) -> None:
        """Start the feature's own work (after the features before it in the list)."""
        ...

    async def stop(self) -> None:
        """Stop it (before the features before it in the list)."""
        ...


class Quiet:
    """For features with nothing of their own to start or stop."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


def run_features(
    features: Sequence[Feature],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context: start each feature in order, stop the started ones in
    reverse (also when a later one fails to start)."""

    async def running(app: web.Application) -> AsyncIterator[None]:
        started: list[Feature] = []
        try:
            for feature in features:
                await feature.start()
                started.append(feature)
            yield
        finally:
            for feature in reversed(started):
                try:
                    await feature.stop()
                except Exception:
                    log.exception("%s did not stop cleanly", type(feature).__name__)

    return running
