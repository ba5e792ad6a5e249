"""Rooms: unique names, lookup by name with did-you-mean, pages, rename, delete, private rooms.

Each test here failed before: names could repeat, commands downloaded every room to find one,
an unknown name had no hint, there was no way to rename or delete a room, and every account
could see, join and read every room.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from chatkit import Accounts, connect
from transfer_helpers import offer_payload
from videonet_protocol import protocol

from conftest import Cli, Daemon, User, http


def tag() -> str:
    return uuid.uuid4().hex[:8]


def create(daemon: Daemon, user: User, name: str, **extra: Any) -> tuple[int, Any]:
    status, body, _ = http(
        "POST", daemon.api(protocol.API_ROOM_CREATE), {"name": name, **extra}, user.token
    )
    return status, body


def lookup(daemon: Daemon, user: User, ref: str) -> tuple[int, Any]:
    from urllib.parse import quote

    status, body, _ = http(
        "GET", daemon.api(f"{protocol.API_ROOM_LOOKUP}?ref={quote(ref)}"), token=user.token
    )
    return status, body


def cli_for(daemon: Daemon, user: User) -> Cli:
    return Cli(daemon.url, user.config_dir, user.token)


def test_names_are_unique_whatever_the_case(daemon: Daemon, user: User) -> None:
    name = f"Studio {tag()}"
    assert create(daemon, user, name)[0] == 201
    for twin in (name.upper(), name.lower(), name.replace(" ", "   ")):
        status, body = create(daemon, user, twin)
        assert status == 409, body
        assert body["error"]["code"] == "conflict"


def test_lookup_by_name_id_and_folded_name(daemon: Daemon, user: User) -> None:
    name = f"Kitchen {tag()}"
    _, room = create(daemon, user, name)
    for ref in (name, name.upper(), room["id"]):
        status, found = lookup(daemon, user, ref)
        assert status == 200 and found["id"] == room["id"], (ref, found)


def test_an_unknown_name_gets_did_you_mean(daemon: Daemon, user: User) -> None:
    name = f"orchestra-{tag()}"
    create(daemon, user, name)
    status, body = lookup(daemon, user, name[:-1] + "x")
    assert status == 404
    assert body["error"]["message"] == f"no room named {name[:-1] + 'x'!r}; did you mean {name!r}?"
    r = cli_for(daemon, user)("rooms", "join", name[:-1] + "x")
    assert r.code == 4
    assert f"did you mean {name!r}?" in r.err and "`videonet rooms list`" in r.err
    assert r.err.count("\n") == 1


def test_list_pages_and_mine(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory()
    alice, bob = d.make_user(tmp_path), d.make_user(tmp_path)
    names = [f"room-{i:02d}" for i in range(7)]
    for name in names:
        assert create(d, alice, name)[0] == 201
    create(d, bob, "bobs-own")
    seen: list[str] = []
    cursor = ""
    while True:
        status, page, _ = http("GET", d.api(f"/api/rooms?limit=3{cursor}"), token=bob.token)
        assert status == 200 and len(page["rooms"]) <= 3
        seen += [r["name"] for r in page["rooms"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == sorted(["bobs-own", *names])
    status, page, _ = http("GET", d.api("/api/rooms?mine=1"), token=bob.token)
    assert [r["name"] for r in page["rooms"]] == ["bobs-own"]
    for bad in ("limit=0", "limit=501", "limit=x", "cursor=%%%"):
        status, body, _ = http("GET", d.api(f"/api/rooms?{bad}"), token=bob.token)
        assert status == 400 and body["error"]["code"] == "validation_error", bad

    cli = cli_for(d, bob)
    r = cli("rooms", "list", "--limit", "2", "--json")
    assert [x["name"] for x in r.json()] == ["bobs-own", "room-00"]
    r = cli("rooms", "list", "--limit", "2")
    assert r.code == 0 and "Showing the first 2 rooms; --all shows every one" in r.out
    assert len(cli("rooms", "list", "--all", "--json").json()) == 8
    assert [x["name"] for x in cli("rooms", "list", "--mine", "--json").json()] == ["bobs-own"]
    r = cli("rooms", "list", "--limit", "0")
    assert r.code == 2


def test_rename_and_delete_by_the_creator_only(daemon: Daemon, tmp_path: Path) -> None:
    alice, bob = daemon.make_user(tmp_path), daemon.make_user(tmp_path)
    name = f"plans-{tag()}"
    _, room = create(daemon, alice, name)
    http("POST", daemon.api(protocol.API_ROOM_JOIN.format(room_id=room["id"])), {}, bob.token)
    bob_cli, alice_cli = cli_for(daemon, bob), cli_for(daemon, alice)

    r = bob_cli("rooms", "rename", name, "mine-now")
    assert r.code == 3 and r.err.strip() == "Error: only the room's creator may do that"
    r = bob_cli("rooms", "delete", name, "--yes")
    assert r.code == 3 and "only the room's creator" in r.err

    taken = f"taken-{tag()}"
    create(daemon, alice, taken)
    r = alice_cli("rooms", "rename", name, taken.upper())
    assert r.code == 1 and "already exists" in r.err
    new = f"plans-v2-{tag()}"
    r = alice_cli("rooms", "rename", name, new)
    assert r.code == 0 and r.out.strip() == f"Renamed {name} to {new}."
    assert lookup(daemon, alice, new)[1]["id"] == room["id"]

    r = alice_cli("rooms", "delete", new, input="n\n")
    assert r.code == 1 and "Error: cancelled: the room was not deleted" in r.err
    assert lookup(daemon, alice, new)[0] == 200  # not confirmed: kept
    r = alice_cli("rooms", "delete", new, input="y\n")
    assert r.code == 0 and r.out.strip().endswith(f"Deleted {new}.")
    assert lookup(daemon, alice, room["id"])[0] == 404
    r = alice_cli("rooms", "delete", room["id"], "--yes")
    assert r.code == 4


async def test_members_hear_of_a_rename_and_leave_a_deleted_room(
    daemon: Daemon, tmp_path: Path
) -> None:
    accounts = Accounts(daemon, tmp_path)
    alice, bob = accounts.make(), accounts.make()
    _, room = create(daemon, alice, f"live-{tag()}")
    room_id = room["id"]
    http("POST", daemon.api(protocol.API_ROOM_JOIN.format(room_id=room_id)), {}, bob.token)
    peer = await connect(daemon, bob)
    for event in (protocol.EV_ROOM_RENAMED, protocol.EV_ROOM_DELETED):
        peer.sio.on(event, lambda data, e=event: peer.queue(e).put_nowait(data))
    try:
        await peer.join(room_id)
        path = protocol.API_ROOM_RENAME.format(room_id=room_id)
        assert http("POST", daemon.api(path), {"name": "renamed-" + tag()}, alice.token)[0] == 200
        renamed = await peer.next(protocol.EV_ROOM_RENAMED)
        assert renamed["room_id"] == room_id and renamed["name"].startswith("renamed-")

        offer = await peer.call(protocol.EV_TRANSFER_OFFER, offer_payload(room_id, "a.bin", 26))
        spooled = daemon.data_dir / "spool" / f"{offer['transfer']['transfer_id']}.spool"
        assert spooled.exists()

        path = protocol.API_ROOM.format(room_id=room_id)
        status, body, _ = http("DELETE", daemon.api(path), token=alice.token)
        assert status == 200 and body == {"room_id": room_id, "deleted": True}
        gone = await peer.next(protocol.EV_ROOM_DELETED)
        assert gone["room_id"] == room_id
        assert not spooled.exists()  # the room's files went with it
        # The room is gone: chatting there is refused as for any room that does not exist.
        await peer.refused(
            protocol.EV_CHAT_SEND, {"room_id": room_id, "text": "hello?"}, "not_found"
        )
    finally:
        await peer.close()


def test_private_rooms_are_invisible_to_strangers(daemon: Daemon, tmp_path: Path) -> None:
    alice, bob, eve = (daemon.make_user(tmp_path) for _ in range(3))
    name = f"secret-{tag()}"
    alice_cli = cli_for(daemon, alice)
    r = alice_cli("rooms", "create", name, "--private", "--json")
    assert r.code == 0 and r.json()["private"] is True
    room_id = r.json()["id"]

    # A stranger: not in lists, 404 (never 403) on its id and name, and no did-you-mean.
    status, page, _ = http("GET", daemon.api("/api/rooms?limit=500"), token=eve.token)
    assert room_id not in {x["id"] for x in page["rooms"]}
    for method, path in (
        ("GET", protocol.API_ROOM),
        ("POST", protocol.API_ROOM_JOIN),
        ("GET", protocol.API_ROOM_MEMBERS),
        ("GET", protocol.API_ROOM_KEYS),
        ("GET", protocol.API_ROOM_MESSAGES),
        ("POST", protocol.API_ROOM_INVITE),
    ):
        status, body, _ = http(
            method, daemon.api(path.format(room_id=room_id)),
            {"username": eve.username} if method == "POST" else None, eve.token,
        )  # fmt: skip
        assert status == 404, (path, body)
    status, body = lookup(daemon, eve, name)
    # Other tests' public rooms on the shared daemon may be suggested; the private one never is.
    message = body["error"]["message"]
    suggested = message.split("did you mean", 1)[1] if "did you mean" in message else ""
    assert status == 404 and name not in suggested, message
    status, body = lookup(daemon, eve, name[:-1])
    assert status == 404 and name not in body["error"]["message"]

    # A member adds bob; now bob sees it and can read it.
    r = alice_cli("rooms", "invite", name, bob.username)
    assert r.code == 0 and r.out.strip() == f"Added {bob.username} (#{bob.user_id}) to {name}."
    assert lookup(daemon, bob, name)[0] == 200
    r = cli_for(daemon, bob)("rooms", "list", "--mine", "--json")
    assert room_id in {x["id"] for x in r.json()}
    r = alice_cli("rooms", "invite", name, "nobody-" + tag())
    assert r.code == 4 and "no account is named" in r.err
