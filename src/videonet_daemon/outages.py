"""Telling an outage of a dependency (the database, Redis) from a bug.

Both the HTTP error middleware and the Socket.IO wrapper ask `outage_of(exc)`: a lost or refused
connection to the database or to Redis becomes `Unavailable` (503 "database unavailable" /
"redis unavailable"), which clients may retry, instead of a 500 or a misleading refusal. The
object store's errors are already `Unavailable("object storage")` where they happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import TracebackType

import asyncpg.exceptions as pg  # type: ignore[import-untyped]
import sqlalchemy.exc as sa

from videonet_daemon.errors import Unavailable
from videonet_daemon.i18n import N_

DATABASE = N_("database")
REDIS = N_("redis")
# relay/objects.py turns every error of the object store's client into Unavailable(OBJECT_STORAGE).
OBJECT_STORAGE = N_("object storage")

_DATABASE_ERRORS = (
    sa.OperationalError,
    sa.InterfaceError,
    sa.DisconnectionError,
    sa.TimeoutError,  # the pool waited too long for a connection
    pg.PostgresConnectionError,
    pg.CannotConnectNowError,
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.ConnectionDoesNotExistError,
    pg.InterfaceError,
)
try:  # not imported by a daemon without Redis (cli._skip_unused_optional_modules)
    import redis.exceptions as redis_errors

    _REDIS_ERRORS: tuple[type[BaseException], ...] = (
        redis_errors.ConnectionError,
        redis_errors.TimeoutError,
        redis_errors.BusyLoadingError,
    )
except ImportError:
    _REDIS_ERRORS = ()
# Raw socket errors: whose they are is read from the code they came through.
_NETWORK_ERRORS = (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError)
_MODULES = {"sqlalchemy": DATABASE, "asyncpg": DATABASE, "aiosqlite": DATABASE, "redis": REDIS}


def outage_of(exc: BaseException) -> Unavailable | None:
    """The dependency outage behind `exc`, if it is one."""
    for err in _chain(exc):
        if isinstance(err, Unavailable):
            return err
        if isinstance(err, _REDIS_ERRORS):
            return Unavailable(REDIS)
        if isinstance(err, _DATABASE_ERRORS) or (
            isinstance(err, sa.DBAPIError) and err.connection_invalidated
        ):
            return Unavailable(DATABASE)
        if isinstance(err, _NETWORK_ERRORS):
            owner = _owner(err.__traceback__)
            if owner:
                return Unavailable(owner)
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _owner(tb: TracebackType | None) -> str | None:
    """The dependency whose client code the traceback went through last."""
    owner = None
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        found = _MODULES.get(module.split(".", 1)[0])
        owner = found or owner
        tb = tb.tb_next
    return owner
