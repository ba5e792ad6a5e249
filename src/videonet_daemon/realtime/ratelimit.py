"""A token bucket per key (a user id), in memory: `rate` tokens a second, at most `burst` saved.

Per daemon: with several daemons behind Redis each one keeps its own buckets, so a user spread
over N daemons could send up to N times the rate. That is acceptable for chat flood control.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

# Buckets that have refilled to full are the same as no bucket; forget them past this many keys.
_PRUNE_ABOVE = 10_000


class TokenBuckets:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: Hashable) -> float:
        """Spend one token: 0.0 if there was one, else the seconds until there will be."""
        now = self._clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > _PRUNE_ABOVE:
            self._prune(now)
        return 0.0

    def forget(self, key: Hashable) -> None:
        """Drop a key's bucket (e.g. when its connection closes)."""
        self._buckets.pop(key, None)

    def _prune(self, now: float) -> None:
        full = [
            k
            for k, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.burst
        ]
        for k in full:
            del self._buckets[k]
