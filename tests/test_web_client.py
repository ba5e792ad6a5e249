"""The web client at / in a real headless Chromium: log in, rooms, chat, presence, the page's
security headers. Calls are in test_web_calls.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser_helpers import browser, log_in, messages, open_room, page_for, send_chat
from transfer_helpers import make_room, member

from conftest import Daemon, http

pytestmark = pytest.mark.one_pass("browser: the API tests cover its database paths")

__all__ = ["browser"]


def test_page_is_served_with_a_strict_content_security_policy(daemon: Daemon) -> None:
    import urllib.request

    with urllib.request.urlopen(daemon.url + "/") as response:
        csp = response.headers["Content-Security-Policy"]
        body = response.read().decode()
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "<script>" not in body and "style=" not in body
    with urllib.request.urlopen(daemon.url + "/static/socket.io.min.js") as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert b"Released under the MIT License" in response.read(300)
    status, body, _ = http("GET", daemon.url + "/static/..%2Fsettings.py")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_log_in_join_a_room_and_chat_with_another_browser_and_the_cli(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "web-chat")
    bob = member(daemon, tmp_path)  # not yet a member: joins from the page
    alice.cli("chat", room, "--send", "from before")

    page_a = page_for(browser, daemon)
    log_in(page_a, alice.user)
    open_room(page_a, room)
    assert messages(page_a) == ["from before"]  # history

    page_b = page_for(browser, daemon)
    log_in(page_b, bob.user)
    assert page_b.inner_text(f"#room-list li[data-room-id='{room}'] button") == "Join"
    open_room(page_b, room)
    # Presence: alice sees bob come online.
    page_a.wait_for_selector(f"#online li:text('{bob.user.username}')")

    send_chat(page_b, "hello from a browser")
    page_a.wait_for_selector("#messages .text:text('hello from a browser')")
    status, page, _ = http("GET", daemon.api(f"/api/rooms/{room}/messages"), token=alice.user.token)
    assert status == 200 and page["messages"][-1]["text"] == "hello from a browser"

    sent = bob.cli("chat", room, "--send", "hello from the cli")
    assert sent.code == 0, sent.err
    for page in (page_a, page_b):
        page.wait_for_selector("#messages .text:text('hello from the cli')")
    assert messages(page_b) == ["from before", "hello from a browser", "hello from the cli"]

    shot = tmp_path / "room.png"
    page_a.screenshot(path=str(shot), full_page=True)
    assert_not_blank(shot)
    page_b.context.close()
    page_a.wait_for_function(
        f"() => ![...document.querySelectorAll('#online li')].some(e => e.textContent === "
        f"'{bob.user.username}')"
    )
    assert page_a.errors == [] and page_b.errors == []
    page_a.context.close()


def test_bad_password_shows_one_line_and_stays_on_the_login_form(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    user = daemon.make_user(tmp_path)
    page = page_for(browser, daemon)
    page.fill("#login-form input[name=email]", user.email)
    page.fill("#login-form input[name=password]", "not the password")
    page.click("#login-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('status').textContent !== ''")
    assert page.is_visible("#login-form")
    shot = tmp_path / "login.png"
    page.screenshot(path=str(shot))
    assert_not_blank(shot)
    page.context.close()


def assert_not_blank(png: Path) -> None:
    """The screenshot shows a rendered page: many colours, not one flat fill."""
    import av

    with av.open(str(png)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    colours = {tuple(px) for px in frame[::7, ::7].reshape(-1, 3).tolist()}
    assert len(colours) > 20, f"{png} looks blank ({len(colours)} colours)"


def test_the_page_follows_a_renamed_room_and_leaves_a_deleted_one(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "web-rename")
    bob = member(daemon, tmp_path, room)
    page = page_for(browser, daemon)
    log_in(page, bob.user)
    open_room(page, room)
    page.click("#join-call")  # in the room's call too: deleting the room ends it
    page.wait_for_selector("#leave-call:not([hidden])")

    new = f"renamed-{room[:8]}"  # room names are unique on the (shared) daemon
    renamed = alice.cli("rooms", "rename", room, new)
    assert renamed.code == 0, renamed.err
    page.wait_for_selector(f"#room-name:text-is('{new}')")
    assert page.inner_text("#status") == f"this room is now called {new}"

    deleted = alice.cli("rooms", "delete", room, "--yes")
    assert deleted.code == 0, deleted.err
    page.wait_for_selector("#rooms-view:not([hidden])")
    page.wait_for_function(
        "() => document.getElementById('status').textContent"
        f" === 'the room {new} was deleted by its creator'"
    )
    assert page.query_selector(f"#room-list li[data-room-id='{room}']") is None
    assert page.is_hidden("#room-view") and page.query_selector("#tiles .tile") is None
    shot = tmp_path / "deleted.png"
    page.screenshot(path=str(shot))
    assert_not_blank(shot)
    assert page.errors == [], page.errors
    page.context.close()
