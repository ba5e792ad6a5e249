"""The identities and device keys feature: publish, certify, revoke and list public keys (HTTP),
and relay device-linking messages between one account's sockets (Socket.IO)."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.feature import Quiet
from videonet_daemon.keys.link_relay import LinkRelay
from videonet_daemon.keys.routes import KeyRoutes
from videonet_daemon.keys.service import DeviceKeyService
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard


class KeysFeature(Quiet):
    def __init__(self, keys: DeviceKeyService, guard: RoomGuard, who: RequestAuth) -> None:
        self._routes = KeyRoutes(keys, guard, who)

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        router.add_routes(self._routes.routes())
        hub.add_events(LinkRelay(hub).events())
