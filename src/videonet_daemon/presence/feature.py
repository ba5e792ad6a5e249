"""The presence feature: join/leave hooks that announce users, and `presence:who` (sockets only)."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon import protocol
from videonet_daemon.presence.events import PresenceEvents
from videonet_daemon.presence.store import PresenceStore
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard


class PresenceFeature:
    def __init__(self, store: PresenceStore, guard: RoomGuard) -> None:
        self._store = store
        self._guard = guard

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        events = PresenceEvents(self._store, self._guard, hub)
        hub.on_join(events.joined)
        hub.on_leave(events.left)
        hub.on(protocol.EV_PRESENCE_WHO, events.who)
