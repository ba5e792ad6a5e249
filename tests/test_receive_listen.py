"""`videonet receive` joins a room and listens for its offers in one round trip: a `room:join`
with `listen` answers with the offers pending and makes the socket a listener, as
`transfer:listen` does (issue 26, start-up)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from chatkit import connect
from transfer_helpers import make_room, member, random_file

from conftest import Daemon


def _offer(out: str) -> dict[str, Any]:
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    return next(e for e in events if e.get("event") == "offer")


def test_a_join_that_listens_gets_the_pending_offers_and_counts_as_a_listener(
    daemon: Daemon, tmp_path: Path
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice)
    bob = member(daemon, tmp_path, room)
    send = ("--no-wait", "--json", "--trust-new")
    r = alice.cli("send", room, str(random_file(tmp_path / "first.bin", 1000)), *send)
    assert r.code == 0, r.err
    first = _offer(r.out)
    assert first["listeners"] == []

    async def run() -> dict[str, Any]:
        peer = await connect(daemon, bob.user)
        try:
            plain = await peer.join(room)
            assert "offers" not in plain  # a plain join does not listen
            ack = await peer.join(room, listen=True, declined=False)
            assert [o["transfer_id"] for o in ack["offers"]] == [first["transfer_id"]]
            again = alice.cli
            second = await asyncio.to_thread(
                again, "send", room, str(random_file(tmp_path / "second.bin", 1000)), *send
            )
            assert second.code == 0, second.err
            return _offer(second.out)
        finally:
            await peer.close()

    second = asyncio.run(run())
    assert second["listeners"] == [bob.user.username]  # the join made bob's socket a listener
