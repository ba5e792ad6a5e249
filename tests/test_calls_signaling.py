"""Call signaling through the real daemon: relaying to one peer, membership, limits, ICE servers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import pytest

from calls_helpers import SDP, Peer, received_in_order, refused, trickle
from transfer_helpers import make_room, member
from videonet_daemon.calls.ice import turn_credential
from videonet_daemon.realtime.ratelimit import TokenBuckets
from videonet_daemon.settings import Settings, SettingsError

from conftest import Daemon, http


@pytest.fixture
def room_of_two(daemon: Daemon, tmp_path: Path) -> tuple[str, str, str]:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "call")
    bob = member(daemon, tmp_path, room)
    return room, alice.user.token, bob.user.token


async def test_offer_answer_candidates_and_hangup_reach_only_the_named_peer(
    daemon: Daemon, room_of_two: tuple[str, str, str]
) -> None:
    room, alice_token, bob_token = room_of_two
    async with Peer(daemon, alice_token) as alice, Peer(daemon, bob_token) as bob:
        first = await alice.enter(room)
        assert first["participants"] == [] and first["ice_servers"] == []
        assert first["ice_expires_at"] is None and first["signal_max_bytes"] == 64 * 1024
        second = await bob.enter(room)
        assert [p["peer_id"] for p in second["participants"]] == [alice.peer_id]
        joined = await alice.next("call:joined")
        assert joined["peer"]["peer_id"] == bob.peer_id and joined["room_id"] == room

        ack = await bob.call("call:offer", {"room_id": room, "to": alice.peer_id, "sdp": SDP})
        assert ack == {"ok": True}
        offer = await alice.next("call:offer")
        assert offer["sdp"] == SDP and offer["peer"]["peer_id"] == bob.peer_id
        answer = {"room_id": room, "to": bob.peer_id, "sdp": SDP.replace("1 1", "2 2")}
        assert (await alice.call("call:answer", answer))["ok"]
        assert (await bob.next("call:answer"))["sdp"] == answer["sdp"]

        candidate = {"candidate": "candidate:1 1 udp 1 192.0.2.1 5000 typ host", "sdpMid": "0"}
        msg = {"room_id": room, "to": alice.peer_id, "candidate": candidate}
        assert (await bob.call("call:candidate", msg))["ok"]
        got = await alice.next("call:candidate")
        assert got["candidate"] == {**candidate, "sdpMLineIndex": None, "usernameFragment": None}
        assert (await bob.call("call:candidate", {**msg, "candidate": None}))["ok"]
        assert (await alice.next("call:candidate"))["candidate"] is None

        assert (await alice.call("call:hangup", {"room_id": room, "to": bob.peer_id}))["ok"]
        assert (await bob.next("call:hangup"))["reason"] == "hung up"

        assert (await bob.call("call:leave", {"room_id": room}))["ok"]
        left = await alice.next("call:left")
        assert left["peer"]["peer_id"] == bob.peer_id and left["reason"] == "left"
        # Nothing was echoed to the sender.
        assert bob.pending("call:offer") == bob.pending("call:candidate") == 0


async def test_a_peers_messages_arrive_in_the_order_it_sent_them(
    daemon: Daemon, room_of_two: tuple[str, str, str]
) -> None:
    # Each event is handled in a task of its own: without ordering, a candidate could overtake
    # its offer (and be dropped by a peer that does not know the connection yet), or the end of
    # candidates the last ones.
    room, alice_token, bob_token = room_of_two
    async with Peer(daemon, alice_token) as alice, Peer(daemon, bob_token) as bob:
        await alice.enter(room)
        await bob.enter(room)
        acks = await bob.send_all(trickle(room, alice.peer_id, 40))
        assert all(ack == {"ok": True} for ack in acks), acks
        sent = [f"candidate:{n} 1 udp 1 192.0.2.1 {5000 + n} typ host" for n in range(40)]
        assert await received_in_order(alice, 40) == [*sent, None]


async def test_a_non_member_cannot_join_or_signal(
    daemon: Daemon, tmp_path: Path, room_of_two: tuple[str, str, str]
) -> None:
    room, alice_token, _ = room_of_two
    mallory = member(daemon, tmp_path)
    async with Peer(daemon, alice_token) as alice, Peer(daemon, mallory.user.token) as stranger:
        await alice.enter(room)
        assert refused(await stranger.call("room:join", {"room_id": room}), "forbidden")
        assert refused(await stranger.call("call:join", {"room_id": room}), "forbidden")
        ack = await stranger.call("call:offer", {"room_id": room, "to": alice.peer_id, "sdp": SDP})
        assert refused(ack, "forbidden")
        assert stranger.pending("vn:error") == 0  # the ack carried the refusal
        await stranger.sio.emit("call:offer", {"room_id": room, "to": alice.peer_id, "sdp": SDP})
        assert (await stranger.next("vn:error"))["code"] == "forbidden"
        # One answer to a stranger from every room event: chat, presence and transfers too.
        for event, body in (
            ("chat:send", {"text": "hi"}),
            ("presence:who", {}),
            ("transfer:offer", {"name": "a", "size": 1}),
        ):
            assert refused(await stranger.call(event, {"room_id": room, **body}), "forbidden")
        assert alice.pending("call:offer") == 0


async def test_signaling_to_a_peer_outside_the_room_or_call_is_refused(
    daemon: Daemon, tmp_path: Path, room_of_two: tuple[str, str, str]
) -> None:
    room, alice_token, bob_token = room_of_two
    dave = member(daemon, tmp_path)
    other_room = make_room(daemon, dave, "elsewhere")
    async with (
        Peer(daemon, alice_token) as alice,
        Peer(daemon, bob_token) as bob,
        Peer(daemon, dave.user.token) as elsewhere,
    ):
        await alice.enter(room)
        await elsewhere.enter(other_room)
        to_dave = {"room_id": room, "to": elsewhere.peer_id, "sdp": SDP}
        assert refused(await alice.call("call:offer", to_dave), "not_found")
        unknown = {"room_id": room, "to": "no-such-peer", "sdp": SDP}
        assert refused(await alice.call("call:offer", unknown), "not_found")
        itself = {"room_id": room, "to": alice.peer_id, "sdp": SDP}
        assert refused(await alice.call("call:offer", itself), "validation_error")
        # Bob is a member but has not joined the call: he cannot signal into it yet.
        assert (await bob.call("room:join", {"room_id": room}))["ok"]
        to_alice = {"room_id": room, "to": alice.peer_id, "sdp": SDP}
        assert refused(await bob.call("call:offer", to_alice), "not_joined")
        assert refused(await bob.call("call:leave", {"room_id": room}), "not_joined")
        assert elsewhere.pending("call:offer") == alice.pending("call:offer") == 0


async def test_malformed_and_oversized_signaling_get_error_codes(
    daemon: Daemon, room_of_two: tuple[str, str, str]
) -> None:
    room, alice_token, bob_token = room_of_two
    async with Peer(daemon, alice_token) as alice, Peer(daemon, bob_token) as bob:
        await alice.enter(room)
        await bob.enter(room)
        to = {"room_id": room, "to": alice.peer_id}
        cases = [
            ("call:offer", {**to, "sdp": 42}, "validation_error"),
            ("call:offer", {**to, "sdp": "not an sdp"}, "validation_error"),
            ("call:answer", {"room_id": room, "sdp": SDP}, "validation_error"),
            ("call:candidate", {**to, "candidate": "candidate:1"}, "validation_error"),
            (
                "call:candidate",
                {**to, "candidate": {"candidate": "c", "sdpMLineIndex": -1}},
                "validation_error",
            ),
            ("call:candidate", to, "validation_error"),
            ("call:join", "just a string", "validation_error"),
            ("call:ring", {**to}, "unknown_event"),
        ]
        for event, payload, code in cases:
            ack = await bob.call(event, payload)
            assert refused(ack, code), (event, payload, ack)
        big = await bob.call("call:offer", {**to, "sdp": SDP + "a=x:" + "y" * 100_000 + "\r\n"})
        assert refused(big, "payload_too_large")
        assert alice.pending("call:offer") == 0
        # The daemon keeps serving: the same sockets still relay, HTTP still answers.
        assert (await bob.call("call:offer", {**to, "sdp": SDP}))["ok"]
        assert (await alice.next("call:offer"))["sdp"] == SDP
        assert http("GET", daemon.api("/api/health"))[0] == 200


async def test_disconnect_and_leaving_the_room_tell_the_others(
    daemon: Daemon, tmp_path: Path, room_of_two: tuple[str, str, str]
) -> None:
    room, alice_token, bob_token = room_of_two
    async with Peer(daemon, alice_token) as alice:
        await alice.enter(room)
        async with Peer(daemon, bob_token) as bob:
            await bob.enter(room)
            bob_id = bob.peer_id
            assert (await alice.next("call:joined"))["peer"]["peer_id"] == bob_id
        left = await alice.next("call:left")
        assert left["peer"]["peer_id"] == bob_id and left["reason"] == "disconnected"

        async with Peer(daemon, bob_token) as bob, Peer(daemon, bob_token) as bob_phone:
            await bob.enter(room)
            await bob_phone.enter(room)  # one user, two participants
            assert [(await alice.next("call:joined"))["peer"]["peer_id"] for _ in "ab"] == [
                bob.peer_id,
                bob_phone.peer_id,
            ]
            status, _, _ = http("POST", daemon.api(f"/api/rooms/{room}/leave"), {}, bob_token)
            assert status == 200
            gone = {(await alice.next("call:left"))["peer"]["peer_id"] for _ in "ab"}
            assert gone == {bob.peer_id, bob_phone.peer_id}
            told = await bob.next("call:left")
            assert told["peer"]["peer_id"] == bob.peer_id and told["reason"] == "left_room"
            to_alice = {"room_id": room, "to": alice.peer_id, "sdp": SDP}
            assert refused(await bob.call("call:offer", to_alice), "forbidden")


TURN_SECRET = "turn-shared-secret-for-tests"


@pytest.fixture
def turn_daemon(daemon_factory: Any) -> Daemon:
    """A daemon with STUN/TURN servers and a tight signaling rate (started outside the loop)."""
    d: Daemon = daemon_factory(
        VIDEONET_STUN_URLS="stun:stun.example.test:3478",
        VIDEONET_TURN_URLS="turn:turn.example.test:3478?transport=udp, turns:turn.example.test",
        VIDEONET_TURN_SECRET=TURN_SECRET,
        VIDEONET_TURN_CREDENTIAL_LIFETIME="600",
        VIDEONET_CALL_SIGNAL_BURST="5",
        VIDEONET_CALL_SIGNAL_RATE="1",
    )
    return d


async def test_turn_credentials_and_the_rate_limit(turn_daemon: Daemon, tmp_path: Path) -> None:
    d, secret = turn_daemon, TURN_SECRET
    alice = member(d, tmp_path)
    room = make_room(d, alice, "turn")
    async with Peer(d, alice.user.token) as peer:
        before = int(time.time())
        reply = await peer.enter(room)  # one token
        stun, turn = reply["ice_servers"]
        assert stun == {"urls": ["stun:stun.example.test:3478"]}
        assert turn["urls"] == [
            "turn:turn.example.test:3478?transport=udp",
            "turns:turn.example.test",
        ]
        expiry, user_id = turn["username"].split(":")
        assert user_id == str(alice.user.user_id)
        assert before + 600 <= int(expiry) == reply["ice_expires_at"] <= int(time.time()) + 600
        digest = hmac.new(secret.encode(), turn["username"].encode(), hashlib.sha1).digest()
        assert turn["credential"] == base64.b64encode(digest).decode()
        assert secret not in str(reply)

        codes = []
        for _ in range(8):
            ack = await peer.call("call:hangup", {"room_id": room, "to": "nobody"})
            codes.append(ack["error"]["code"])
        assert codes[:4] == ["not_found"] * 4  # the burst of 5, less the join
        assert "rate_limited" in codes[4:]
        assert (await peer.call("call:leave", {"room_id": room}))["ok"]  # leaving always works


def test_turn_credential_scheme_and_settings_checks() -> None:
    username, credential = turn_credential("s3cret", 42, 1_700_000_000)
    assert username == "1700000000:42"
    expected = hmac.new(b"s3cret", b"1700000000:42", hashlib.sha1).digest()
    assert base64.b64decode(credential) == expected
    with pytest.raises(SettingsError, match="TURN_SECRET"):
        Settings.load({"VIDEONET_TURN_URLS": "turn:t.example.test"})
    with pytest.raises(SettingsError, match="stun"):
        Settings.load({"VIDEONET_STUN_URLS": "http://stun.example.test"})


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2, burst=3, clock=lambda: now[0])
    assert [buckets.take("sid") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("sid") == pytest.approx(0.5)
    assert buckets.take("other") == 0.0  # one bucket per key
    now[0] += 0.5
    assert buckets.take("sid") == 0.0
    now[0] += 100
    assert [buckets.take("sid") for _ in range(4)][:3] == [0.0, 0.0, 0.0]


async def test_leaving_the_room_channel_leaves_the_call(
    daemon: Daemon, room_of_two: tuple[str, str, str]
) -> None:
    room, alice_token, bob_token = room_of_two
    async with Peer(daemon, alice_token) as alice, Peer(daemon, bob_token) as bob:
        await alice.enter(room)
        await bob.enter(room)
        assert (await bob.call("room:leave", {"room_id": room}))["ok"]
        left = await alice.next("call:left")
        assert left["peer"]["peer_id"] == bob.peer_id and left["reason"] == "left_room"
        to_alice = {"room_id": room, "to": alice.peer_id, "sdp": SDP}
        assert refused(await bob.call("call:offer", to_alice), "not_joined")


async def test_a_full_call_and_a_second_join_are_refused(
    daemon_factory: Any, tmp_path: Path
) -> None:
    d: Daemon = daemon_factory(VIDEONET_CALL_MAX_PARTICIPANTS="2")
    alice = member(d, tmp_path)
    room = make_room(d, alice, "small")
    bob, carol = member(d, tmp_path, room), member(d, tmp_path, room)
    async with (
        Peer(d, alice.user.token) as a,
        Peer(d, bob.user.token) as b,
        Peer(d, carol.user.token) as c,
    ):
        await a.enter(room)
        again = await a.call("call:join", {"room_id": room})
        assert refused(again, "conflict"), again
        await b.enter(room)
        assert (await c.call("room:join", {"room_id": room}))["ok"]
        full = await c.call("call:join", {"room_id": room})
        assert refused(full, "conflict") and "full" in full["error"]["message"], full
        # The refused one is not in the call: the others can leave and it can join then.
        assert (await b.call("call:leave", {"room_id": room}))["ok"]
        assert [p["peer_id"] for p in (await c.enter(room))["participants"]] == [a.peer_id]
