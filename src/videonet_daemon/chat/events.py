"""Chat over Socket.IO: `chat:send` stores the message, then fans it out to the room's channel;
a `room:join` carrying `since` first replays what the socket missed (a join hook).

Both happen under the room's lock, so every socket in the channel receives the room's messages
in id order, and a joining socket gets its backlog before any live message and none twice.
The message is committed before the fan-out and before the ack: an acknowledged message is in
the database even if the daemon dies a moment later.
"""

from __future__ import annotations

from typing import Any

from videonet_daemon.chat.service import ChatService, NotAMember, check_text
from videonet_daemon.errors import RateLimited, ValidationError
from videonet_daemon.i18n import N_
from videonet_daemon.realtime.hub import Hub, SocketUser
from videonet_daemon.realtime.ratelimit import TokenBuckets
from videonet_daemon.rooms.guard import RoomGuard, room_id_of
from videonet_daemon.settings import Settings
from videonet_protocol import protocol


class ChatEvents:
    def __init__(self, chat: ChatService, guard: RoomGuard, hub: Hub, settings: Settings) -> None:
        self._chat = chat
        self._guard = guard
        self._hub = hub
        self.max_chars = settings.chat_max_chars
        self.sync_max = settings.chat_sync_max
        # Per user, not per socket: opening more sockets must not buy more messages.
        self.buckets = TokenBuckets(settings.chat_rate, settings.chat_burst)

    async def send(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        room_id = room_id_of(data)
        text = check_text(data.get("text"), self.max_chars)
        await self._guard.require_channel(user, room_id)
        return {"message": await self.post(room_id, user.user_id, user.username, text)}

    async def post(
        self, room_id: str, user_id: int, username: str, text: str
    ) -> protocol.ChatMessage:
        """Store one message and fan it out to the room's channel (a socket's `chat:send` or
        an HTTP POST). Membership is checked where the message is stored: one statement."""
        wait = self.buckets.take(user_id)
        if wait > 0:
            raise RateLimited(
                wait, N_("too many messages: wait {wait} s"), wait=format(wait, ".1f")
            )
        async with self._hub.room_lock(room_id):
            try:
                message = await self._chat.add(room_id, user_id, username, text)
            except NotAMember:
                raise await self._guard.refusal(room_id, user_id) from None
            await self._hub.sio.emit(
                protocol.EV_CHAT_MESSAGE, message, to=protocol.room_channel(room_id)
            )
        return message

    async def sync(self, user: SocketUser, room_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Join hook: send what the socket missed since the message id it names."""
        since = data.get("since")
        if since is None:
            return {"synced": 0, "truncated": False}
        if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since < 2**63:
            raise ValidationError(N_("since must be a message id (an integer >= 0)"))
        missed, truncated = await self._chat.after(room_id, since, self.sync_max)
        for message in missed:
            await self._hub.sio.emit(protocol.EV_CHAT_MESSAGE, message, to=user.sid)
        return {"synced": len(missed), "truncated": truncated}
