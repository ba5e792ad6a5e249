"""Chat and presence over Socket.IO, at the protocol level, with python-socketio's AsyncClient.

Each bad input must be refused with its protocol.ErrorCode (in the ack and as a vn:error event),
leave the offending connection usable, and leave the daemon serving the other clients.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatkit import Accounts, Peer, connect, create_room, history, leave_http
from videonet_protocol import protocol

from conftest import Daemon

E = protocol.ErrorCode


@pytest.fixture(scope="module")
def accounts(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Accounts:
    return Accounts(daemon, tmp_path_factory.mktemp("chat-accounts"))


@pytest.fixture
async def duo(daemon: Daemon, accounts: Accounts) -> AsyncIterator[tuple[str, Peer, Peer]]:
    """A room with two members, each connected and joined."""
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    a, b = await connect(daemon, alice), await connect(daemon, bob)
    await a.join(room)
    await b.join(room)
    await a.next(protocol.EV_PRESENCE)  # bob came online
    yield room, a, b
    await a.close()
    await b.close()


async def still_serving(room: str, sender: Peer, receiver: Peer) -> None:
    """The sender's connection still works and the other client still receives."""
    sent = await sender.say(room, "still here")
    for peer in (receiver, sender):
        got = await peer.next(protocol.EV_CHAT_MESSAGE)
        while got["id"] < sent["id"]:  # skip what the test itself sent before
            got = await peer.next(protocol.EV_CHAT_MESSAGE)
        assert got == sent


# --- bad input ---------------------------------------------------------------------------------
BAD_EVENTS: list[tuple[str, Any, str]] = [
    (protocol.EV_ROOM_JOIN, {}, E.VALIDATION),
    (protocol.EV_ROOM_JOIN, {"room_id": 5}, E.VALIDATION),
    (protocol.EV_ROOM_JOIN, "a string", E.VALIDATION),
    (protocol.EV_ROOM_JOIN, None, E.VALIDATION),
    (protocol.EV_CHAT_SEND, {"room_id": "ROOM"}, E.VALIDATION),
    (protocol.EV_CHAT_SEND, {"room_id": "ROOM", "text": 42}, E.VALIDATION),
    (protocol.EV_CHAT_SEND, {"room_id": "ROOM", "text": ["hi"]}, E.VALIDATION),
    (protocol.EV_CHAT_SEND, {"room_id": "ROOM", "text": ""}, E.VALIDATION),
    (protocol.EV_CHAT_SEND, {"room_id": "ROOM", "text": " \n\t "}, E.VALIDATION),
    (protocol.EV_CHAT_SEND, {"text": "no room"}, E.VALIDATION),
    (protocol.EV_CHAT_SEND, [1, 2, 3], E.VALIDATION),
    (protocol.EV_PRESENCE_WHO, {"room_id": None}, E.VALIDATION),
    ("chat:shout", {"room_id": "ROOM", "text": "hi"}, E.UNKNOWN_EVENT),
    ("no such event", None, E.UNKNOWN_EVENT),
]


@pytest.mark.parametrize(("event", "payload", "code"), BAD_EVENTS)
async def test_malformed_events_are_refused(
    duo: tuple[str, Peer, Peer], event: str, payload: Any, code: str
) -> None:
    room, a, b = duo
    if isinstance(payload, dict) and payload.get("room_id") == "ROOM":
        payload = {**payload, "room_id": room}
    await a.refused(event, payload, code)
    await still_serving(room, a, b)


@pytest.mark.parametrize("since", ["12", -1, True, 1.5, 2**63])
async def test_join_with_a_bad_since_is_refused_and_leaves_no_trace(
    daemon: Daemon, accounts: Accounts, since: Any
) -> None:
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    a, b = await connect(daemon, alice), await connect(daemon, bob)
    try:
        await b.join(room)
        await a.refused(protocol.EV_ROOM_JOIN, {"room_id": room, "since": since}, E.VALIDATION)
        # Not in the channel: sending is refused, and nobody saw alice come online.
        await a.refused(protocol.EV_CHAT_SEND, {"room_id": room, "text": "hi"}, E.NOT_JOINED)
        who = await b.call(protocol.EV_PRESENCE_WHO, {"room_id": room})
        assert [u["username"] for u in who["online"]] == [bob.username]
        await a.join(room, since=0)
        await still_serving(room, a, b)
    finally:
        await a.close()
        await b.close()


