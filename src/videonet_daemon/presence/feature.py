"""The presence feature: join/leave hooks that announce users, and `presence:who` (sockets only)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from videonet_daemon import protocol
from videonet_daemon.presence.events import PresenceEvents
from videonet_daemon.presence.store import HEARTBEAT_SECONDS, PresenceStore, RedisPresence
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard

log = logging.getLogger(__name__)


class PresenceFeature:
    def __init__(self, store: PresenceStore, guard: RoomGuard) -> None:
        self._store = store
        self._guard = guard

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        events = self._events = PresenceEvents(self._store, self._guard, hub)
        hub.on_join(events.joined)
        hub.on_leave(events.left)
        hub.on(protocol.EV_PRESENCE_WHO, events.who)

    async def heartbeat_forever(self, store: RedisPresence) -> None:
        """Keep this daemon's entries alive, and announce the users of daemons that died."""
        while True:
            try:
                await store.heartbeat()
                for room_id, user in await store.sweep():
                    await self._events.gone_elsewhere(user, room_id)
            except Exception as exc:  # Redis is down: the health check reports it
                log.warning("presence heartbeat failed: %r", exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)
