"""`create_app(settings)`: the aiohttp application with its resources, routes and Socket.IO."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from videonet_daemon import __version__, invites, keys, protocol
from videonet_daemon.auth import routes as auth_routes
from videonet_daemon.auth.service import AuthService
from videonet_daemon.auth.tokens import TokenService, load_or_create_key, write_private_file
from videonet_daemon.calls import signaling as calls
from videonet_daemon.db.engine import Database
from videonet_daemon.db.migrations import migrate
from videonet_daemon.errors import error_middleware
from videonet_daemon.realtime import server as realtime
from videonet_daemon.relay import routes as relay_routes
from videonet_daemon.relay import verify as verify_routes
from videonet_daemon.relay.events import TransferEvents
from videonet_daemon.relay.service import TransferService
from videonet_daemon.relay.spool import Spool
from videonet_daemon.rooms import routes as room_routes
from videonet_daemon.rooms.service import RoomService
from videonet_daemon.settings import Settings

log = logging.getLogger(__name__)

BOOTSTRAP_INVITE_FILE = "bootstrap-invite"
SPOOL_DIR = "spool"
UPLOAD_READ_BUFFER = 1 << 20
CLEAN_UP_EVERY_SECONDS = 60.0


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_json_bytes, middlewares=[error_middleware])
    app[keys.SETTINGS] = settings
    app[keys.ON_LEAVE] = []
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_transfers)
    app.router.add_get(protocol.API_HEALTH, health)
    auth_routes.add_routes(app)
    room_routes.add_routes(app)
    relay_routes.add_routes(app)
    verify_routes.add_routes(app)
    realtime.attach(app)
    calls.attach(app)
    return app


async def health(request: web.Request) -> web.Response:
    payload: protocol.HealthResponse = {
        "status": "ok",
        "version": __version__,
        "protocol": protocol.PROTOCOL_VERSION,
    }
    return web.json_response(payload)


async def _database(app: web.Application) -> AsyncIterator[None]:
    """Open the database, migrate it, make the first invite, and close it at shutdown."""
    settings = app[keys.SETTINGS]
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = Database(settings.resolved_database_url)
    try:
        applied = await migrate(db)
        if applied:
            log.info("applied migrations %s", applied)
        key = load_or_create_key(data_dir, settings.jwt_secret)
        app[keys.DB] = db
        app[keys.AUTH] = AuthService(db, settings, TokenService(key, settings.token_lifetime))
        app[keys.ROOMS] = RoomService(db)
        if not await invites.has_any_invite_or_user(db):
            code = await invites.create_standalone(db, uses=1, expires_in=None)
            write_private_file(data_dir / BOOTSTRAP_INVITE_FILE, code + "\n")
            app[keys.BOOTSTRAP_INVITE] = code
        yield
    finally:
        await db.close()


async def _transfers(app: web.Application) -> AsyncIterator[None]:
    """The spool and transfer service, recovery after a restart, and the periodic clean-up."""
    settings = app[keys.SETTINGS]
    spool = Spool(settings.resolved_data_dir / SPOOL_DIR)
    service = TransferService(app[keys.DB], settings, spool, app[keys.ROOMS])
    await service.recover()
    app[keys.TRANSFERS] = service
    app[keys.TRANSFER_EVENTS] = TransferEvents(app[realtime.REALTIME], service)

    async def clean_up_forever() -> None:
        while True:
            try:
                removed = await service.clean_up()
                if removed:
                    log.info("removed %d expired transfers from the spool", removed)
            except Exception:
                log.exception("transfer clean-up failed")
            await asyncio.sleep(CLEAN_UP_EVERY_SECONDS)

    task = asyncio.create_task(clean_up_forever())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
