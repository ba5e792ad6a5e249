"""room:join and room:leave: a socket enters a room's channel only through the room guard."""

from __future__ import annotations

from typing import Any

from videonet_daemon.realtime.hub import Hub, SocketUser
from videonet_daemon.rooms.guard import RoomGuard, room_id_of


class RoomEvents:
    def __init__(self, guard: RoomGuard, hub: Hub) -> None:
        self._guard = guard
        self._hub = hub

    async def join(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        room_id = room_id_of(data)
        await self._guard.require_member(room_id, user.user_id)
        return await self._hub.enter(user, room_id, data)

    async def leave(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        room_id = room_id_of(data)
        await self._hub.exit(user, room_id)
        return {"room_id": room_id}

    async def left_room(self, message: dict[str, Any]) -> None:
        """A daemon bus message: a user left a room over HTTP on some daemon."""
        await self._hub.drop_from_room(str(message["room_id"]), int(message["user_id"]))

    async def room_deleted(self, message: dict[str, Any]) -> None:
        """A daemon bus message: the room is gone; its sockets here hear so and leave it (the
        relay drops its transfers' bytes on the same message)."""
        await self._hub.close_room(str(message["room_id"]), str(message["name"]))
