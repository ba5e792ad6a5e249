"""python-engineio's internals (the client side), used here and nowhere else.

engine.io's client keeps the aiohttp session it made after a failed connect (`eio.http`);
closing it is what keeps "Unclosed client session" off the terminal after the error line.
"""

from __future__ import annotations

from typing import Any

import engineio
import socketio

from videonet_protocol.adapters.check import installed

DISTRIBUTION = "python-engineio"


async def close_session(sio: socketio.AsyncClient) -> None:
    """Close the HTTP session engine.io made for the client, if it is open."""
    eio: Any = sio.eio
    session = eio.http if hasattr(eio, "http") else None
    if session is not None and not session.closed:
        await session.close()


def problems() -> list[str]:
    """What of the above no longer holds in the installed python-engineio (empty: all holds)."""
    client = engineio.AsyncClient()
    if not hasattr(client, "http"):
        return [f"{installed(DISTRIBUTION)}: AsyncClient().http (its aiohttp session) is gone"]
    return []
