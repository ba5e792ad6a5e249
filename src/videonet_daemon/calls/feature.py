"""The calls feature: call:* signaling over Socket.IO (no HTTP routes), and with a media server
(Janus) the VideoRoom of each room, destroyed with the room."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from videonet_daemon.calls.media_server import MediaServer
from videonet_daemon.calls.roster import Roster
from videonet_daemon.calls.signaling import CallSignaling
from videonet_daemon.cluster import Bus, Liveness
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.rooms.routes import ROOM_DELETED
from videonet_daemon.settings import Settings


class CallsFeature:
    def __init__(
        self,
        guard: RoomGuard,
        settings: Settings,
        roster: Roster,
        liveness: Liveness | None,
        bus: Bus | None = None,
        media: MediaServer | None = None,
    ) -> None:
        self._guard = guard
        self._settings = settings
        self._roster = roster
        self._liveness = liveness
        self._bus = bus
        self._media = media

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        signaling = CallSignaling(
            hub, self._guard, self._settings, self._roster, self._liveness, self._media
        )
        signaling.register()
        media = self._media
        if media is not None and self._bus is not None:

            async def room_deleted(message: dict[str, Any]) -> None:
                # Every daemon hears it; destroying twice is harmless (no such room).
                await media.destroy(str(message["room_id"]))

            self._bus.on(ROOM_DELETED, room_deleted)
