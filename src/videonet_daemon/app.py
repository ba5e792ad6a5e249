"""`create_app(settings)`: the aiohttp application with its resources, routes and Socket.IO."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from videonet_daemon import __version__, invites, keys, protocol
from videonet_daemon import web as web_client
from videonet_daemon.auth import routes as auth_routes
from videonet_daemon.auth.service import AuthService
from videonet_daemon.auth.tokens import TokenService, load_or_create_key, write_private_file
from videonet_daemon.calls import signaling as calls
from videonet_daemon.chat import routes as chat_routes
from videonet_daemon.chat.service import ChatService
from videonet_daemon.cluster import Bus, Node
from videonet_daemon.db.engine import Database
from videonet_daemon.db.migrations import migrate
from videonet_daemon.errors import NotFound, error_middleware
from videonet_daemon.metrics import METRICS, Metrics, is_loopback
from videonet_daemon.realtime import server as realtime
from videonet_daemon.relay import proxy
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
    app[keys.NODE] = Node(settings.advertise_url)
    app[keys.BUS] = Bus(settings.redis_url, settings.cluster_name)
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_bus)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_transfers)
    app.router.add_get(protocol.API_HEALTH, health)
    app.router.add_get(protocol.API_METRICS, metrics)
    auth_routes.add_routes(app)
    room_routes.add_routes(app)
    relay_routes.add_routes(app)
    verify_routes.add_routes(app)
    chat_routes.add_routes(app)
    realtime.attach(app)
    calls.attach(app)
    web_client.install(app, settings)
    return app


async def health(request: web.Request) -> web.Response:
    payload: protocol.HealthResponse = {
        "status": "ok",
        "version": __version__,
        "protocol": protocol.PROTOCOL_VERSION,
    }
    return web.json_response(payload)


async def metrics(request: web.Request) -> web.Response:
    mode = request.app[keys.SETTINGS].metrics
    if mode == "off" or (mode == "loopback" and not is_loopback(request.remote)):
        raise NotFound()
    collected = request.app[METRICS]
    row = await request.app[keys.DB].fetch_one("SELECT COUNT(*) FROM rooms")
    collected.rooms.set(int(row[0]) if row else 0)
    collected.connected.set(len(request.app[realtime.REALTIME].users))
    return collected.render()


async def _bus(app: web.Application) -> AsyncIterator[None]:
    bus = app[keys.BUS]
    await bus.start()
    yield
    await bus.stop()


async def _database(app: web.Application) -> AsyncIterator[None]:
    """Open the database, migrate it, make the first invite, and close it at shutdown."""
    settings = app[keys.SETTINGS]
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    app[keys.NODE].load_id(data_dir)
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


async def _transfers(app: web.Application) -> AsyncIterator[None]:
    """The spool and transfer service, recovery after a restart, and the periodic clean-up."""
    settings = app[keys.SETTINGS]
    spool = Spool(settings.spool_dir or settings.resolved_data_dir / SPOOL_DIR)
    service = TransferService(app[keys.DB], settings, spool, app[keys.ROOMS], app[keys.NODE])
    await service.recover()
    app[keys.TRANSFERS] = service
    app[keys.TRANSFER_EVENTS] = TransferEvents(app[realtime.REALTIME], service)

    # Often enough that nothing outlives its limit by more than a quarter of it.
    every = max(1.0, min(CLEAN_UP_EVERY_SECONDS, settings.transfer_idle_timeout / 4,
                         settings.transfer_retention / 4))  # fmt: skip

    async def clean_up_forever() -> None:
        while True:
            try:
                removed = await service.clean_up()
                if removed:
                    log.info("removed %d expired transfers from the spool", removed)
            except Exception:
                log.exception("transfer clean-up failed")
            await asyncio.sleep(every)

    task = asyncio.create_task(clean_up_forever())
    # Streams to other daemons of the service: no total time limit, but a stalled one fails.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
    app[proxy.SESSION] = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)
    yield
    await app[proxy.SESSION].close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
