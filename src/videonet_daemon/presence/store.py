"""Where presence is kept: `MemoryPresence` for one daemon, `RedisPresence` for several.

A user is online in a room while any of their sockets is in the room's channel, so a second
terminal or a reconnect that overlaps the old socket does not flap. Both stores implement the
small async `PresenceStore` interface that presence/events.py uses.
"""

from __future__ import annotations

from typing import Any, Protocol

from videonet_daemon.cluster import Liveness, Node
from videonet_daemon.realtime.hub import SocketUser
from videonet_protocol import protocol


class PresenceStore(Protocol):
    async def enter(self, room_id: str, user: SocketUser) -> bool:
        """Record the socket in the room; True if its user has just come online there."""
        ...

    async def leave(self, room_id: str, user: SocketUser) -> bool:
        """Forget the socket in the room; True if its user has just gone away there."""
        ...

    async def online(self, room_id: str) -> list[protocol.PresenceUser]:
        """Users online in the room, by name."""
        ...

    async def forget_node(self) -> None:
        """At start: drop what an earlier run of this daemon left."""
        ...

    async def close(self) -> None: ...


class MemoryPresence:
    """Presence for one daemon: room_id -> user_id -> that user's sockets in the room."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[int, set[str]]] = {}
        self._names: dict[int, str] = {}

    async def enter(self, room_id: str, user: SocketUser) -> bool:
        users = self._rooms.setdefault(room_id, {})
        sids = users.setdefault(user.user_id, set())
        came_online = not sids
        sids.add(user.sid)
        self._names[user.user_id] = user.username
        return came_online

    async def leave(self, room_id: str, user: SocketUser) -> bool:
        users = self._rooms.get(room_id, {})
        sids = users.get(user.user_id)
        if not sids or user.sid not in sids:
            return False
        sids.discard(user.sid)
        if sids:
            return False
        del users[user.user_id]
        if not users:
            del self._rooms[room_id]
        return True

    async def online(self, room_id: str) -> list[protocol.PresenceUser]:
        users = self._rooms.get(room_id, {})
        found: list[protocol.PresenceUser] = [
            {"user_id": uid, "username": self._names.get(uid, "")} for uid in users
        ]
        return sorted(found, key=lambda u: (u["username"].casefold(), u["user_id"]))

    async def forget_node(self) -> None:
        """Nothing outlives the process."""

    async def close(self) -> None:
        """Nothing to close."""


class RedisPresence:
    """Presence shared by several daemons: one Redis hash per room, a field per socket.

    Field ``{user_id}:{node_id}:{sid}`` holds the username. Entries of a daemon whose heartbeat
    (`cluster.Liveness`) has expired (it was killed) are not counted, and `sweep` removes them so
    their rooms can be told. A daemon that starts again removes the fields its previous run left
    (its node id lasts across restarts).
    """

    def __init__(self, redis_url: str, cluster: str, node: Node, liveness: Liveness) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(
            redis_url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5
        )
        self._prefix = f"{cluster}:presence:"
        self._node = node  # its id is read when used: it is loaded with the data dir
        self._liveness = liveness

    async def _alive(self, node_ids: set[str]) -> set[str]:
        return await self._liveness.alive(node_ids)

    async def sweep(self) -> list[tuple[str, SocketUser]]:
        """Remove the entries of daemons that stopped beating: (room, user) for each user who
        is gone from a room because of it (each reported by exactly one daemon)."""
        gone: list[tuple[str, SocketUser]] = []
        async for key in self._redis.scan_iter(match=self._prefix + "*"):
            fields: list[str] = await self._redis.hkeys(key)
            alive = await self._alive({_node_of(f) for f in fields})
            dead = [f for f in fields if _node_of(f) not in alive]
            room_id = key[len(self._prefix) :]
            for field in dead:
                name = await self._redis.hget(key, field)
                if not await self._redis.hdel(key, field):
                    continue  # another daemon removed it first and reports it
                user_id = int(field.split(":", 1)[0])
                if await self._sockets_of(room_id, user_id) == 0:
                    sid = field.split(":", 2)[2] if field.count(":") >= 2 else ""
                    gone.append(
                        (room_id, SocketUser(sid=sid, user_id=user_id, username=name or ""))
                    )
        return gone

    def _key(self, room_id: str) -> str:
        return self._prefix + room_id

    def _field(self, user: SocketUser) -> str:
        return f"{user.user_id}:{self._node.id}:{user.sid}"

    async def _sockets_of(self, room_id: str, user_id: int) -> int:
        fields: list[str] = await self._redis.hkeys(self._key(room_id))
        mine = [f for f in fields if f.startswith(f"{user_id}:")]
        alive = await self._alive({_node_of(f) for f in mine})
        return sum(1 for f in mine if _node_of(f) in alive)

    async def enter(self, room_id: str, user: SocketUser) -> bool:
        await self._redis.hset(self._key(room_id), self._field(user), user.username)
        return await self._sockets_of(room_id, user.user_id) == 1

    async def leave(self, room_id: str, user: SocketUser) -> bool:
        removed = await self._redis.hdel(self._key(room_id), self._field(user))
        return bool(removed) and await self._sockets_of(room_id, user.user_id) == 0

    async def online(self, room_id: str) -> list[protocol.PresenceUser]:
        entries: dict[str, str] = await self._redis.hgetall(self._key(room_id))
        alive = await self._alive({_node_of(f) for f in entries})
        names = {
            int(f.split(":", 1)[0]): name for f, name in entries.items() if _node_of(f) in alive
        }
        found: list[protocol.PresenceUser] = [
            {"user_id": uid, "username": name} for uid, name in names.items()
        ]
        return sorted(found, key=lambda u: (u["username"].casefold(), u["user_id"]))

    async def forget_node(self) -> None:
        """Drop what an earlier run of this daemon left (it may have been killed)."""
        marker = f":{self._node.id}:"
        async for key in self._redis.scan_iter(match=self._prefix + "*"):
            stale = [f for f in await self._redis.hkeys(key) if marker in f]
            if stale:
                await self._redis.hdel(key, *stale)

    async def close(self) -> None:
        await self._redis.aclose()


def _node_of(field: str) -> str:
    parts = field.split(":", 2)
    return parts[1] if len(parts) == 3 else ""
