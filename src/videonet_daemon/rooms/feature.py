"""The rooms feature: /api/rooms* over HTTP, room:join and room:leave over Socket.IO, and the
end of a deleted room's channel on every daemon."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.cluster import ROOM_DELETED, Bus
from videonet_daemon.feature import Event, Quiet
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.events import RoomEvents
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.rooms.routes import LEFT_ROOM, RoomRoutes
from videonet_daemon.rooms.service import RoomService
from videonet_protocol import protocol


class RoomsFeature(Quiet):
    def __init__(self, rooms: RoomService, guard: RoomGuard, who: RequestAuth, bus: Bus) -> None:
        self._rooms = rooms
        self._who = who
        self._guard = guard
        self._bus = bus

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        routes = RoomRoutes(self._rooms, self._guard, self._who, self._bus, hub)
        router.add_routes(routes.routes())
        events = RoomEvents(self._guard, hub)
        hub.add_events(
            [Event(protocol.EV_ROOM_JOIN, events.join), Event(protocol.EV_ROOM_LEAVE, events.leave)]
        )
        self._bus.on(LEFT_ROOM, events.left_room)
        self._bus.on(ROOM_DELETED, events.room_deleted)
