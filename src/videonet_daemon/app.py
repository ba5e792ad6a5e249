"""`build(settings)`: the one place the daemon is wired.

Each service is built here with its collaborators passed to its constructor; nothing is stored
on the aiohttp application for a handler to look up. Each feature package has a ``feature.py``
whose class takes its collaborators and has the same ``install(router, hub)``: it adds its HTTP
routes and its Socket.IO events. The order of the feature list matters once: join hooks run in
install order, so a joining socket gets its chat backlog before presence announces it.
"""

from __future__ import annotations

import logging

from aiohttp import web

from videonet_daemon.auth.cross_site import cross_site_middleware
from videonet_daemon.auth.feature import AuthFeature
from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.auth.service import AuthService
from videonet_daemon.auth.tokens import TokenService, load_or_create_key
from videonet_daemon.calls.feature import CallsFeature
from videonet_daemon.calls.media_server import MEDIA_SERVER, media_server_for
from videonet_daemon.calls.roster import MemoryRoster, RedisRoster, Roster
from videonet_daemon.chat.feature import ChatFeature
from videonet_daemon.chat.service import ChatService
from videonet_daemon.cluster import Bus, Liveness, Node
from videonet_daemon.db.engine import Database
from videonet_daemon.db.feature import BOOTSTRAP_INVITE_FILE, DatabaseFeature
from videonet_daemon.errors import error_middleware
from videonet_daemon.feature import Feature, run_features
from videonet_daemon.keys.feature import KeysFeature
from videonet_daemon.keys.service import DeviceKeyService
from videonet_daemon.metrics import Metrics
from videonet_daemon.openapi import OpenApiFeature
from videonet_daemon.ops import Check, Health, OpsFeature
from videonet_daemon.outages import OBJECT_STORAGE, outage_of
from videonet_daemon.presence.feature import PresenceFeature
from videonet_daemon.presence.store import MemoryPresence, PresenceStore, RedisPresence
from videonet_daemon.realtime.handshakes import handshake_limit_middleware
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
from videonet_daemon.slow_bodies import slow_body_middleware
from videonet_daemon.transport_security import strict_transport
from videonet_daemon.web.feature import WebFeature, origin_check

log = logging.getLogger(__name__)

SPOOL_DIR = "spool"


class Daemon:
    """The built daemon: its aiohttp app, and what `server.serve` needs once it is bound."""

    def __init__(
        self, app: web.Application, node: Node, db: Database, database: DatabaseFeature
    ) -> None:
        self.app = app
        self.node = node
        self.db = db
        self._database = database

    @property
    def bootstrap_invite(self) -> str | None:
        """The first invite, made at start-up on an empty database, while it is unused."""
        return self._database.bootstrap_invite


def build(settings: Settings) -> Daemon:
    """The daemon's app: every service built with its collaborators, and the feature list."""
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
    auth = AuthService(db, settings, tokens, data_dir / BOOTSTRAP_INVITE_FILE)
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
    rooms = RoomService(db, settings.max_rooms_per_user, settings.direct_rooms_per_day)
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

    database = DatabaseFeature(db, data_dir)
    # Started in this order, stopped in reverse: the bus and the database first and last; the
    # join hooks run in this order too, so a joining socket gets its chat backlog before
    # presence announces it; the heartbeat starts after presence has cleared its last run.
    features: list[Feature] = [
        bus,
        database,
        OpsFeature(settings, metrics, rooms, Health(checks)),
        OpenApiFeature(),
        AuthFeature(auth, who, db, bus, settings.max_invites_per_user, guard),
        RoomsFeature(rooms, guard, who, bus),
        KeysFeature(device_keys, guard, who),
        ChatFeature(chat, guard, who, settings),
        PresenceFeature(presence, guard, liveness),
        RelayFeature(transfers, receivers, guard, who, proxy, db, metrics, settings, bus),
        CallsFeature(guard, settings, roster, liveness, bus, media, who, media_pins),
        *([liveness] if liveness is not None else []),
        WebFeature(settings.media_server_public_url or settings.media_server_url),
    ]

    cross_site = cross_site_middleware(
        split_urls(settings.web_allowed_origins), settings.trust_proxy
    )
    app = web.Application(
        client_max_size=settings.max_json_bytes,
        middlewares=[
            error_middleware(metrics, outage_of),
            cross_site,
            slow_body_middleware(settings.http_body_timeout, settings.max_json_bytes),
            handshake_limit_middleware(
                settings.socket_handshake_rate, settings.socket_handshake_burst, who.client_address
            ),
        ],
    )
    app.on_response_prepare.append(strict_transport(who.is_https))
    for feature in features:
        feature.install(app.router, hub)
    hub.attach(app)
    app.cleanup_ctx.append(run_features(features))
    return Daemon(app, node, db, database)
