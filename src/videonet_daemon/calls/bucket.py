"""A token bucket: how the daemon limits the rate of each socket's signaling messages."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`burst` messages at once, then `rate` a second on average."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> float:
        """Take one token; return 0 if there was one, else the seconds until there will be."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate
