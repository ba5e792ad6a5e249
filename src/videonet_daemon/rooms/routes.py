"""HTTP handlers for /api/rooms*."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.cluster import ROOM_DELETED, Bus
from videonet_daemon.errors import ValidationError
from videonet_daemon.i18n import N_
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.rooms.service import RoomService
from videonet_daemon.validation import get_body, get_str, read_json
from videonet_protocol import protocol

# Published on the daemon bus when a user leaves a room over HTTP, so every daemon (this one
# included) drops that user's sockets from the room's channel.
LEFT_ROOM = "left_room"


def _query_int(request: web.Request, name: str, default: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ValidationError(
            N_("{name} must be a whole number from 1 to {maximum}"), name=name, maximum=maximum
        )
    return int(raw)


class RoomRoutes:
    def __init__(
        self, rooms: RoomService, guard: RoomGuard, who: RequestAuth, bus: Bus, hub: Hub | None
    ) -> None:
        self._rooms = rooms
        self._guard = guard
        self._who = who
        self._bus = bus
        self._hub = hub

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(protocol.API_ROOMS, self.list_rooms),
            web.post(protocol.API_ROOM_CREATE, self.create_room),
            web.post(protocol.API_ROOM_DIRECT, self.direct_room),
            web.post(protocol.API_INVITE_REDEEM, self.redeem_invite),
            web.get(protocol.API_ROOM_LOOKUP, self.lookup_room),
            web.get(protocol.API_ROOM, self.get_room),
            web.delete(protocol.API_ROOM, self.delete_room),
            web.post(protocol.API_ROOM_RENAME, self.rename_room),
            web.post(protocol.API_ROOM_JOIN, self.join_room),
            web.post(protocol.API_ROOM_LEAVE, self.leave_room),
            web.post(protocol.API_ROOM_INVITE, self.invite),
            web.get(protocol.API_ROOM_MEMBERS, self.room_members),
        ]

    async def list_rooms(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        limit = _query_int(request, "limit", protocol.ROOMS_PAGE_DEFAULT, protocol.ROOMS_PAGE_MAX)
        mine = request.query.get("mine", "") in ("1", "true", "yes")
        cursor = request.query.get("cursor") or None
        page = await self._rooms.list_rooms(user.id, limit=limit, cursor=cursor, mine=mine)
        return web.json_response(page)

    async def lookup_room(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        ref = request.query.get("ref", "").strip()
        if not ref or len(ref) > protocol.ROOM_NAME_MAX_CHARS:
            raise ValidationError(N_("ref must be a room's name or id"))
        return web.json_response(await self._rooms.lookup(ref, user.id))

    async def get_room(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        return web.json_response(await self._rooms.get(request.match_info["room_id"], user.id))

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
        private = body.get("private", False)
        if not isinstance(private, bool):
            raise ValidationError(N_("private must be true or false"))
        room = await self._rooms.create(user.id, name, description, private)
        return web.json_response(room, status=201)

    async def direct_room(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        body = get_body(await read_json(request), protocol.DirectRoomRequest)
        room, made = await self._rooms.direct(user.id, body["username"])
        return web.json_response(room, status=201 if made else 200)

    async def redeem_invite(self, request: web.Request) -> web.Response:
        """An account that exists takes one use of a room's invite and joins the room."""
        user = await self._who.require_user(request)
        body = get_body(await read_json(request), protocol.RedeemRequest)
        room = await self._rooms.redeem(body["invite_code"], user.id)
        return web.json_response(room)

    async def rename_room(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        body = await read_json(request)
        name = get_str(body, "name", max_chars=protocol.ROOM_NAME_MAX_CHARS)
        room = await self._rooms.rename(request.match_info["room_id"], user.id, name)
        if self._hub is not None:
            await self._hub.sio.emit(
                protocol.EV_ROOM_RENAMED,
                {"room_id": room["id"], "name": room["name"]},
                room=protocol.room_channel(room["id"]),
            )
        return web.json_response(room)

    async def delete_room(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        room, transfer_ids = await self._rooms.delete(request.match_info["room_id"], user.id)
        await self._bus.publish(
            ROOM_DELETED, room_id=room["id"], name=room["name"], transfer_ids=transfer_ids
        )
        return web.json_response({"room_id": room["id"], "deleted": True})

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

    async def invite(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        room_id = request.match_info["room_id"]
        await self._guard.require_member(room_id, user.id)
        body = await read_json(request)
        username = get_str(body, "username", max_chars=protocol.USERNAME_MAX_CHARS)
        return web.json_response(await self._rooms.invite(room_id, username), status=201)

    async def room_members(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        room_id = request.match_info["room_id"]
        await self._guard.require_member(room_id, user.id)
        return web.json_response(await self._rooms.members(room_id))