async def test_extra_arguments_are_refused(duo: tuple[str, Peer, Peer]) -> None:
    room, a, b = duo
    ack = await a.sio.call(protocol.EV_CHAT_SEND, ({"room_id": room, "text": "x"}, "extra"))
    assert ack["error"]["code"] == E.VALIDATION
    await still_serving(room, a, b)


async def test_joining_a_room_you_are_not_in(daemon: Daemon, accounts: Accounts) -> None:
    owner, stranger = accounts.make(), accounts.make()
    room = create_room(daemon, owner)
    o, s = await connect(daemon, owner), await connect(daemon, stranger)
    try:
        await o.join(room)
        await s.refused(protocol.EV_ROOM_JOIN, {"room_id": room}, E.FORBIDDEN)
        await s.refused(protocol.EV_ROOM_JOIN, {"room_id": "no-such-room"}, E.NOT_FOUND)
        # A stranger hears "forbidden" from every event, as from room:join and over HTTP.
        await s.refused(protocol.EV_CHAT_SEND, {"room_id": room, "text": "hi"}, E.FORBIDDEN)
        await s.refused(protocol.EV_PRESENCE_WHO, {"room_id": room}, E.FORBIDDEN)
        nowhere = {"room_id": "no-such-room", "text": "hi"}
        await s.refused(protocol.EV_CHAT_SEND, nowhere, E.NOT_FOUND)
        assert o.pending(protocol.EV_PRESENCE) == []
        sent = await o.say(room, "only members")
        assert await o.next(protocol.EV_CHAT_MESSAGE) == sent
        assert s.sio.connected
    finally:
        await o.close()
        await s.close()


async def test_sending_to_a_room_not_joined_on_this_socket(
    daemon: Daemon, accounts: Accounts, duo: tuple[str, Peer, Peer]
) -> None:
    room, a, b = duo
    other = await connect(daemon, a.user)  # a member, but this socket did not join
    try:
        await other.refused(protocol.EV_CHAT_SEND, {"room_id": room, "text": "hi"}, E.NOT_JOINED)
    finally:
        await other.close()
    await still_serving(room, a, b)


async def test_text_length_limit(duo: tuple[str, Peer, Peer]) -> None:
    room, a, b = duo
    limit = protocol.CHAT_MAX_CHARS
    error = await a.refused(
        protocol.EV_CHAT_SEND, {"room_id": room, "text": "x" * (limit + 1)}, E.TEXT_TOO_LONG
    )
    assert str(limit) in error["message"]
    sent = await a.say(room, "é" * limit)  # the limit is in characters, not bytes
    assert await b.next(protocol.EV_CHAT_MESSAGE) == sent
    await still_serving(room, a, b)


async def test_payload_just_under_the_engineio_cap_gets_an_error(
    duo: tuple[str, Peer, Peer],
) -> None:
    room, a, b = duo
    # The whole packet stays under SOCKET_MAX_MESSAGE_BYTES, so it reaches the handler.
    text = "x" * (protocol.SOCKET_MAX_MESSAGE_BYTES - 200)
    await a.refused(protocol.EV_CHAT_SEND, {"room_id": room, "text": text}, E.TEXT_TOO_LONG)
    await still_serving(room, a, b)


async def test_payload_over_the_engineio_cap_costs_only_that_connection(
    daemon: Daemon, accounts: Accounts, duo: tuple[str, Peer, Peer]
) -> None:
    room, a, b = duo
    victim = await connect(daemon, a.user)
    await victim.join(room)
    gone = asyncio.Event()
    victim.sio.on("disconnect", lambda *args: gone.set())
    text = "x" * (protocol.SOCKET_MAX_MESSAGE_BYTES + 10)
    # engine.io closes the WebSocket (message too big): no ack ever comes, the socket is dropped.
    await victim.sio.emit(protocol.EV_CHAT_SEND, {"room_id": room, "text": text})
    await asyncio.wait_for(gone.wait(), 15)
    await still_serving(room, a, b)
    again = await connect(daemon, a.user)
    await again.join(room)
    await again.close()


