"""`build(settings)`: the one place the daemon is wired.

Each service is built here with its collaborators passed to its constructor; nothing is stored
on the aiohttp application for a handler to look up. Each feature package has a ``feature.py``
whose class takes its collaborators and has the same ``install(router, hub)``: it adds its HTTP
routes and its Socket.IO events. The order of the feature list matters once: join hooks run in
install order, so a joining socket gets its chat backlog before presence announces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from aiohttp import web

from videonet_daemon import invites
from videonet_daemon.auth.cross_site import cross_site_middleware
from videonet_daemon.auth.disabled import DisabledSweeper
from videonet_daemon.auth.feature import AuthFeature
from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.auth.service import AuthService
from videonet_daemon.auth.tokens import TokenService, load_or_create_key, write_private_file
from videonet_daemon.calls.feature import CallsFeature
from videonet_daemon.calls.media_server import MEDIA_SERVER, media_server_for
from videonet_daemon.calls.roster import MemoryRoster, RedisRoster, Roster
from videonet_daemon.chat.feature import ChatFeature
from videonet_daemon.chat.service import ChatService
from videonet_daemon.cluster import Bus, Liveness, Node
from videonet_daemon.db.engine import Database
from videonet_daemon.db.migrations import migrate
from videonet_daemon.errors import error_middleware
from videonet_daemon.keys.feature import KeysFeature
from videonet_daemon.keys.service import DeviceKeyService
from videonet_daemon.metrics import Metrics
from videonet_daemon.openapi import OpenApiFeature
from videonet_daemon.ops import Check, Health, OpsFeature
from videonet_daemon.outages import OBJECT_STORAGE, outage_of
from videonet_daemon.presence.feature import PresenceFeature
from videonet_daemon.presence.store import MemoryPresence, PresenceStore, RedisPresence
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.relay.feature import RelayFeature
from videonet_daemon.relay.objects import ObjectSpool
from videonet_daemon.relay.proxy import Proxy
from videonet_daemon.relay.receivers import Receivers
from videonet_daemon.relay.service import TransferService
from videonet_daemon.relay.spool import AnySpool, Spool
from videonet_daemon.rooms.feature import RoomsFeature
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.rooms.service import RoomService
from videonet_daemon.settings import Settings, split_urls
from videonet_daemon.transport_security import strict_transport
from videonet_daemon.web.feature import WebFeature, origin_check

log = logging.getLogger(__name__)

BOOTSTRAP_INVITE_FILE = "bootstrap-invite"
SPOOL_DIR = "spool"
CLEAN_UP_EVERY_SECONDS = 60.0


class Feature(Protocol):
    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        """Add the feature's HTTP routes to ``router`` and its socket events to ``hub``."""
        ...


class Daemon:
    """The built daemon: its aiohttp app, and what `server.serve` needs once it is bound."""

    def __init__(self, app: web.Application, node: Node, db: Database) -> None:
        self.app = app
        self.node = node
        self.db = db
        self.bootstrap_invite: str | None = None  # made at start-up on an empty database


