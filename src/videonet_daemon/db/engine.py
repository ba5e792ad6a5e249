"""The database: one async SQLAlchemy engine over SQLite (embedded) or PostgreSQL (scale-out).

Queries are plain SQL with named parameters (``text()``), written to run on both dialects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from videonet_daemon.settings import SettingsError

SQLITE_BUSY_TIMEOUT_MS = 10_000

# A result row; read it by column name (``row._mapping["name"]``, see `columns`), not position.
Record = Row[Any]


def columns(row: Record) -> Any:
    """The row as a read-only mapping from column name (or ``AS`` alias) to value."""
    return row._mapping


def async_url(url: str) -> str:
    """Pick the async driver for a plain database URL (sqlite:/// or postgresql://)."""
    if url.startswith("sqlite+") or url.startswith("postgresql+"):
        return url
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise SettingsError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://")


def _create_private_sqlite_file(url: str) -> None:
    """Make the SQLite file 0600 before SQLite does (its -wal and -shm files copy the mode)."""
    import os

    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:" and not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


class Database:
    """The engine plus the few helpers every service uses."""

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            _create_private_sqlite_file(self.url)
            # One connection: SQLite has one writer anyway, and a single connection means
            # transactions queue in order instead of failing with "database is locked".
            self.engine: AsyncEngine = create_async_engine(
                self.url, pool_size=1, max_overflow=0, pool_timeout=60
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            # pre_ping: after a PostgreSQL restart, pooled connections are dead; each is tested
            # before use and replaced, so requests recover without a daemon restart.
            self.engine = create_async_engine(
                self.url, pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=10
            )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    async def fetch_one(self, sql: str, **params: Any) -> Record | None:
        async with self.engine.connect() as conn:
            result = await conn.execute(text(sql), params)
            row: Record | None = result.first()
            return row

    async def fetch_all(self, sql: str, **params: Any) -> list[Record]:
        async with self.engine.connect() as conn:
            result = await conn.execute(text(sql), params)
            return list(result.all())

    async def execute(self, sql: str, **params: Any) -> int:
        """Run one statement in its own transaction; return the affected row count."""
        async with self.engine.begin() as conn:
            result: CursorResult[Any] = await conn.execute(text(sql), params)
            return result.rowcount

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


async def run(conn: AsyncConnection, sql: str, **params: Any) -> CursorResult[Any]:
    """Execute ``sql`` on a connection already inside a transaction."""
    return await conn.execute(text(sql), params)
