"""Presence events: `presence` when a user comes online or goes away in a room, `presence:who`.

Every change happens in a join or leave hook, under the room's lock (see realtime/hub.py), so
the events a socket receives are in the order the changes happened.
"""

from __future__ import annotations

from typing import Any

from videonet_daemon.presence.store import PresenceStore
from videonet_daemon.realtime.hub import Hub, SocketUser
from videonet_daemon.rooms.guard import RoomGuard, room_id_of
from videonet_protocol import protocol


class PresenceEvents:
    def __init__(self, store: PresenceStore, guard: RoomGuard, hub: Hub) -> None:
        self._store = store
        self._guard = guard
        self._hub = hub

    async def _announce(
        self, user: SocketUser, room_id: str, status: protocol.PresenceStatus
    ) -> None:
        event: protocol.PresenceEvent = {
            "room_id": room_id,
            "user_id": user.user_id,
            "username": user.username,
            "status": status,
        }
        await self._hub.sio.emit(
            protocol.EV_PRESENCE, event, to=protocol.room_channel(room_id), skip_sid=user.sid
        )

    async def joined(self, user: SocketUser, room_id: str, data: dict[str, Any]) -> dict[str, Any]:
        if await self._store.enter(room_id, user):
            await self._announce(user, room_id, protocol.PresenceStatus.ONLINE)
        return {"online": await self._store.online(room_id)}

    async def gone_elsewhere(self, user: SocketUser, room_id: str) -> None:
        """A user whose daemon died has left the room: tell the room (this daemon's sweep)."""
        async with self._hub.room_lock(room_id):
            await self._announce(user, room_id, protocol.PresenceStatus.OFFLINE)

    async def left(self, user: SocketUser, room_id: str) -> None:
        if await self._store.leave(room_id, user):
            await self._announce(user, room_id, protocol.PresenceStatus.OFFLINE)

    async def who(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        room_id = room_id_of(data)
        await self._guard.require_joined(user, room_id)
        return {"room_id": room_id, "online": await self._store.online(room_id)}
