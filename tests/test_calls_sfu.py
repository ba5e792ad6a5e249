"""The daemon as the control plane of Janus (VideoRoom): what a participant gets at call:join,
and that nobody gets into a room's VideoRoom without it.

Janus and the daemon run inside a network namespace the module makes (tests/media_env.py); the
participants here speak Socket.IO and Janus's HTTP API directly (no media: test_calls_sfu_media
sends it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from calls_helpers import Peer, refused
from janus_server import RawJanus
from media_env import SfuWorld, sfu_world
from transfer_helpers import make_room, member
from videonet_protocol import protocol

from conftest import Daemon, http

pytestmark = pytest.mark.one_pass("calls through Janus: no database in the media path")

UNAUTHORIZED = 433  # JANUS_VIDEOROOM_ERROR_UNAUTHORIZED (wrong pin)
NO_SUCH_ROOM = 426
MISSING_ELEMENT = 429  # no pin at all


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SfuWorld]:
    with sfu_world(tmp_path_factory.mktemp("sfu")) as w:
        yield w


@pytest.fixture(scope="module")
def daemon(world: SfuWorld) -> Daemon:
    return world.daemon


async def joined(d: Daemon, token: str, room_id: str) -> dict[str, object]:
    async with Peer(d, token) as peer:
        return await peer.enter(room_id)


def test_call_join_hands_out_a_token_and_the_pin_of_its_room_only(
    world: SfuWorld, tmp_path: Path
) -> None:
    d = world.daemon
    alice, bob = member(d, tmp_path), member(d, tmp_path)
    room_a, room_b = make_room(d, alice, "a"), make_room(d, bob, "b")

    async def scenario() -> None:
        # Both stay connected: a participant who drops is revoked (and the pin changes).
        async with Peer(d, alice.user.token) as a, Peer(d, bob.user.token) as b:
            access_a = (await a.enter(room_a))["media"]
            access_b = (await b.enter(room_b))["media"]
            assert access_a["room"] == room_a and access_a["server"] == world.janus.url
            assert access_a["token_expires_at"] > time.time() + 60
            assert access_a["pin"] != access_b["pin"]
            await asyncio.to_thread(check_pins, access_a, access_b)

    def check_pins(access_a: dict[str, str], access_b: dict[str, str]) -> None:
        # Alice's token and pin open room A ...
        janus = RawJanus(world.janus.url, access_a["token"])
        assert janus.attach()["janus"] == "success"
        body = {"request": "join", "ptype": "publisher", "room": room_a, "pin": access_a["pin"]}
        ok = janus.join(body)
        assert ok.get("videoroom") == "joined", ok
        # ... but not room B: a valid token opens the plugin, the pin keeps her out.
        other = RawJanus(world.janus.url, access_a["token"])
        other.attach()
        for pin in (access_a["pin"], "", None):
            body = {"request": "join", "ptype": "publisher", "room": room_b}
            if pin is not None:
                body["pin"] = pin
            no = other.join(body)
            assert no.get("error_code") in (UNAUTHORIZED, MISSING_ELEMENT), no
        # Nor can she destroy it without its secret.
        for guess in ({}, {"secret": access_a["pin"]}):
            gone = other.join({"request": "destroy", "room": room_b, **guess})
            assert gone.get("error_code") in (UNAUTHORIZED, MISSING_ELEMENT), gone
        # Bob's pin opens B.
        bob = RawJanus(world.janus.url, access_b["token"])
        bob.attach()
        body = {"request": "join", "ptype": "publisher", "room": room_b, "pin": access_b["pin"]}
        assert bob.join(body).get("videoroom") == "joined"

    asyncio.run(scenario())


def test_a_request_without_a_token_or_with_a_forged_one_is_refused(world: SfuWorld) -> None:
    for token in (None, "", f"{int(time.time()) + 600},janus,janus.plugin.videoroom:Zm9yZ2Vk"):
        answer = RawJanus(world.janus.url, token).attach()
        assert answer["janus"] == "error", answer
        assert answer["error"]["code"] == 403, answer  # type: ignore[index]


def test_an_expired_token_is_refused(world: SfuWorld) -> None:
    from videonet_daemon.calls.media_server import signed_token

    stale = signed_token(world.janus.token_secret, int(time.time()) - 5)
    assert RawJanus(world.janus.url, stale).attach()["janus"] == "error"
    fresh = signed_token(world.janus.token_secret, int(time.time()) + 60)
    assert RawJanus(world.janus.url, fresh).attach()["janus"] == "success"


def test_a_refreshed_token_and_the_pin_only_for_members_in_the_call(
    world: SfuWorld, tmp_path: Path
) -> None:
    d = world.daemon
    alice, eve = member(d, tmp_path), member(d, tmp_path)
    room = make_room(d, alice, "refresh")

    async def scenario() -> None:
        async with Peer(d, alice.user.token) as a, Peer(d, eve.user.token) as e:
            first = await a.enter(room)
            again = await a.call("call:media_token", {"room_id": room})
            assert again["ok"] and again["pin"] == first["media"]["pin"]
            assert refused(await e.call("call:media_token", {"room_id": room}), "forbidden")
            assert refused(await e.call("call:join", {"room_id": room}), "forbidden")

    asyncio.run(scenario())


def test_a_member_who_leaves_the_room_is_kicked_and_the_pin_changes(
    world: SfuWorld, tmp_path: Path
) -> None:
    d = world.daemon
    alice = member(d, tmp_path)
    room = make_room(d, alice, "kick")
    bob = member(d, tmp_path, room)

    async def scenario() -> None:
        async with Peer(d, alice.user.token) as a, Peer(d, bob.user.token) as b:
            await a.enter(room)
            access = (await b.enter(room))["media"]
            janus = RawJanus(world.janus.url, access["token"])
            janus.attach()
            body = {"request": "join", "ptype": "publisher", "room": room, "id": b.peer_id}
            answer = await asyncio.to_thread(janus.join, {**body, "pin": access["pin"]})
            assert answer.get("videoroom") == "joined", answer
            status, _, _ = http("POST", d.api(f"/api/rooms/{room}/leave"), {}, token=bob.user.token)
            assert status == 200
            await a.next("call:left")
            # Janus hears it within moments: the old pin no longer opens the room.
            deadline = time.monotonic() + 15
            while True:
                again = RawJanus(world.janus.url, access["token"])
                again.attach()
                retry = {**body, "id": "bob-again", "pin": access["pin"]}
                answer = await asyncio.to_thread(again.join, retry)
                if answer.get("error_code") == UNAUTHORIZED or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            assert answer.get("error_code") == UNAUTHORIZED, answer
            fresh = await a.call("call:media_token", {"room_id": room})
            assert fresh["pin"] != access["pin"]

    asyncio.run(scenario())


def test_deleting_the_room_destroys_its_videoroom(world: SfuWorld, tmp_path: Path) -> None:
    d = world.daemon
    alice = member(d, tmp_path)
    room = make_room(d, alice, "gone")
    access = asyncio.run(joined(d, alice.user.token, room))["media"]
    assert isinstance(access, dict)
    status, _, _ = http("DELETE", d.api(f"/api/rooms/{room}"), token=alice.user.token)
    assert status in (200, 204)
    deadline = time.monotonic() + 15
    while True:
        janus = RawJanus(world.janus.url, str(access["token"]))
        janus.attach()
        body = {"request": "join", "ptype": "publisher", "room": room, "pin": access["pin"]}
        answer = janus.join(body)
        if answer.get("error_code") == NO_SUCH_ROOM or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert answer.get("error_code") == NO_SUCH_ROOM, answer


def test_health_names_the_media_server_while_janus_is_down(world: SfuWorld) -> None:
    d = world.daemon
    status, body, _ = http("GET", d.api("/api/health"))
    assert status == 200 and body["dependencies"]["media_server"] == protocol.DEPENDENCY_OK
    world.janus.stop()
    try:
        status, body, _ = http("GET", d.api("/api/health"))
        assert status == 503 and body["dependencies"]["media_server"] == protocol.DEPENDENCY_DOWN, (
            body
        )
    finally:
        world.janus.start()
    status, body, _ = http("GET", d.api("/api/health"))
    assert status == 200 and body["dependencies"]["media_server"] == protocol.DEPENDENCY_OK


def test_joining_while_janus_is_down_is_refused_then_works_after_it_restarts(
    world: SfuWorld, tmp_path: Path
) -> None:
    d = world.daemon
    alice = member(d, tmp_path)
    room = make_room(d, alice, "down")
    world.janus.stop()

    async def try_join() -> dict[str, object]:
        async with Peer(d, alice.user.token) as a:
            assert (await a.call("room:join", {"room_id": room}))["ok"]
            return await a.call("call:join", {"room_id": room})

    try:
        assert refused(asyncio.run(try_join()), "unavailable")
    finally:
        world.janus.start()
    ack = asyncio.run(try_join())
    assert ack["ok"] and ack["media"]["room"] == room, ack  # type: ignore[index]
