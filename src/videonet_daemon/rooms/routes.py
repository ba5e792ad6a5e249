"""HTTP handlers for /api/rooms*."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon import protocol
from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.cluster import Bus
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.rooms.service import RoomService
from videonet_daemon.validation import get_str, read_json

# Published on the daemon bus when a user leaves a room over HTTP, so every daemon (this one
# included) drops that user's sockets from the room's channel.
LEFT_ROOM = "left_room"


class RoomRoutes:
    def __init__(self, rooms: RoomService, guard: RoomGuard, who: RequestAuth, bus: Bus) -> None:
        self._rooms = rooms
        self._guard = guard
        self._who = who
        self._bus = bus

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get(protocol.API_ROOMS, self.list_rooms)
        router.add_post(protocol.API_ROOM_CREATE, self.create_room)
        router.add_post(protocol.API_ROOM_JOIN, self.join_room)
        router.add_post(protocol.API_ROOM_LEAVE, self.leave_room)
        router.add_get(protocol.API_ROOM_MEMBERS, self.room_members)

    async def list_rooms(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        return web.json_response(await self._rooms.list_rooms(user.id))

    async def create_room(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        body = await read_json(request)
        name = get_str(body, "name", max_chars=protocol.ROOM_NAME_MAX_CHARS)
        description = get_str(
            body,
            "description",
            max_chars=protocol.ROOM_DESCRIPTION_MAX_CHARS,
            min_chars=0,
            default="",
            allow_newlines=True,
        )
        room = await self._rooms.create(user.id, name, description)
        return web.json_response(room, status=201)

    async def join_room(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        room = await self._rooms.join(request.match_info["room_id"], user.id)
        return web.json_response(room)

    async def leave_room(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        room_id = request.match_info["room_id"]
        was_member = await self._rooms.leave(room_id, user.id)
        await self._bus.publish(LEFT_ROOM, room_id=room_id, user_id=user.id)
        return web.json_response({"room_id": room_id, "left": was_member})

    async def room_members(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        room_id = request.match_info["room_id"]
        await self._guard.require_member(room_id, user.id)
        return web.json_response(await self._rooms.members(room_id))
