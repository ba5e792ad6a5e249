"""Throttling of failures: after N in a window, per key (an account, a client address), 429.

Failures live in the database, so several daemons behind one proxy share the count. An attempt
is *reserved* before the password check: one transaction counts the key's failures and, if there
is room, keeps a row for this attempt, as if it had failed already. Concurrent attempts
therefore see each other and the limit holds for a burst, on one daemon or many. The counting
transaction is serialised per key: on PostgreSQL by a transaction-scoped advisory lock per key,
on SQLite by the write lock its insert (made before the count) takes. A successful attempt
deletes its reservation afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from videonet_daemon.clock import epoch
from videonet_daemon.db.engine import Database, run
from videonet_daemon.errors import RateLimited

# The first half of PostgreSQL's two-integer advisory lock key: "a throttle key" (the second
# half is the key's hash). Distinct from the migration lock's single bigint key.
_PG_LOCK_SPACE = 7701


@dataclass(frozen=True)
class Reservation:
    """The rows counted for one attempt: kept if it fails, deleted if it succeeds."""

    row_ids: tuple[int, ...]


class FailureThrottle:
    def __init__(self, db: Database, max_failures: int, window: int, message: str) -> None:
        self._db = db
        self.max_failures = max_failures
        self.window = window
        self._message = message

    async def reserve(self, *keys: str) -> Reservation:
        """Count this attempt as a failure of every key now, or raise RateLimited (429)."""
        now = epoch()
        since = now - self.window
        ordered = sorted(set(keys))  # one lock order for every attempt: no deadlock
        async with self._db.transaction() as conn:
            await self._serialise(conn, ordered)
            ids = []
            for key in ordered:
                result = await run(
                    conn,
                    "INSERT INTO login_failures (key, at) VALUES (:k, :at) RETURNING id",
                    k=key,
                    at=now,
                )
                ids.append(int(result.scalar_one()))
            for key in ordered:
                # This attempt's row is the newest; the slot frees when the max-th one before
                # it leaves the window. Raising rolls the inserts back.
                rows = (
                    await run(
                        conn,
                        "SELECT at FROM login_failures WHERE key = :k AND at > :since "
                        "ORDER BY at DESC, id DESC LIMIT :n",
                        k=key,
                        since=since,
                        n=self.max_failures + 1,
                    )
                ).all()
                if len(rows) > self.max_failures:
                    oldest_counted = float(rows[-1][0])
                    raise RateLimited(oldest_counted + self.window - now, self._message)
            await run(conn, "DELETE FROM login_failures WHERE at < :old", old=since)
        return Reservation(tuple(ids))

    async def _serialise(self, conn: AsyncConnection, keys: list[str]) -> None:
        if self._db.dialect == "postgresql":
            for key in keys:
                await run(
                    conn, "SELECT pg_advisory_xact_lock(:space, hashtext(:k))",
                    space=_PG_LOCK_SPACE, k=key,
                )  # fmt: skip
        # SQLite needs nothing more: the inserts come before the count, so this transaction
        # holds the database's write lock while it counts, and another writer waits for it.

    async def release(self, reservation: Reservation) -> None:
        """The attempt succeeded: it was not a failure after all."""
        async with self._db.transaction() as conn:
            for row_id in reservation.row_ids:
                await run(conn, "DELETE FROM login_failures WHERE id = :i", i=row_id)

    async def clear(self, key: str) -> None:
        await self._db.execute("DELETE FROM login_failures WHERE key = :k", k=key)
