"""Headless Chromium (Debian's package) driven by Playwright, for the web client's tests.

Playwright's own browser download is never used: the tests launch /usr/bin/chromium (or
VIDEONET_TEST_CHROMIUM) with a fake camera and microphone, and skip, saying why, without it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_PASSWORD, Daemon, User

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Remote audio plays without a click, as after a real user's "Join call".
    "--autoplay-policy=no-user-gesture-required",
]
TIMEOUT_MS = 20_000


def chromium_path() -> str | None:
    path = os.environ.get("VIDEONET_TEST_CHROMIUM") or shutil.which("chromium")
    return path if path and Path(path).exists() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed (make test installs it: apt-get install chromium)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def page_for(browser: Any, daemon: Daemon) -> Any:
    """A fresh browser context (its own cookies) with one page on the daemon's web client."""
    # An English browser whatever the machine's locale: these tests read the page's English
    # (test_web_languages.py reads it in Korean and Japanese).
    context = browser.new_context(
        base_url=daemon.url, locale="en-US", viewport={"width": 1100, "height": 800}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: _console(page, msg))
    page.goto("/")
    return page


def _console(page: Any, message: Any) -> None:
    # The page asks /api/auth/me first; its 401 before logging in is expected, not an error.
    if message.type == "error" and "status of 401" not in message.text:
        page.errors.append(message.text)


def log_in(page: Any, user: User) -> None:
    page.fill("#login-form input[name=email]", user.email)
    page.fill("#login-form input[name=password]", TEST_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#rooms-view:not([hidden])")


def enter_recovery(page: Any, recovery: str) -> None:
    """Type a recovery key into the page's form to link the browser (the caller waits for what
    follows: linked, or an error line)."""
    page.fill("#recovery-form input[name=recovery]", recovery)
    page.click("#recovery-form button[type=submit]")


def open_room(page: Any, room_id: str) -> None:
    page.click(f"#room-list li[data-room-id='{room_id}'] button")
    page.wait_for_selector("#room-view:not([hidden])")
    page.wait_for_function(
        "() => document.getElementById('connection').textContent === 'connected'"
    )


def send_chat(page: Any, text: str) -> None:
    page.fill("#chat-form input[name=text]", text)
    page.click("#chat-form button[type=submit]")


def messages(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#messages .text", "els => els.map(e => e.textContent)"))


def call_stats(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate("window.videonet.stats()"))


def wait_for_stats(page: Any, check: Any, what: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Poll the page's call statistics until `check(rows)` holds."""
    deadline = time.monotonic() + timeout
    rows = call_stats(page)
    while not check(rows):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; stats: {rows}")
        page.wait_for_timeout(500)
        rows = call_stats(page)
    return rows


def wait_for_media(page: Any, peers: int, frames: int = 30, timeout: float = 30) -> None:
    """Until the page has decoded `frames` video frames and some audio from each of `peers`."""
    wait_for_stats(
        page,
        lambda rows: (
            len(rows) >= peers
            and all(r["framesDecoded"] >= frames and r["audioSamples"] > 0 for r in rows)
        ),
        f"{frames} video frames and audio from {peers} peers",
        timeout,
    )
