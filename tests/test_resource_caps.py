"""Caps on what one account can hold open: waiting verdicts, sockets, rooms.

Before, 150 `transfer:verdict` events on one unsealed transfer each polled the database every
0.5 s for 60 s and outlived the sender's abort; 200 sockets and 200 rooms of one account were
all accepted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import socketio

from chatkit import Accounts, connect, create_room
from videonet_protocol import protocol

from conftest import http

pytestmark = pytest.mark.one_pass("caps counted in memory or by one query; no backend difference")

SHA = "0" * 64
# Verdicts that wait are answered by the abort; the old code answered them after 60 s.
ABORT_ANSWERS_WITHIN = 20.0


async def _offer(sender: Any, room: str) -> str:
    ack = await sender.call(
        protocol.EV_TRANSFER_OFFER, {"room_id": room, "name": "wait.bin", "size": 10}
    )
    assert ack["ok"], ack
    return str(ack["transfer"]["transfer_id"])


def test_verdicts_wait_capped_and_end_on_abort(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(VIDEONET_VERDICT_WAITERS_PER_TRANSFER="12")
    accounts = Accounts(d, tmp_path)
    alice, bob = accounts.make(), accounts.make()
    room = create_room(d, alice, bob)

    async def run() -> tuple[list[Any], list[Any], list[Any]]:
        sender = await connect(d, alice)
        receivers = [await connect(d, bob) for _ in range(2)]
        try:
            await sender.join(room)
            for r in receivers:
                await r.join(room)
            transfer_id = await _offer(sender, room)
            body = {"transfer_id": transfer_id, "sha256": SHA}

            async def verdict(peer: Any) -> Any:
                return await peer.sio.call(protocol.EV_TRANSFER_VERDICT, body, timeout=90)

            # 75 verdicts on each socket, all at once: 150 in all.
            tasks = [asyncio.create_task(verdict(r)) for r in receivers for _ in range(75)]
            done, _ = await asyncio.wait(tasks, timeout=10, return_when=asyncio.ALL_COMPLETED)
            refused = [t.result() for t in done]
            waiting = [t for t in tasks if not t.done()]
            ack = await sender.call(protocol.EV_TRANSFER_ABORT, {"transfer_id": transfer_id})
            assert ack["ok"], ack
            ended, _ = await asyncio.wait(waiting, timeout=ABORT_ANSWERS_WITHIN)
            return refused, [t.result() for t in ended], waiting
        finally:
            for peer in (sender, *receivers):
                await peer.close()

    refused, ended, waiting = asyncio.run(run())
    # Per socket 8 (the default) would let 16 wait; the transfer's own cap of 12 bites first.
    assert len(waiting) == 12
    assert len(refused) == 150 - 12
    assert {a["error"]["code"] for a in refused} == {"conflict"}
    assert any("wait for this transfer" in a["error"]["message"] for a in refused)
    assert any("wait on this connection" in a["error"]["message"] for a in refused)
    assert len(ended) == 12  # every waiter answered once the sender aborted
    assert {a["error"]["code"] for a in ended} == {"transfer_state"}
    assert {a["error"]["message"] for a in ended} == {"the sender aborted this transfer"}


def test_a_waiting_verdict_is_answered_by_the_seal(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory()
    accounts = Accounts(d, tmp_path)
    alice, bob = accounts.make(), accounts.make()
    room = create_room(d, alice, bob)
    payload = b"0123456789"

    async def run() -> Any:
        import hashlib

        sender, receiver = await connect(d, alice), await connect(d, bob)
        try:
            await sender.join(room)
            await receiver.join(room)
            transfer_id = await _offer(sender, room)
            digest = hashlib.sha256(payload).hexdigest()
            body = {"transfer_id": transfer_id, "sha256": digest}
            waiting = asyncio.create_task(
                receiver.sio.call(protocol.EV_TRANSFER_VERDICT, body, timeout=90)
            )
            await asyncio.sleep(0.5)
            assert not waiting.done()
            path = protocol.API_TRANSFER_DATA.format(transfer_id=transfer_id) + "?offset=0"
            status, reply, _ = await asyncio.to_thread(
                http, "PUT", d.api(path), token=alice.token, raw=payload
            )
            assert status < 300, reply
            ack = await sender.call(
                protocol.EV_TRANSFER_SEAL, {"transfer_id": transfer_id, "sha256": digest}
            )
            assert ack["ok"], ack
            return await asyncio.wait_for(waiting, ABORT_ANSWERS_WITHIN)
        finally:
            await sender.close()
            await receiver.close()

    reply = asyncio.run(run())
    assert reply["ok"] and reply["match"] is True, reply


def test_sockets_per_account_are_capped(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(VIDEONET_MAX_SOCKETS_PER_USER="3")
    accounts = Accounts(d, tmp_path)
    alice, bob = accounts.make(), accounts.make()

    async def run() -> str:
        peers = [await connect(d, alice) for _ in range(3)]
        try:
            extra = socketio.AsyncClient(reconnection=False)
            said: list[Any] = []
            extra.on("connect_error", lambda data: said.append(data))
            with pytest.raises(socketio.exceptions.ConnectionError) as refused:
                await extra.connect(
                    d.url,
                    auth={"token": alice.token},
                    socketio_path=protocol.SOCKET_PATH,
                    transports=["websocket"],
                    wait_timeout=15,
                )
            other = await connect(d, bob)  # another account is not affected
            await other.close()
            await peers[0].close()
            again = await connect(d, alice)  # a closed one frees its place
            await again.close()
            assert "failed to connect" in str(refused.value)
            return str(said)
        finally:
            for peer in peers:
                await peer.close()

    assert "3 connections of this account" in asyncio.run(run())


def test_rooms_per_account_are_capped(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(VIDEONET_MAX_ROOMS_PER_USER="3")
    accounts = Accounts(d, tmp_path)
    alice, bob = accounts.make(), accounts.make()
    for _ in range(3):
        create_room(d, alice)
    status, reply, _ = http(
        "POST", d.api(protocol.API_ROOM_CREATE), {"name": "one-too-many"}, token=alice.token
    )
    assert status == 409 and "you are in 3 rooms" in reply["error"]["message"], reply
    bobs = create_room(d, bob)
    join = protocol.API_ROOM_JOIN.format(room_id=bobs)
    status, reply, _ = http("POST", d.api(join), {}, token=alice.token)
    assert status == 409 and "in 3 rooms" in reply["error"]["message"], reply
    invite = protocol.API_ROOM_INVITE.format(room_id=bobs)
    status, reply, _ = http("POST", d.api(invite), {"username": alice.username}, token=bob.token)
    assert status == 409 and "in 3 rooms" in reply["error"]["message"], reply
    # Joining a room one is in already is not refused.
    status, reply, _ = http("POST", d.api(join), {}, token=bob.token)
    assert status == 200, reply


def test_usable_invites_per_account_are_capped(daemon_factory: Any, tmp_path: Path) -> None:
    # Before, one account made 300 invites of 1,000 uses each in under two seconds.
    d = daemon_factory(VIDEONET_MAX_INVITES_PER_USER="3")
    alice = Accounts(d, tmp_path).make()  # sign-up gave her one personal invite
    made = [
        http("POST", d.api(protocol.API_INVITES), {"uses": 2}, token=alice.token) for _ in range(3)
    ]
    assert [status for status, _, _ in made] == [201, 201, 409], made
    assert "3 usable invites" in made[-1][1]["error"]["message"]
