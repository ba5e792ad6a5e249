"""The presence feature: join/leave hooks that announce users, and `presence:who` (sockets only)."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.cluster import Liveness
from videonet_daemon.feature import Event
from videonet_daemon.presence.events import PresenceEvents
from videonet_daemon.presence.store import PresenceStore, RedisPresence
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard
from videonet_protocol import protocol


class PresenceFeature:
    def __init__(
        self, store: PresenceStore, guard: RoomGuard, liveness: Liveness | None = None
    ) -> None:
        self._store = store
        self._guard = guard
        self._liveness = liveness  # None: one daemon, nobody else to watch

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        events = self._events = PresenceEvents(self._store, self._guard, hub)
        hub.on_join(events.joined)
        hub.on_leave(events.left)
        hub.add_events([Event(protocol.EV_PRESENCE_WHO, events.who)])
        if self._liveness is not None:
            self._liveness.every_beat(self.sweep)

    async def start(self) -> None:
        """Drop what an earlier run of this daemon left in the shared store (it may have been
        killed)."""
        await self._store.forget_node()

    async def stop(self) -> None:
        await self._store.close()

    async def sweep(self) -> None:
        """After each heartbeat: drop the entries of daemons that stopped beating, and tell
        their rooms those users left."""
        if not isinstance(self._store, RedisPresence):
            return
        for room_id, user in await self._store.sweep():
            await self._events.gone_elsewhere(user, room_id)
