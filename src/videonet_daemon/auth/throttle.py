"""Login throttling: after N failures in a window, per account and per client address, 429.

Failures live in the database, so several daemons behind one proxy share the count.
"""

from __future__ import annotations

from videonet_daemon.clock import epoch
from videonet_daemon.db.engine import Database, run
from videonet_daemon.errors import RateLimited


class LoginThrottle:
    def __init__(self, db: Database, max_failures: int, window: int) -> None:
        self._db = db
        self.max_failures = max_failures
        self.window = window

    async def check(self, *keys: str) -> None:
        """Raise RateLimited (with the seconds until a slot frees up) if any key is over."""
        now = epoch()
        since = now - self.window
        for key in keys:
            rows = await self._db.fetch_all(
                "SELECT at FROM login_failures WHERE key = :k AND at > :since ORDER BY at DESC "
                "LIMIT :n",
                k=key,
                since=since,
                n=self.max_failures,
            )
            if len(rows) >= self.max_failures:
                oldest_counted = float(rows[-1][0])
                raise RateLimited(
                    oldest_counted + self.window - now,
                    "too many failed logins; try again later",
                )

    async def record_failure(self, *keys: str) -> None:
        now = epoch()
        async with self._db.transaction() as conn:
            for key in keys:
                await run(
                    conn, "INSERT INTO login_failures (key, at) VALUES (:k, :at)", k=key, at=now
                )
            await run(conn, "DELETE FROM login_failures WHERE at < :old", old=now - self.window)

    async def clear(self, key: str) -> None:
        await self._db.execute("DELETE FROM login_failures WHERE key = :k", k=key)
