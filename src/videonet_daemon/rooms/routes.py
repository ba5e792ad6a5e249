"""HTTP handlers for /api/rooms*."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon import keys, protocol
from videonet_daemon.auth.routes import require_user
from videonet_daemon.validation import get_str, read_json


async def list_rooms(request: web.Request) -> web.Response:
    user = await require_user(request)
    return web.json_response(await request.app[keys.ROOMS].list_rooms(user.id))


async def create_room(request: web.Request) -> web.Response:
    user = await require_user(request)
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
    room = await request.app[keys.ROOMS].create(user.id, name, description)
    return web.json_response(room, status=201)


async def join_room(request: web.Request) -> web.Response:
    user = await require_user(request)
    room = await request.app[keys.ROOMS].join(request.match_info["room_id"], user.id)
    return web.json_response(room)


async def leave_room(request: web.Request) -> web.Response:
    user = await require_user(request)
    room_id = request.match_info["room_id"]
    was_member = await request.app[keys.ROOMS].leave(room_id, user.id)
    for hook in request.app[keys.ON_LEAVE]:
        await hook(room_id, user.id)
    return web.json_response({"room_id": room_id, "left": was_member})


async def room_members(request: web.Request) -> web.Response:
    user = await require_user(request)
    members = await request.app[keys.ROOMS].members(request.match_info["room_id"], user.id)
    return web.json_response(members)


def add_routes(app: web.Application) -> None:
    app.router.add_get(protocol.API_ROOMS, list_rooms)
    app.router.add_post(protocol.API_ROOM_CREATE, create_room)
    app.router.add_post(protocol.API_ROOM_JOIN, join_room)
    app.router.add_post(protocol.API_ROOM_LEAVE, leave_room)
    app.router.add_get(protocol.API_ROOM_MEMBERS, room_members)
