"""The Origin check is skipped only for requests a bearer token authenticates.

Before, any `Authorization` header skipped it, and the token then fell back to the login cookie:
a form behind a Basic-auth proxy (the browser adds the proxy's credentials on its own) made a
logged-in browser leave a room.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from chatkit import Accounts, create_room
from videonet_protocol import protocol

from conftest import Daemon, http

pytestmark = pytest.mark.one_pass("the request layer's Origin and token checks: no database")

EVIL = "https://evil.example"


def post(daemon: Daemon, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    req = urllib.request.Request(daemon.api(path), data=b"{}", method="POST")
    req.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Digest username=x", "Bearer", "Bearer   ", "Token abc"],
)
def test_a_cookie_write_with_another_authorization_is_origin_checked(
    daemon: Daemon, tmp_path: Any, authorization: str
) -> None:
    accounts = Accounts(daemon, tmp_path)
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, bob, alice)
    cookie = f"{protocol.AUTH_COOKIE}={alice.token}"
    status, reply = post(
        daemon,
        protocol.API_ROOM_LEAVE.format(room_id=room),
        {"Cookie": cookie, "Authorization": authorization, "Origin": EVIL},
    )
    assert status == 403, reply
    assert reply["error"]["code"] == "forbidden"
    status, members, _ = http(
        "GET", daemon.api(protocol.API_ROOM_MEMBERS.format(room_id=room)), token=alice.token
    )
    assert status == 200 and alice.user_id in [m["user_id"] for m in members], members


def test_a_bearer_token_from_any_origin_still_works(daemon: Daemon, tmp_path: Any) -> None:
    accounts = Accounts(daemon, tmp_path)
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, bob, alice)
    status, reply = post(
        daemon,
        protocol.API_ROOM_LEAVE.format(room_id=room),
        {"Authorization": f"Bearer {alice.token}", "Origin": EVIL},
    )
    assert status == 200, reply
