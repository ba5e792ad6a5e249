"""Cookie-authenticated writes from other sites are refused; bodies must be JSON.

Before, a page on another site could post text/plain or form-encoded bodies with the victim's
cookie and the daemon answered 201 (a room, a 10,000-use invite).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from videonet_protocol import protocol

from conftest import Daemon, User, http

pytestmark = pytest.mark.one_pass("the request layer's cross-site checks: no database")

EVIL = "https://evil.example"


def send(
    daemon: Daemon,
    path: str,
    body: bytes,
    content_type: str,
    *,
    cookie: str | None = None,
    bearer: str | None = None,
    origin: str | None = None,
    fetch_site: str | None = None,
) -> tuple[int, Any]:
    req = urllib.request.Request(daemon.api(path), data=body, method="POST")
    req.add_header("Content-Type", content_type)
    if cookie:
        req.add_header("Cookie", f"{protocol.AUTH_COOKIE}={cookie}")
    if bearer:
        req.add_header("Authorization", f"Bearer {bearer}")
    if origin:
        req.add_header("Origin", origin)
    if fetch_site:
        req.add_header("Sec-Fetch-Site", fetch_site)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def invites_of(daemon: Daemon, user: User) -> int:
    status, body, _ = http("GET", daemon.api(protocol.API_INVITES), token=user.token)
    assert status == 200
    return len(body)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"uses": 10000}', "text/plain"),
        (b"uses=10000", "application/x-www-form-urlencoded"),
        (b'{"uses": 10000}', "application/json"),
    ],
)
def test_a_foreign_origin_cannot_write_with_the_cookie(
    daemon: Daemon, user: User, body: bytes, content_type: str
) -> None:
    before = invites_of(daemon, user)
    status, reply = send(
        daemon, protocol.API_INVITES, body, content_type, cookie=user.token, origin=EVIL
    )
    assert status == 403, reply
    assert reply["error"]["code"] == "forbidden"
    assert invites_of(daemon, user) == before


def test_a_cross_site_fetch_without_origin_is_refused(daemon: Daemon, user: User) -> None:
    status, reply = send(
        daemon, protocol.API_ROOM_CREATE, b'{"name": "x"}', "text/plain",
        cookie=user.token, fetch_site="cross-site",
    )  # fmt: skip
    assert status == 403, reply


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415(daemon: Daemon, user: User, content_type: str) -> None:
    # Same origin or no browser at all: the content type alone is refused.
    for headers in ({"cookie": user.token, "origin": daemon.url}, {"bearer": user.token}):
        status, reply = send(daemon, protocol.API_ROOM_CREATE, b'{"name": "x"}', content_type,
                             **headers)  # fmt: skip
        assert status == 415, reply
        assert reply["error"]["code"] == "unsupported_media_type"


def test_same_origin_and_allowed_and_bearer_writes_work(daemon_factory: Any, tmp_path: Any) -> None:
    d = daemon_factory(VIDEONET_WEB_ALLOWED_ORIGINS="https://app.example")
    u = d.make_user(tmp_path)
    body = b'{"uses": 1}'
    ok = [
        send(d, protocol.API_INVITES, body, "application/json", cookie=u.token, origin=d.url),
        send(d, protocol.API_INVITES, body, "application/json", cookie=u.token,
             origin="https://app.example"),
        send(d, protocol.API_INVITES, body, "application/json", cookie=u.token),
        # A bearer token is never sent by a browser on its own: any origin may use one.
        send(d, protocol.API_INVITES, body, "application/json", bearer=u.token, origin=EVIL),
    ]  # fmt: skip
    assert [status for status, _ in ok] == [201] * 4, ok


def test_login_from_a_foreign_page_is_refused(daemon: Daemon, user: User) -> None:
    # Login CSRF: another site must not log the browser in to an account of its choosing.
    body = json.dumps({"email": user.email, "password": user.password}).encode()
    status, reply = send(daemon, protocol.API_LOGIN, body, "application/json", origin=EVIL)
    assert status == 403, reply
