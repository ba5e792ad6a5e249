"""Typed keys for the objects the aiohttp app shares between handlers (aiohttp ``AppKey``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from videonet_daemon.auth.service import AuthService
    from videonet_daemon.chat.service import ChatService
    from videonet_daemon.cluster import Bus, Node
    from videonet_daemon.db.engine import Database
    from videonet_daemon.relay.events import TransferEvents
    from videonet_daemon.relay.service import TransferService
    from videonet_daemon.rooms.service import RoomService
    from videonet_daemon.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB: web.AppKey[Database] = web.AppKey("db")
AUTH: web.AppKey[AuthService] = web.AppKey("auth")
ROOMS: web.AppKey[RoomService] = web.AppKey("rooms")
TRANSFERS: web.AppKey[TransferService] = web.AppKey("transfers")
TRANSFER_EVENTS: web.AppKey[TransferEvents] = web.AppKey("transfer_events")
CHAT: web.AppKey[ChatService] = web.AppKey("chat")
BOOTSTRAP_INVITE: web.AppKey[str] = web.AppKey("bootstrap_invite", str)

LeaveHook = Callable[[str, int], Awaitable[None]]
# Called after a user leaves a room over HTTP (room_id, user_id): realtime drops their sockets.
ON_LEAVE: web.AppKey[list[LeaveHook]] = web.AppKey("on_leave")
NODE: web.AppKey[Node] = web.AppKey("node")
BUS: web.AppKey[Bus] = web.AppKey("bus")
