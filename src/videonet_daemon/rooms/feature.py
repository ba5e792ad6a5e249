"""The rooms feature: /api/rooms* over HTTP, room:join and room:leave over Socket.IO, and the
end of a deleted room's channel on every daemon."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.cluster import ROOM_DELETED, Bus
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.events import RoomEvents
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.rooms.routes import LEFT_ROOM, RoomRoutes
from videonet_daemon.rooms.service import RoomService
from videonet_protocol import protocol


class RoomsFeature:
    def __init__(self, rooms: RoomService, guard: RoomGuard, who: RequestAuth, bus: Bus) -> None:
        self._routes = RoomRoutes(rooms, guard, who, bus)
        self._guard = guard
        self._bus = bus

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        self._routes.add_to(router, hub)
        events = RoomEvents(self._guard, hub)
        hub.on(protocol.EV_ROOM_JOIN, events.join)
        hub.on(protocol.EV_ROOM_LEAVE, events.leave)
        self._bus.on(LEFT_ROOM, events.left_room)
        self._bus.on(ROOM_DELETED, events.room_deleted)
