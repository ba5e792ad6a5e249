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
from transfer_helpers import offer_payload
from videonet_protocol import protocol

from conftest import http

# Counted in this daemon's memory: a PostgreSQL pass would add nothing. The room and invite
# caps are SQL, and run in both passes.
IN_MEMORY = pytest.mark.one_pass("counted in the daemon's memory; no database in it")

SHA = "0" * 64
SIZE = 10 + protocol.E2E_TAG_BYTES
# Verdicts that wait are answered by the abort; the old code answered them after 60 s.
ABORT_ANSWERS_WITHIN = 20.0


async def _offer(sender: Any, room: str) -> str:
    # A protocol-2 offer of one record (10 bytes of plaintext and its tag): the daemon treats
    # the signed header as opaque, so a raw client can make one.
    ack = await sender.call(protocol.EV_TRANSFER_OFFER, offer_payload(room, "wait.bin", SIZE))
    assert ack["ok"], ack
    return str(ack["transfer"]["transfer_id"])


@IN_MEMORY
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
            body = {"transfer_id": transfer_id, "sha256": SHA, "mac": SHA}

            async def verdict(peer: Any) -> Any:
                return await peer.sio.call(protocol.EV_TRANSFER_VERDICT, body, timeout=90)

            # 75 verdicts at once on one socket, then 75 on the other: 150 in all.
            tasks: list[asyncio.Task[Any]] = []
            for r in receivers:
                batch = [asyncio.create_task(verdict(r)) for _ in range(75)]
                tasks += batch
                await asyncio.wait(batch, timeout=5)  # the refused ones are answered at once
            refused = [t.result() for t in tasks if t.done()]
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


@IN_MEMORY
def test_a_waiting_verdict_is_answered_by_the_seal(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory()
    accounts = Accounts(d, tmp_path)
    alice, bob = accounts.make(), accounts.make()
    room = create_room(d, alice, bob)
    payload = bytes(range(SIZE))  # stands for one sealed record

    async def run() -> Any:
        import hashlib

        sender, receiver = await connect(d, alice), await connect(d, bob)
        try:
            await sender.join(room)
            await receiver.join(room)
            transfer_id = await _offer(sender, room)
            digest = hashlib.sha256(payload).hexdigest()
            body = {"transfer_id": transfer_id, "sha256": digest, "mac": SHA}
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
                protocol.EV_TRANSFER_SEAL,
                {"transfer_id": transfer_id, "sha256": digest, "seal": protocol.e2e_encode(b"s")},
            )
            assert ack["ok"], ack
            return await asyncio.wait_for(waiting, ABORT_ANSWERS_WITHIN)
        finally:
            await sender.close()
            await receiver.close()

    reply = asyncio.run(run())
    assert reply["ok"] and reply["match"] is True, reply


@IN_MEMORY
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


def _handshake(d: Any, query: str = "", wait: float = 15) -> tuple[int | None, bytes]:
    """A polling GET: a new engine.io session, or with ``&sid=`` a long poll of an open one
    (None when it is still waiting after `wait` seconds, as a long poll does)."""
    import socket

    host, port = d.url.removeprefix("http://").rsplit(":", 1)
    path = f"/{protocol.SOCKET_PATH}/?EIO=4&transport=polling{query}".encode()
    with socket.create_connection((host, int(port)), timeout=wait) as conn:
        conn.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        try:
            while chunk := conn.recv(4096):
                data += chunk
        except TimeoutError:
            return None, data
    return int(data.split(b" ", 2)[1]), data


@IN_MEMORY
def test_new_socket_sessions_per_address_are_rate_limited(daemon_factory: Any) -> None:
    # Before, one address opened 3,000 engine.io sessions (no login needed) in 4.8 s.
    d = daemon_factory(VIDEONET_SOCKET_HANDSHAKE_RATE="0.5", VIDEONET_SOCKET_HANDSHAKE_BURST="5")
    answers = [_handshake(d) for _ in range(12)]
    statuses = [status for status, _ in answers]
    assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}, statuses
    assert b"Retry-After" in answers[-1][1]
    # An open session's own requests are not new connections: still answered.
    sid = answers[0][1].split(b'"sid":"', 1)[1].split(b'"', 1)[0].decode()
    status, reply = _handshake(d, f"&sid={sid}", wait=2)
    assert status in (None, 200), reply  # held as a long poll, or answered: not refused


@IN_MEMORY
def test_a_socket_session_that_never_logs_in_is_closed(daemon_factory: Any, tmp_path: Path) -> None:
    # Before, an engine.io session that never sent the Socket.IO connect (with its token) lived
    # as long as it answered pings: sessions piled up without any login.
    import time

    d = daemon_factory(VIDEONET_SOCKET_CONNECT_TIMEOUT="1")
    status, opened = _handshake(d)
    assert status == 200
    sid = opened.split(b'"sid":"', 1)[1].split(b'"', 1)[0].decode()
    time.sleep(3)
    status, reply = _handshake(d, f"&sid={sid}", wait=5)
    assert status == 400, reply  # engine.io: no such session any more
    # One that logs in at once is not affected.
    alice = Accounts(d, tmp_path).make()

    async def stays() -> bool:
        peer = await connect(d, alice)
        try:
            await asyncio.sleep(2)
            return bool(peer.sio.connected)
        finally:
            await peer.close()

    assert asyncio.run(stays())
