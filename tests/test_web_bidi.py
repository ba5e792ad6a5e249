"""The chat page isolates every user string and wraps long words, in a real headless Chromium.

Before, a right-to-left override in a message spilled into the timestamp after it (its digits
drawn reversed), and one 4,000-character word widened the page to 45,851 px.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from browser_helpers import browser, log_in, messages, open_room, page_for, send_chat
from transfer_helpers import make_room, member

from conftest import Daemon

pytestmark = pytest.mark.one_pass("browser: the API tests cover its database paths")

__all__ = ["browser"]

VIEWPORT_WIDTH = 1100  # browser_helpers.page_for
OVERRIDE = "evil\u202eexe.txt"  # U+202E RIGHT-TO-LEFT OVERRIDE, never closed
LONG_WORD = "W" * 4000


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)


# x of each character of an element's text, left to right in logical order.
CHAR_XS = """el => {
  const text = el.firstChild;
  const xs = [];
  for (let i = 0; i < text.length; i++) {
    const range = document.createRange();
    range.setStart(text, i);
    range.setEnd(text, i + 1);
    xs.push(range.getBoundingClientRect().left);
  }
  return xs;
}"""


def test_an_override_stays_in_its_message_and_a_long_word_wraps(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "bidi")
    page = page_for(browser, daemon)
    log_in(page, alice.user)
    open_room(page, room)
    send_chat(page, OVERRIDE)
    page.wait_for_function("() => document.querySelectorAll('#messages li').length === 1")
    send_chat(page, LONG_WORD)
    page.wait_for_function("() => document.querySelectorAll('#messages li').length === 2")
    assert messages(page) == [OVERRIDE, LONG_WORD]

    # The timestamp after the override reads left to right, as it does after plain text.
    first = page.query_selector("#messages li:nth-child(1)")
    time_xs = first.eval_on_selector(".time", CHAR_XS)
    assert len(time_xs) >= 4
    assert time_xs == sorted(time_xs), time_xs
    author = first.eval_on_selector(".author", "e => e.getBoundingClientRect().toJSON()")
    text = first.eval_on_selector(".text", "e => e.getBoundingClientRect().toJSON()")
    stamp = first.eval_on_selector(".time", "e => e.getBoundingClientRect().toJSON()")
    assert author["right"] <= text["left"] + 1 and text["right"] <= stamp["left"] + 1

    # The page stays as wide as the viewport; the long word breaks inside the message list.
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " document.getElementById('messages').scrollWidth,"
        " document.getElementById('messages').clientWidth]"
    )
    assert widths[0] <= widths[1] == VIEWPORT_WIDTH, widths
    assert widths[2] <= widths[3], widths
    shot = tmp_path / "bidi.png"
    page.screenshot(path=str(shot), full_page=True)
    width, _ = png_size(shot)
    assert width == VIEWPORT_WIDTH
    assert page.errors == []
    page.context.close()


def test_a_long_room_name_wraps_in_the_list_and_the_heading(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "L" * 80)  # 80 + "-" + 8 hex: near the 100-character cap
    page = page_for(browser, daemon)
    page.set_viewport_size({"width": 400, "height": 800})
    log_in(page, alice.user)
    page.wait_for_selector(f"#room-list li[data-room-id='{room}']")
    list_width = page.evaluate("() => document.documentElement.scrollWidth")
    open_room(page, room)
    room_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert list_width <= 400 and room_width <= 400, (list_width, room_width)
    shot = tmp_path / "narrow.png"
    page.screenshot(path=str(shot), full_page=True)
    assert png_size(shot)[0] == 400
    page.context.close()