CONTROL_TEXTS = [
    "\x1b[2J\x1b[Hgotcha",  # a terminal escape sequence
    "nul\x00byte",
    "bell\x07",
    "del\x7f",
    "c1\x9b31m",
    "lone \ud800 surrogate",
    "\x08" * 20,
]


@pytest.mark.parametrize("text", CONTROL_TEXTS)
async def test_control_characters_are_refused(duo: tuple[str, Peer, Peer], text: str) -> None:
    room, a, b = duo
    error = await a.refused(protocol.EV_CHAT_SEND, {"room_id": room, "text": text}, E.INVALID_TEXT)
    assert "U+" in error["message"]
    await still_serving(room, a, b)


async def test_newlines_tabs_and_emoji_are_kept(duo: tuple[str, Peer, Peer]) -> None:
    room, a, b = duo
    sent = await a.say(room, "line one\r\nline\ttwo\rthree 👩‍👩‍👧 שלום")
    assert sent["text"] == "line one\nline\ttwo\nthree 👩‍👩‍👧 שלום"
    assert await b.next(protocol.EV_CHAT_MESSAGE) == sent


async def test_rate_limit(daemon: Daemon, duo: tuple[str, Peer, Peer]) -> None:
    room, a, b = duo
    sends = [
        a.call(protocol.EV_CHAT_SEND, {"room_id": room, "text": f"flood {i}"})
        for i in range(protocol.CHAT_BURST * 2)
    ]
    acks = await asyncio.gather(*sends)
    refused = [ack for ack in acks if not ack["ok"]]
    assert refused, "the burst was not limited"
    assert {ack["error"]["code"] for ack in refused} == {E.RATE_LIMITED}
    assert a.pending(protocol.EV_ERROR) == []  # each refusal came in its ack
    # Exactly the accepted ones were stored and delivered, in id order.
    accepted = sorted(ack["message"]["id"] for ack in acks if ack["ok"])
    got = [(await b.next(protocol.EV_CHAT_MESSAGE))["id"] for _ in accepted]
    assert got == accepted
    # The limit is per user, whatever the socket; other users are not affected.
    status, page = history(daemon, b.user.token, room, limit=200)
    assert status == 200 and [m["id"] for m in page["messages"]] == accepted
    sent = await b.say(room, "bob is not limited")
    assert await b.next(protocol.EV_CHAT_MESSAGE) == sent
    assert a.sio.connected


# --- chat ------------------------------------------------------------------------------------
async def test_message_is_stored_acknowledged_and_fanned_out(
    daemon: Daemon, duo: tuple[str, Peer, Peer]
) -> None:
    room, a, b = duo
    sent = await a.say(room, "hello bob")
    assert sent["username"] == a.user.username and sent["room_id"] == room
    assert sent["user_id"] == a.user.user_id and sent["created_at"].endswith("Z")
    assert await b.next(protocol.EV_CHAT_MESSAGE) == sent
    assert await a.next(protocol.EV_CHAT_MESSAGE) == sent  # the sender's sockets see it too
    reply = await b.say(room, "hi alice")
    assert await a.next(protocol.EV_CHAT_MESSAGE) == reply
    assert reply["id"] > sent["id"]
    status, page = history(daemon, a.user.token, room)
    assert status == 200
    assert page == {"room_id": room, "messages": [sent, reply], "has_more": False}


async def test_reconnect_with_since_gets_the_missed_messages_first(
    daemon: Daemon, duo: tuple[str, Peer, Peer]
) -> None:
    room, a, b = duo
    seen = await a.say(room, "before the gap")
    await a.close()
    missed = [await b.say(room, f"missed {i}") for i in range(3)]
    a2 = await connect(daemon, a.user)
    try:
        ack = await a2.join(room, since=seen["id"])
        assert ack["synced"] == 3 and ack["truncated"] is False
        # The backlog arrived before the ack, so it is already queued, in order.
        assert a2.pending(protocol.EV_CHAT_MESSAGE) == missed
        live = await b.say(room, "live")
        assert await a2.next(protocol.EV_CHAT_MESSAGE) == live
    finally:
        await a2.close()


