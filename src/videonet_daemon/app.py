"""`create_app(settings)`: the aiohttp application with its resources, routes and Socket.IO."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from videonet_daemon import __version__, invites, keys, protocol
from videonet_daemon.auth import routes as auth_routes
from videonet_daemon.auth.service import AuthService
from videonet_daemon.auth.tokens import TokenService, load_or_create_key, write_private_file
from videonet_daemon.chat import routes as chat_routes
from videonet_daemon.chat.service import ChatService
from videonet_daemon.db.engine import Database
from videonet_daemon.db.migrations import migrate
from videonet_daemon.errors import error_middleware
from videonet_daemon.realtime import server as realtime
from videonet_daemon.rooms import routes as room_routes
from videonet_daemon.rooms.service import RoomService
from videonet_daemon.settings import Settings

log = logging.getLogger(__name__)

BOOTSTRAP_INVITE_FILE = "bootstrap-invite"


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_json_bytes, middlewares=[error_middleware])
    app[keys.SETTINGS] = settings
    app[keys.ON_LEAVE] = []
    app.cleanup_ctx.append(_database)
    app.router.add_get(protocol.API_HEALTH, health)
    auth_routes.add_routes(app)
    room_routes.add_routes(app)
    chat_routes.add_routes(app)
    realtime.attach(app)
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
        app[keys.CHAT] = ChatService(db)
        if not await invites.has_any_invite_or_user(db):
            code = await invites.create_standalone(db, uses=1, expires_in=None)
            write_private_file(data_dir / BOOTSTRAP_INVITE_FILE, code + "\n")
            app[keys.BOOTSTRAP_INVITE] = code
        yield
    finally:
        await db.close()
