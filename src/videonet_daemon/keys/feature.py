"""The device keys feature: publish, list and remove X25519 public keys (HTTP only)."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.feature import Quiet
from videonet_daemon.keys.routes import KeyRoutes
from videonet_daemon.keys.service import DeviceKeyService
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard


class KeysFeature(Quiet):
    def __init__(self, keys: DeviceKeyService, guard: RoomGuard, who: RequestAuth) -> None:
        self._routes = KeyRoutes(keys, guard, who)

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        router.add_routes(self._routes.routes())