async def test_join_racing_live_messages_misses_nothing_and_repeats_nothing(
    daemon: Daemon, accounts: Accounts, duo: tuple[str, Peer, Peer]
) -> None:
    room, a, b = duo
    first = await a.say(room, "start")
    carol = accounts.make()
    # Several senders keep the room busy while a new socket joins with `since`.
    writers = [a.user, b.user, carol]
    from chatkit import join_http

    join_http(daemon, carol, room)
    peers = [await connect(daemon, u) for u in writers]
    for p in peers:
        await p.join(room)

    async def talk(p: Peer) -> None:
        for i in range(8):
            await p.say(room, f"{p.user.username} {i}")

    late = await connect(daemon, a.user)
    try:
        talking = [asyncio.create_task(talk(p)) for p in peers]
        await asyncio.sleep(0)  # let the writers start before the join goes out
        await late.join(room, since=first["id"])
        await asyncio.gather(*talking)
        marker = await b.say(room, "end")
        got: list[int] = []
        while not got or got[-1] != marker["id"]:
            got.append((await late.next(protocol.EV_CHAT_MESSAGE))["id"])
        _, page = history(daemon, a.user.token, room, limit=200)
        stored = [m["id"] for m in page["messages"] if m["id"] > first["id"]]
        assert got == stored  # every message after `since`, once, in id order
    finally:
        for p in [*peers, late]:
            await p.close()