def build(settings: Settings) -> Daemon:
    """The daemon's app with every service, feature and paired start/stop step in place."""
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    node = Node(settings.advertise_url)
    node.load_id(data_dir)
    metrics = Metrics()
    bus = Bus(settings.redis_url, settings.cluster_name)
    db = Database(settings.resolved_database_url)
    tokens = TokenService(
        load_or_create_key(data_dir, settings.jwt_secret), settings.token_lifetime
    )
    auth = AuthService(db, settings, tokens)
    who = RequestAuth(auth, settings)
    hub = Hub(
        settings,
        auth.identify,
        metrics,
        origin_check(
            split_urls(settings.web_allowed_origins),
            settings.trust_proxy,
            settings.trusted_proxy_hops,
        ),
    )
    rooms = RoomService(db, settings.max_rooms_per_user)
    guard = RoomGuard(rooms, hub)
    device_keys = DeviceKeyService(db, settings.max_devices_per_user)
    chat = ChatService(db)
    # Several daemons: who is alive (heartbeats), and calls whose participants span daemons.
    liveness = (
        Liveness(settings.redis_url, settings.cluster_name, node, settings.node_heartbeat_interval)
        if settings.redis_url
        else None
    )
    # Transfer bytes: this daemon's spool directory, or object storage every daemon shares
    # (then no daemon streams another's transfers: the proxy only serves the local spool).
    objects = ObjectSpool(settings) if settings.spool_url else None
    spool: AnySpool = objects or Spool(settings.spool_dir or data_dir / SPOOL_DIR)
    alive = liveness.alive if liveness is not None else None
    transfers = TransferService(db, settings, spool, guard, node, alive)
    receivers = Receivers(db, transfers)
    proxy = Proxy()
    redis_presence = (
        RedisPresence(settings.redis_url, settings.cluster_name, node, liveness)
        if settings.redis_url and liveness is not None
        else None
    )
    presence: PresenceStore = redis_presence or MemoryPresence()
    redis_roster = (
        RedisRoster(settings.redis_url, settings.cluster_name, node) if settings.redis_url else None
    )
    roster: Roster = redis_roster or MemoryRoster()

    checks: dict[str, Check] = {"database": lambda: db.fetch_one("SELECT 1")}
    if settings.redis_url:
        checks["redis"] = bus.ping
    if objects is not None:
        checks[OBJECT_STORAGE] = objects.ping
    # With a media server (Janus), calls go through its VideoRoom; the daemon mints the tokens.
    media, media_pins = media_server_for(settings)
    if media is not None:
        checks[MEDIA_SERVER] = media.ping

    features: list[Feature] = [
        OpsFeature(settings, metrics, rooms, Health(checks)),
        OpenApiFeature(),
        AuthFeature(auth, who, db, bus),
        RoomsFeature(rooms, guard, who, bus),
        KeysFeature(device_keys, guard, who),
        ChatFeature(chat, guard, who, settings),
        PresenceFeature(presence, guard, liveness),
        RelayFeature(transfers, receivers, guard, who, proxy, db, metrics, settings, bus),
        CallsFeature(guard, settings, roster, liveness, bus, media, who),
        WebFeature(settings.media_server_public_url or settings.media_server_url),
    ]

    cross_site = cross_site_middleware(
        split_urls(settings.web_allowed_origins), settings.trust_proxy
    )
    app = web.Application(
        client_max_size=settings.max_json_bytes,
        middlewares=[error_middleware(metrics, outage_of), cross_site],
    )
    app.on_response_prepare.append(strict_transport(who.is_https))
    for feature in features:
        feature.install(app.router, hub)
    hub.attach(app)
    daemon = Daemon(app, node, db)

    async def bus_running(app: web.Application) -> AsyncIterator[None]:
        await bus.start()
        yield
        await bus.stop()

    async def database_open(app: web.Application) -> AsyncIterator[None]:
        """Migrate the database, make the first invite, and close it at shutdown."""
        try:
            applied = await migrate(db)
            if applied:
                log.info("applied migrations %s", applied)
            code = await invites.create_bootstrap(db)
            if code is not None:
                write_private_file(data_dir / BOOTSTRAP_INVITE_FILE, code + "\n")
                daemon.bootstrap_invite = code
            else:
                daemon.bootstrap_invite = await invites.pending_bootstrap(db)
            yield
        finally:
            await db.close()

    async def transfers_kept(app: web.Application) -> AsyncIterator[None]:
        """Recovery after a restart, the periodic clean-up, the session to other daemons."""
        await transfers.recover()
        task = asyncio.create_task(_clean_up_forever(transfers, settings))
        await proxy.start()
        yield
        await proxy.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await spool.close()

    async def presence_shared(app: web.Application) -> AsyncIterator[None]:
        if redis_presence is None:
            yield
            return
        await redis_presence.forget_node()
        yield
        await redis_presence.close()

    async def calls_shared(app: web.Application) -> AsyncIterator[None]:
        """The heartbeat (calls and presence sweep after it), and the shared call list."""
        if liveness is None or redis_roster is None:
            yield
            return
        await liveness.start()
        yield
        await liveness.stop()
        await redis_roster.close()

    async def media_server_closed(app: web.Application) -> AsyncIterator[None]:
        yield
        if media is not None:
            await media.close()
        if media_pins is not None:
            await media_pins.close()

    async def disabled_swept(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(DisabledSweeper(db, hub).run_forever())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.extend(
        [
            bus_running,
            database_open,
            transfers_kept,
            presence_shared,
            calls_shared,
            disabled_swept,
            media_server_closed,
        ]
    )
    return daemon


async def _clean_up_forever(transfers: TransferService, settings: Settings) -> None:
    # Often enough that nothing outlives its limit by more than a quarter of it.
    every = max(1.0, min(CLEAN_UP_EVERY_SECONDS, settings.transfer_idle_timeout / 4,
                         settings.transfer_retention / 4))  # fmt: skip
    while True:
        try:
            removed = await transfers.clean_up()
            if removed:
                log.info("removed %d expired transfers from the spool", removed)
        except Exception:
            log.exception("transfer clean-up failed")
        await asyncio.sleep(every)
