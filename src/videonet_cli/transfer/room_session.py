"""The start of every send and receive: this device's keys, the room(s) and the socket, at once.

None of the three waits for another (the keys are published and listed over HTTP, the rooms are
looked up over HTTP, the Socket.IO connection has its own handshake of three round trips), so
they run together: before issue 26 the socket connected only once the other two had answered,
round trips more before the sender's first byte and before the receiver listens. Joining a room
needs all three and comes after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar, cast

from videonet_cli.api import Api, SocketClient
from videonet_cli.identity import trust
from videonet_cli.transfer.inbox import watched_rooms
from videonet_protocol import protocol

R = TypeVar("R")


@asynccontextmanager
async def _beside_the_socket(
    api: Api, rooms: Awaitable[R]
) -> AsyncIterator[tuple[trust.ThisDevice, R, SocketClient]]:
    """This device, ``rooms`` and a connected socket (not yet joined), all three at once; the
    socket is closed at the end, and when any of the three failed. Errors are raised in that
    order of precedence, as when they ran one after another."""
    rt = api.socket()
    try:  # closed also when cancelled (Ctrl-C) while the three run
        me, found, connected = await asyncio.gather(
            trust.this_device(api), rooms, rt.connect(), return_exceptions=True
        )
        for outcome in (me, found, connected):
            if isinstance(outcome, BaseException):
                raise outcome
        yield cast(trust.ThisDevice, me), cast(R, found), rt
    finally:
        await rt.close()


@asynccontextmanager
async def opened(
    api: Api, room: str
) -> AsyncIterator[tuple[trust.ThisDevice, protocol.RoomInfo, SocketClient]]:
    """The sender's start: this device (published, certified), the room resolved, the socket."""
    async with _beside_the_socket(api, api.rooms.resolve(room)) as opened:
        yield opened


@asynccontextmanager
async def watching(
    api: Api, room: str | None
) -> AsyncIterator[tuple[trust.ThisDevice, list[protocol.RoomInfo], SocketClient]]:
    """The receiver's start: this device, the room named (or every room of the account), the
    socket."""
    async with _beside_the_socket(api, watched_rooms(api, room)) as opened:
        yield opened