async def test_sync_is_capped_and_says_so(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(VIDEONET_CHAT_SYNC_MAX="2")
    accounts = Accounts(d, tmp_path)
    alice = accounts.make()
    room = create_room(d, alice)
    a = await connect(d, alice)
    try:
        await a.join(room)
        sent = [await a.say(room, f"m{i}") for i in range(5)]
        a.pending(protocol.EV_CHAT_MESSAGE)
        ack = await a.join(room, since=0)
        assert ack["synced"] == 2 and ack["truncated"] is True
        assert a.pending(protocol.EV_CHAT_MESSAGE) == sent[-2:]  # the newest, oldest first
    finally:
        await a.close()


async def test_history_pages(
    daemon: Daemon, accounts: Accounts, duo: tuple[str, Peer, Peer]
) -> None:
    room, a, b = duo
    sent = [await a.say(room, f"page {i}") for i in range(5)]
    token = b.user.token
    status, page = history(daemon, token, room, limit=2)
    assert status == 200 and page["messages"] == sent[3:] and page["has_more"] is True
    status, page = history(daemon, token, room, limit=2, before=sent[3]["id"])
    assert page["messages"] == sent[1:3] and page["has_more"] is True
    status, page = history(daemon, token, room, limit=2, before=sent[1]["id"])
    assert page["messages"] == sent[:1] and page["has_more"] is False
    stranger = accounts.make()
    assert history(daemon, stranger.token, room)[0] == 403
    assert history(daemon, token, "no-such-room")[0] == 404
    assert history(daemon, None, room)[0] == 401
    for bad in ({"limit": 0}, {"limit": 201}, {"limit": "x"}, {"before": "x"}, {"before": 0}):
        status, body = history(daemon, token, room, **bad)
        assert status == 400 and body["error"]["code"] == E.VALIDATION, bad


# --- presence --------------------------------------------------------------------------------
async def test_presence_with_several_sockets_per_user(daemon: Daemon, accounts: Accounts) -> None:
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    a = await connect(daemon, alice)
    b1, b2 = await connect(daemon, bob), await connect(daemon, bob)
    try:
        ack = await a.join(room)
        assert ack["online"] == [{"user_id": alice.user_id, "username": alice.username}]
        await b1.join(room)
        event = await a.next(protocol.EV_PRESENCE)
        assert event == {
            "room_id": room,
            "user_id": bob.user_id,
            "username": bob.username,
            "status": protocol.PRESENCE_ONLINE,
        }
        ack = await b2.join(room)  # bob's second socket: no news for alice
        assert sorted(u["user_id"] for u in ack["online"]) == sorted([alice.user_id, bob.user_id])
        await b1.close()  # bob is still online through b2
        who = await a.call(protocol.EV_PRESENCE_WHO, {"room_id": room})
        assert who["ok"] and len(who["online"]) == 2
        await b2.call(protocol.EV_ROOM_LEAVE, {"room_id": room})
        event = await a.next(protocol.EV_PRESENCE)
        assert (event["user_id"], event["status"]) == (bob.user_id, protocol.PRESENCE_OFFLINE)
        assert a.pending(protocol.EV_PRESENCE) == []  # the first socket's exit said nothing
        await b2.join(room)
        assert (await a.next(protocol.EV_PRESENCE))["status"] == protocol.PRESENCE_ONLINE
        await b2.close()  # a disconnect counts as going away
        assert (await a.next(protocol.EV_PRESENCE))["status"] == protocol.PRESENCE_OFFLINE
        who = await a.call(protocol.EV_PRESENCE_WHO, {"room_id": room})
        assert [u["user_id"] for u in who["online"]] == [alice.user_id]
    finally:
        for p in (a, b1, b2):
            await p.close()


async def test_leaving_over_http_stops_delivery(daemon: Daemon, accounts: Accounts) -> None:
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    other_room = create_room(daemon, alice, bob)
    a = await connect(daemon, alice)
    b1, b2 = await connect(daemon, bob), await connect(daemon, bob)
    try:
        await a.join(room)
        for p in (b1, b2):
            await p.join(room)
            await p.join(other_room)
        leave_http(daemon, bob, room)
        for p in (b1, b2):
            assert await p.next(protocol.EV_ROOM_REMOVED) == {"room_id": room}
        event = await a.next(protocol.EV_PRESENCE)
        assert event["status"] == protocol.PRESENCE_ONLINE  # bob's arrival
        event = await a.next(protocol.EV_PRESENCE)
        assert (event["user_id"], event["status"]) == (bob.user_id, protocol.PRESENCE_OFFLINE)
        await a.say(room, "bob should not see this")
        # Sent after the first message was fanned out: had bob still been in the channel, the
        # first would have reached his sockets before this one.
        await a.join(other_room)
        marker = await a.say(other_room, "marker")
        for p in (b1, b2):
            assert await p.next(protocol.EV_CHAT_MESSAGE) == marker
            assert p.pending(protocol.EV_CHAT_MESSAGE) == []
            await p.refused(protocol.EV_ROOM_JOIN, {"room_id": room}, E.FORBIDDEN)
            await p.refused(protocol.EV_CHAT_SEND, {"room_id": room, "text": "x"}, E.FORBIDDEN)
    finally:
        for p in (a, b1, b2):
            await p.close()


def _remove_membership_behind_the_daemon(daemon: Daemon, room_id: str, user_id: int) -> None:
    """Delete a membership in the database itself, as another daemon would, with no event to
    this daemon: its sockets stay in the room's channel (the window before a bus message)."""
    sql = "DELETE FROM room_members WHERE room_id = $1 AND user_id = $2"
    if daemon.db_args:
        import asyncpg

        async def go() -> None:
            conn = await asyncpg.connect(daemon.db_args[1])
            try:
                await conn.execute(sql, room_id, user_id)
            finally:
                await conn.close()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, go()).result()
    else:
        with sqlite3.connect(daemon.data_dir / "videonet.db") as conn:
            conn.execute(sql.replace("$1", "?").replace("$2", "?"), (room_id, user_id))


async def test_a_message_is_stored_only_if_its_sender_is_still_a_member(
    daemon: Daemon, duo: tuple[str, Peer, Peer]
) -> None:
    room, a, b = duo
    kept = await b.say(room, "before")
    _remove_membership_behind_the_daemon(daemon, room, b.user.user_id)
    # Still in the channel on this daemon, no longer a member: the write itself refuses it.
    await b.refused(protocol.EV_CHAT_SEND, {"room_id": room, "text": "after"}, E.FORBIDDEN)
    status, page = history(daemon, a.user.token, room)
    assert status == 200
    texts = [m["text"] for m in page["messages"]]
    assert texts[-1] == kept["text"] and "after" not in texts
    # The others go on: one refused row does not fail the batch it was written with.
    await a.say(room, "still here")
