"""The start of every send and receive: this device's keys, the room and the socket, at once.

None of the three waits for another (the keys are published and listed over HTTP, the room is
looked up over HTTP, the Socket.IO connection has its own handshake), so they run together:
before issue 26 the socket connected only once the other two had answered, one more round
trip before the first byte. Joining the room needs all three and comes after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from videonet_cli.api import Api, SocketClient
from videonet_cli.identity import trust
from videonet_protocol import protocol


@asynccontextmanager
async def opened(
    api: Api, room: str
) -> AsyncIterator[tuple[trust.ThisDevice, protocol.RoomInfo, SocketClient]]:
    """This device (published, certified), the room resolved and a connected socket, not yet
    joined; the socket is closed at the end, and when any of the three failed. Errors are
    raised in that order of precedence, as when they ran one after another."""
    rt = api.socket()
    try:  # closed also when cancelled (Ctrl-C) while the three run
        me, found, connected = await asyncio.gather(
            trust.this_device(api), api.rooms.resolve(room), rt.connect(), return_exceptions=True
        )
        for outcome in (me, found, connected):
            if isinstance(outcome, BaseException):
                raise outcome
        yield cast(trust.ThisDevice, me), cast(protocol.RoomInfo, found), rt
    finally:
        await rt.close()
