"""The room guard: the one membership check every HTTP request and socket event goes through.

This is the security boundary that keeps strangers out of a room. Membership is read from the
database every time (never cached), on every HTTP request and every socket event that names a
room, on one daemon or many. A socket event also needs the socket to be in the room's channel
(room:join put it there after the same check), so a user's other connections do not act in a
room they did not join on that connection.

One event checks membership in the statement that acts: `chat:send` (the busiest event) asks
`require_channel` here, and the chat service stores the message only if the user is a member
when it is written — one statement for a batch of messages instead of one read each, and no
gap between the check and the write. A refused message gets `refusal()`'s error, the one
`require_member` would have raised. Either way a stranger hears the same answer as from
`require_joined`.
"""

from __future__ import annotations

from typing import Any

from videonet_daemon.errors import Forbidden, NotFound, NotJoined, ValidationError
from videonet_daemon.i18n import N_
from videonet_daemon.realtime.hub import Hub, SocketUser
from videonet_daemon.rooms.service import DIRECT_ROOM_FULL, RoomService
from videonet_protocol import protocol


def room_id_of(data: dict[str, Any]) -> str:
    """The payload's ``room_id``, checked for shape (not for existence)."""
    room_id = data.get("room_id")
    if not isinstance(room_id, str) or not room_id or len(room_id) > protocol.ROOM_ID_MAX_CHARS:
        raise ValidationError(N_("room_id must be a room id string"))
    return room_id


class RoomGuard:
    def __init__(self, rooms: RoomService, hub: Hub) -> None:
        self._rooms = rooms
        self._hub = hub

    async def require_member(self, room_id: str, user_id: int) -> None:
        """404 if the room does not exist, 403 if the user is not in it (from the database)."""
        if await self._rooms.is_member(room_id, user_id):
            return
        await self._rooms.get(room_id, user_id)
        raise Forbidden(N_("you are not a member of this room"))

    async def require_inviter(self, room_id: str, user_id: int) -> None:
        """The user may bring others into the room: a member, and not of a direct room."""
        await self.require_member(room_id, user_id)
        await self._rooms.refuse_direct(room_id, DIRECT_ROOM_FULL)

    async def refusal(self, room_id: str, user_id: int) -> Exception:
        """The error a non-member hears for this room: `NotFound` if it does not exist (or is
        private), else `Forbidden` (used after a write that checked membership itself)."""
        try:
            await self._rooms.get(room_id, user_id)
        except NotFound as exc:
            return exc
        return Forbidden(N_("you are not a member of this room"))

    async def require_channel(self, user: SocketUser, room_id: str) -> None:
        """The socket is in the room's channel; membership is then the caller's to check in
        the statement that acts (see the module's docstring).

        Outside the channel, the answer is `require_joined`'s: a stranger hears ``forbidden``
        (or ``not_found``), a member ``not_joined``; only this rare path reads membership.
        """
        if not self._hub.joined(user.sid, room_id):
            await self.require_joined(user, room_id)
            raise NotJoined()  # joined meanwhile on another task: still refused this time

    async def require_visible_user(self, user_id: int, other_id: int, other_name: str) -> None:
        """The other user is the caller or shares a room with them, else `NotFound`.

        `not_found`, not `forbidden`: a stranger cannot tell an account that exists from one
        that does not (used before a user's device keys are listed).
        """
        if user_id == other_id or await self._rooms.share_a_room(user_id, other_id):
            return
        raise NotFound(
            N_("no user named {other_name} shares a room with you"), other_name=repr(other_name)
        )

    async def require_joined(self, user: SocketUser, room_id: str) -> None:
        """The user is a member (else `NotFound` or `Forbidden`, as over HTTP), and this socket
        is in the room's channel (else `NotJoined`).

        One order for every socket event (chat, presence, transfers, calls): a stranger hears
        ``forbidden`` (``not_found`` for a room that does not exist or is private), and
        ``not_joined`` only ever tells a member that this connection has not joined the room.
        """
        await self.require_member(room_id, user.user_id)
        if not self._hub.joined(user.sid, room_id):
            raise NotJoined()
