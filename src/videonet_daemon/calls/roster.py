"""Who is in each room's call: `MemoryRoster` for one daemon, `RedisRoster` for several.

With several daemons, the participants of one call may be connected to different daemons, so
the list lives in Redis: one hash per room (field: the participant's peer id; value: the
participant, the node that holds its socket, and when it joined) and one set of the rooms that
have a call. Joining reads the others and adds oneself in one Lua script, so two people joining
at once through two daemons never both see the other (both would offer, and the offers cross).

A daemon that dies cannot remove its participants itself: `RedisRoster.remove_dead` (run after
every heartbeat, see cluster.Liveness) removes those whose node has stopped beating. Removal is
one script that returns the participant only to the caller that really removed it, so exactly
one daemon announces each departure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from videonet_daemon.cluster import Node
from videonet_protocol import protocol

Removed = list[tuple[str, protocol.CallPeer]]  # (room_id, participant)


class CallFull(Exception):
    """The call already has the most participants allowed."""


class Roster(Protocol):
    async def join(
        self, room_id: str, peer: protocol.CallPeer, limit: int
    ) -> list[protocol.CallPeer]:
        """Add ``peer``; the participants already there, in join order. `CallFull` at ``limit``."""
        ...

    async def remove(self, room_id: str, peer_id: str) -> protocol.CallPeer | None:
        """Remove a participant; it, or None if it was not there (someone removed it first)."""
        ...

    async def has(self, room_id: str, peer_id: str) -> bool:
        """Whether the participant is in the room's call (on any daemon)."""
        ...

    async def close(self) -> None: ...


class MemoryRoster:
    """One daemon: room_id -> peer_id -> participant, in join order (dicts keep it)."""

    def __init__(self) -> None:
        self._calls: dict[str, dict[str, protocol.CallPeer]] = {}

    async def join(
        self, room_id: str, peer: protocol.CallPeer, limit: int
    ) -> list[protocol.CallPeer]:
        call = self._calls.setdefault(room_id, {})
        if len(call) >= limit:
            raise CallFull()
        others = list(call.values())
        call[peer["peer_id"]] = peer
        return others

    async def remove(self, room_id: str, peer_id: str) -> protocol.CallPeer | None:
        call = self._calls.get(room_id, {})
        peer = call.pop(peer_id, None)
        if not call:
            self._calls.pop(room_id, None)
        return peer

    async def has(self, room_id: str, peer_id: str) -> bool:
        return peer_id in self._calls.get(room_id, {})

    async def close(self) -> None:
        """Nothing to close."""


# KEYS: the room's hash, the set of rooms with a call. ARGV: peer id, entry, limit, room id.
_JOIN = """
local others = redis.call('HVALS', KEYS[1])
if #others >= tonumber(ARGV[3]) then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
return others
"""

# KEYS as above. ARGV: peer id, room id. The entry, or nil if another caller removed it first.
_REMOVE = """
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return entry
"""


class RedisRoster:
    """Calls shared by the daemons of one service (see the module docstring)."""

    def __init__(self, redis_url: str, cluster: str, node: Node) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(redis_url, decode_responses=True)
        self._prefix = f"{cluster}:call:"
        self._rooms = f"{cluster}:calls"
        self._node = node  # its id is read when used: it is loaded with the data dir
        self._join = self._redis.register_script(_JOIN)
        self._remove = self._redis.register_script(_REMOVE)

    def _key(self, room_id: str) -> str:
        return self._prefix + room_id

    async def join(
        self, room_id: str, peer: protocol.CallPeer, limit: int
    ) -> list[protocol.CallPeer]:
        entry = json.dumps({"peer": peer, "node": self._node.id, "at": time.time()})
        keys = [self._key(room_id), self._rooms]
        others = await self._join(keys=keys, args=[peer["peer_id"], entry, limit, room_id])
        if others is None:
            raise CallFull()
        entries = sorted((json.loads(e) for e in others), key=lambda e: float(e["at"]))
        return [e["peer"] for e in entries]

    async def remove(self, room_id: str, peer_id: str) -> protocol.CallPeer | None:
        keys = [self._key(room_id), self._rooms]
        entry = await self._remove(keys=keys, args=[peer_id, room_id])
        if entry is None:
            return None
        peer: protocol.CallPeer = json.loads(entry)["peer"]
        return peer

    async def has(self, room_id: str, peer_id: str) -> bool:
        return bool(await self._redis.hexists(self._key(room_id), peer_id))

    async def remove_dead(
        self, alive: Callable[[set[str]], Awaitable[set[str]]], here: Callable[[str], bool]
    ) -> Removed:
        """Remove the participants of daemons that stopped beating, and those an earlier run of
        this daemon left (``here(peer_id)`` is False: no such socket here any more)."""
        removed: Removed = []
        for room_id in await self._redis.smembers(self._rooms):
            entries = {
                peer_id: json.loads(raw)
                for peer_id, raw in (await self._redis.hgetall(self._key(room_id))).items()
            }
            living = await alive({str(e["node"]) for e in entries.values()})
            for peer_id, entry in entries.items():
                node = str(entry["node"])
                gone = node not in living or (node == self._node.id and not here(peer_id))
                if gone and (peer := await self.remove(room_id, peer_id)) is not None:
                    removed.append((room_id, peer))
        return removed

    async def close(self) -> None:
        await self._redis.aclose()
