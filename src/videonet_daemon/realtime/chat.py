"""Chat over Socket.IO: `chat:send` stores the message, then fans it out to the room's channel;
a `room:join` carrying `since` first replays what the socket missed.

Both happen under the room's lock, so every socket in the channel receives the room's messages
in id order, and a joining socket gets its backlog before any live message and none twice.
The message is committed before the fan-out and before the ack: an acknowledged message is in
the database even if the daemon dies a moment later.
"""

from __future__ import annotations

import time
from typing import Any

from videonet_daemon import keys, protocol
from videonet_daemon.chat.service import check_text
from videonet_daemon.errors import NotJoined, RateLimited, ValidationError
from videonet_daemon.realtime.ratelimit import TokenBuckets
from videonet_daemon.realtime.server import Realtime, SocketUser, room_id_of

# A socket in a room's channel had its membership checked in the database when it joined, and an
# HTTP leave takes the user's sockets on the daemon that handled it out of the channel at once.
# With one daemon the channel is therefore enough. With several (a Redis URL is set), a leave
# handled elsewhere is caught by re-reading the database at most this often per socket and room.
MEMBERSHIP_RECHECK_SECONDS = 10.0


class ChatFeature:
    def __init__(self, realtime: Realtime) -> None:
        self.realtime = realtime
        settings = realtime.app[keys.SETTINGS]
        self.max_chars = settings.chat_max_chars
        self.sync_max = settings.chat_sync_max
        # Per user, not per socket: opening more sockets must not buy more messages.
        self.buckets = TokenBuckets(settings.chat_rate, settings.chat_burst)
        self.recheck = MEMBERSHIP_RECHECK_SECONDS if settings.redis_url else None
        # (sid, room_id) -> when the database last confirmed the membership.
        self._verified: dict[tuple[str, str], float] = {}
        realtime.join_hooks.append(self._sync)
        realtime.leave_hooks.append(self._forget)
        realtime.on(protocol.EV_CHAT_SEND)(self._send)

    async def _require_joined(self, user: SocketUser, room_id: str) -> None:
        if not self.realtime.joined(user.sid, room_id):
            raise NotJoined()
        if self.recheck is None:
            return
        key = (user.sid, room_id)
        now = time.monotonic()
        if now - self._verified.get(key, float("-inf")) > self.recheck:
            await self.realtime.require_joined(user, room_id)
            self._verified[key] = now

    async def _forget(self, user: SocketUser, room_id: str) -> None:
        self._verified.pop((user.sid, room_id), None)

    async def _send(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        room_id = room_id_of(data)
        text = check_text(data.get("text"), self.max_chars)
        await self._require_joined(user, room_id)
        wait = self.buckets.take(user.user_id)
        if wait > 0:
            raise RateLimited(wait, f"too many messages: wait {wait:.1f} s")
        chat = self.realtime.app[keys.CHAT]
        async with self.realtime.room_lock(room_id):
            message = await chat.add(room_id, user.user_id, user.username, text)
            await self.realtime.sio.emit(
                protocol.EV_CHAT_MESSAGE, message, to=protocol.room_channel(room_id)
            )
        return {"message": message}

    async def _sync(self, user: SocketUser, room_id: str, data: dict[str, Any]) -> dict[str, Any]:
        self._verified[(user.sid, room_id)] = time.monotonic()  # the join has just checked
        since = data.get("since")
        if since is None:
            return {"synced": 0, "truncated": False}
        if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since < 2**63:
            raise ValidationError("since must be a message id (an integer >= 0)")
        missed, truncated = await self.realtime.app[keys.CHAT].after(room_id, since, self.sync_max)
        for message in missed:
            await self.realtime.sio.emit(protocol.EV_CHAT_MESSAGE, message, to=user.sid)
        return {"synced": len(missed), "truncated": truncated}
