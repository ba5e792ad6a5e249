"""python-engineio's internals (the server side), used here and nowhere else.

At shutdown, open WebSockets would hold aiohttp's graceful shutdown for its whole timeout;
closing them lets clients notice at once and reconnect to the next daemon. When Redis comes
back after the daemon lost it, closing them makes every client join again with `since` and
catch up on what the fan-out dropped. engine.io has no public "close every socket": its
server's `sockets` map (eio sid -> socket) is where they are.
"""

from __future__ import annotations

import asyncio
from typing import Any

import engineio
import socketio

from videonet_protocol.adapters.check import attribute_problems, method_problems

DISTRIBUTION = "python-engineio"


async def close_every_socket(
    sio: socketio.AsyncServer, timeout: float, *, forget: bool = True
) -> int:
    """Close every engine.io socket of the server; how many. Each close waits until the client
    has taken the close packet, which a polling client that stopped polling never does: those
    are given up after `timeout` seconds, not awaited forever. With `forget` (at shutdown) the
    server's map is emptied; otherwise engine.io drops a closed socket itself."""
    eio = sio.eio
    closing = [
        asyncio.create_task(socket.close(reason=eio.reason.SERVER_DISCONNECT))
        for socket in list(eio.sockets.values())
    ]
    if closing:
        _, stalled = await asyncio.wait(closing, timeout=timeout)
        for task in stalled:
            task.cancel()
    if forget:
        eio.sockets.clear()
    return len(closing)


def problems() -> list[str]:
    """What of the above no longer holds in the installed python-engineio (empty: all holds)."""
    server: Any = engineio.AsyncServer(async_mode="aiohttp")
    found = attribute_problems(DISTRIBUTION, server, "sockets", dict)
    reason = getattr(getattr(server, "reason", None), "SERVER_DISCONNECT", None)
    if reason is None:
        found.append(f"{DISTRIBUTION}: AsyncServer().reason.SERVER_DISCONNECT is gone")
    found += method_problems(
        DISTRIBUTION,
        engineio.async_socket.AsyncSocket,
        "close",
        ("wait", "abort", "reason"),
        kind="async",
    )
    return found
