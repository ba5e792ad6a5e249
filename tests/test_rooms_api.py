"""Rooms over HTTP: create, list, join, leave, members, and membership checks."""

from __future__ import annotations

import uuid
from pathlib import Path

from conftest import Daemon, User, http


def create_room(daemon: Daemon, user: User, name: str = "lobby") -> dict[str, object]:
    unique = f"{name}-{uuid.uuid4().hex[:8]}"  # names are unique on the shared daemon
    status, room, _ = http(
        "POST", daemon.api("/api/rooms/create"), {"name": unique, "description": "d"}, user.token
    )
    assert status == 201, room
    return room  # type: ignore[no-any-return]


def test_room_lifecycle(daemon: Daemon, user: User, tmp_path: Path) -> None:
    other = daemon.make_user(tmp_path)
    room = create_room(daemon, user, "lifecycle")
    assert room["participant_count"] == 1 and room["is_joined"] is True
    assert room["creator_name"] == user.username

    status, listed, _ = http("GET", daemon.api("/api/rooms?limit=500"), token=other.token)
    mine = next(r for r in listed["rooms"] if r["id"] == room["id"])
    assert mine["is_joined"] is False
    assert set(mine) == {
        "id",
        "name",
        "description",
        "creator_name",
        "creator_id",
        "participant_count",
        "is_joined",
        "private",
        "created_at",
    }

    # Only members see members.
    status, body, _ = http("GET", daemon.api(f"/api/rooms/{room['id']}/members"), token=other.token)
    assert status == 403 and body["error"]["code"] == "forbidden"

    status, joined, _ = http("POST", daemon.api(f"/api/rooms/{room['id']}/join"), {}, other.token)
    assert status == 200 and joined["participant_count"] == 2 and joined["is_joined"]
    # Joining twice is harmless.
    status, again, _ = http("POST", daemon.api(f"/api/rooms/{room['id']}/join"), {}, other.token)
    assert status == 200 and again["participant_count"] == 2

    status, members, _ = http(
        "GET", daemon.api(f"/api/rooms/{room['id']}/members"), token=other.token
    )
    assert [m["username"] for m in members] == [user.username, other.username]

    status, left, _ = http("POST", daemon.api(f"/api/rooms/{room['id']}/leave"), {}, other.token)
    assert status == 200 and left["left"] is True
    status, left, _ = http("POST", daemon.api(f"/api/rooms/{room['id']}/leave"), {}, other.token)
    assert status == 200 and left["left"] is False


def test_missing_room_is_404(daemon: Daemon, user: User) -> None:
    for method, path in (
        ("POST", "/api/rooms/no-such-room/join"),
        ("POST", "/api/rooms/no-such-room/leave"),
        ("GET", "/api/rooms/no-such-room/members"),
    ):
        status, body, _ = http(
            method, daemon.api(path), {} if method == "POST" else None, user.token
        )
        assert status == 404 and body["error"]["code"] == "not_found", path


def test_room_bad_input(daemon: Daemon, user: User) -> None:
    for bad in ({"name": ""}, {"name": "x" * 101}, {"name": 5}, {"name": "ok", "description": 1}):
        status, body, _ = http("POST", daemon.api("/api/rooms/create"), bad, user.token)
        assert status == 400 and body["error"]["code"] == "validation_error", bad
