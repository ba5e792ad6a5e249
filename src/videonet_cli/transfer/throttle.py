"""Progress events from the transfer cores, throttled so scripts are not flooded."""

from __future__ import annotations

import time

from videonet_cli.reporting import Reporter

PROGRESS_EVERY_SECONDS = 0.25


class Throttle:
    """Turns byte counts into at most ~4 events a second (plus the last one): `progress` for
    bytes moved, `checking` for bytes of a resumed file re-hashed before it moves on."""

    def __init__(self, report: Reporter, name: str, total: int, kind: str = "progress") -> None:
        self._report = report
        self._kind = kind
        self._name = name
        self._total = total
        self._last = 0.0
        self._started = time.monotonic()

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        self._report({"event": self._kind, "name": self._name, "bytes": done, "total": self._total})
