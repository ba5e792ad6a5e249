"""Every connection's Socket.IO events are rate limited; the connection stays up when refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import socketio

from transfer_helpers import make_room, member

pytestmark = pytest.mark.one_pass("the rate limit is per connection, in memory: no database in it")


def test_event_flood_is_refused_and_the_connection_survives(
    daemon_factory: Any, tmp_path: Path
) -> None:
    d = daemon_factory(VIDEONET_SOCKET_EVENT_RATE="5", VIDEONET_SOCKET_EVENT_BURST="10")
    alice = member(d, tmp_path)
    room = make_room(d, alice)

    async def flood() -> tuple[list[Any], Any]:
        client = socketio.AsyncClient()
        await client.connect(d.url, auth={"token": alice.user.token}, transports=["websocket"])
        try:
            assert (await client.call("room:join", {"room_id": room}, timeout=10))["ok"]
            acks = [
                await client.call("presence:who", {"room_id": room}, timeout=10) for _ in range(30)
            ]
            await asyncio.sleep(1.0)  # five tokens come back
            later = await client.call("presence:who", {"room_id": room}, timeout=10)
            return acks, later
        finally:
            await client.disconnect()

    acks, later = asyncio.run(flood())
    codes = [a["error"]["code"] for a in acks if not a["ok"]]
    assert len(codes) >= 15 and set(codes) == {"rate_limited"}
    assert all(a["ok"] for a in acks[:5])
    assert later["ok"] is True
