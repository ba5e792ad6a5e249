"""Time as the database stores it: UTC ISO-8601 text with a fixed width, so it sorts as text."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_FORMAT)


def now_iso() -> str:
    return to_iso(now())


def iso_after(seconds: float) -> str:
    return to_iso(datetime.fromtimestamp(time.time() + seconds, UTC))


def epoch() -> float:
    return time.time()


def iso_from_epoch(seconds: float) -> str:
    return to_iso(datetime.fromtimestamp(seconds, UTC))
