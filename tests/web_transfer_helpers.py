"""Helpers for files between the CLI and the web page (tests/test_web_transfer*.py and
bench/web_transfer.py): two people in one room, the page linked as a device of the first, the
second's CLI, and what the page shows and keeps in its private file system."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from browser_helpers import enter_recovery, log_in, open_room, page_for
from identity_helpers import Device, first_device, room_of

from conftest import Daemon, User

VERIFIED = "✓ verified (SHA-256 matches, authenticated)"


@dataclass
class Across:
    """alice (who uses the page; her recovery key links it) and bob's first CLI device (and his
    recovery key, for a page of his own), in one room bob made."""

    alice: User
    recovery: str
    bob: Device
    bob_recovery: str
    room: str


def two_people(daemon: Daemon, tmp_path: Path) -> Across:
    alice = daemon.make_user(tmp_path)
    bob_user = daemon.make_user(tmp_path)
    _, recovery = first_device(daemon, alice, tmp_path)
    bob, bob_recovery = first_device(daemon, bob_user, tmp_path)
    return Across(alice, recovery, bob, bob_recovery, room_of(daemon, bob_user, alice))


def linked_page(browser: Any, daemon: Any, user: User, recovery: str, room: str) -> Any:
    """A page logged in as `user`, linked with the recovery key, in `room` (`daemon` is anything
    with the `url` the page should reach)."""
    page = page_for(browser, daemon)
    log_in(page, user)
    page.wait_for_selector("#recovery-form:not([hidden])")
    enter_recovery(page, recovery)
    page.wait_for_selector("#device-status:text('linked device of')")
    open_room(page, room)
    return page


def page_and_cli(browser: Any, daemon: Daemon, tmp_path: Path) -> tuple[Across, Any]:
    """`two_people`, and alice's linked page in their room."""
    two = two_people(daemon, tmp_path)
    return two, linked_page(browser, daemon, two.alice, two.recovery, two.room)


def take_offer(page: Any, timeout: float = 60_000) -> Any:
    """Click Receive on the (first) offer once it shows; the Save link once it is verified."""
    page.wait_for_selector("li.offer button.take", timeout=60_000).click()
    return page.wait_for_selector("li.offer.verified a.save", timeout=timeout)


def save(page: Any, link: Any, to: Path) -> Path:
    """Click a Save link and keep what the browser downloads at `to`."""
    with page.expect_download() as info:
        link.click()
    info.value.save_as(to)
    return to


def send_from_page(page: Any, *paths: Path) -> None:
    """Pick files in the page's Send form and send them."""
    page.set_input_files("#send-files", [str(p) for p in paths])
    page.click("#send-form button[type=submit]")


def verdict(page: Any, timeout: float = 60_000) -> str:
    """The first verdict line of the page's sends, once there is one."""
    return str(page.wait_for_selector("li.sending li.verdict", timeout=timeout).inner_text())


def private_files(page: Any, area: str) -> list[str]:
    """The names in one folder ("incoming", "outgoing") of the page's private file system."""
    return list(
        page.evaluate(
            """async (area) => {
              const root = await navigator.storage.getDirectory();
              const dir = await root.getDirectoryHandle(area, { create: true });
              const names = [];
              for await (const name of dir.keys()) names.push(name);
              return names;
            }""",
            area,
        )
    )
