"""An invite link opened in a browser: the page shows the sign-up form and the invite's room."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser_helpers import browser, page_for

from conftest import Cli, Daemon, User

pytestmark = pytest.mark.one_pass("browser: the API tests cover its database paths")

__all__ = ["browser"]


def test_the_invite_link_opens_the_join_form_and_puts_the_new_account_in_the_room(
    daemon: Daemon, user: User, cli: Cli, tmp_path: Path, browser: Any
) -> None:
    assert cli("rooms", "create", "studio-web").code == 0
    r = cli("invite", "--room", "studio-web", "--json")
    assert r.code == 0, r.err
    link = r.json()["link"]
    assert link.startswith(daemon.url + "/#join=")

    page = page_for(browser, daemon)
    page.goto(link)
    page.reload()  # a link opened from a chat loads the page afresh; goto only moved the fragment
    page.wait_for_selector("#join-view:not([hidden])")
    assert page.is_hidden("#login-view")
    page.fill("#join-form input[name=email]", "web@example.test")
    page.fill("#join-form input[name=username]", "webfriend")
    page.fill("#join-form input[name=password]", "a long web phrase")
    page.fill("#join-form input[name=again]", "a long web phrase")
    page.click("#join-form button[type=submit]")
    page.wait_for_selector("#rooms-view:not([hidden])")
    page.wait_for_selector("#room-list li:has-text('studio-web')")
    assert "#join=" not in page.url  # the spent code left the address bar
    assert not page.errors  # type: ignore[attr-defined]
