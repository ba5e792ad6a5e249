"""Files between the CLI and the page (static/receive.js), end to end in a real headless Chromium
against the real daemon and the real CLI: the page verifies the signed header against the
sender's identity, decrypts record by record into the origin's private file system, checks the
sealed SHA-256 and sends an authenticated verdict the CLI counts."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from browser_helpers import browser, log_in, open_room, page_for
from identity_helpers import first_device, room_of
from transfer_helpers import Background, listening_receiver, random_file

from conftest import Daemon, User

pytestmark = pytest.mark.one_pass("browser: the transfer tests cover the database paths")

__all__ = ["browser"]


def linked_page(browser: Any, daemon: Daemon, user: User, recovery: str, room: str) -> Any:
    page = page_for(browser, daemon)
    log_in(page, user)
    page.wait_for_selector("#recovery-form:not([hidden])")
    page.fill("#recovery-form input[name=recovery]", recovery)
    page.click("#recovery-form button[type=submit]")
    page.wait_for_selector("#device-status:text('linked device of')")
    open_room(page, room)
    return page


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def test_the_cli_sends_and_the_page_receives_verified(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice_user = daemon.make_user(tmp_path)
    bob_user = daemon.make_user(tmp_path)
    _, alice_recovery = first_device(daemon, alice_user, tmp_path)
    bob, _ = first_device(daemon, bob_user, tmp_path)
    room = room_of(daemon, bob_user, alice_user)
    page = linked_page(browser, daemon, alice_user, alice_recovery, room)

    source = random_file(tmp_path / "take 1.bin", 3 * (1 << 20) + 12345)
    send = Background(
        bob.cli, "send", room, str(source), "--trust-new", "--json", "--timeout", "60"
    )
    offer = page.wait_for_selector("li.offer button.take")
    text = page.inner_text("li.offer")
    assert "take 1.bin, 3.2 MB" in text and f"from {bob_user.username} (device" in text
    assert "identity first use" in text
    offer.click()
    link = page.wait_for_selector("li.offer.verified a.save", timeout=60_000)
    assert link.get_attribute("download") == "take 1.bin"
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "saved.bin"
    info.value.save_as(saved)
    assert sha256_of(saved) == sha256_of(source) == link.get_attribute("data-sha256")
    assert send.finish(timeout=90) == 0, send.stderr()
    # The page's verdict is the authenticated one the CLI counted for alice.
    result = send.result()
    assert result["ok"] is True and result["sha256"] == sha256_of(source), result
    assert [(r["username"], r["ok"]) for r in result["receivers"]] == [(alice_user.username, True)]
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_page_sends_and_the_cli_receives_verified(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice_user = daemon.make_user(tmp_path)
    bob_user = daemon.make_user(tmp_path)
    _, alice_recovery = first_device(daemon, alice_user, tmp_path)
    bob, _ = first_device(daemon, bob_user, tmp_path)
    room = room_of(daemon, bob_user, alice_user)
    page = linked_page(browser, daemon, alice_user, alice_recovery, room)
    asked: list[str] = []

    def confirm(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    out = tmp_path / "bob-out"
    receiver = listening_receiver(bob.cli, room, out)
    first = random_file(tmp_path / "clip one.bin", 2 * (1 << 20) + 777)
    second = random_file(tmp_path / "notes.txt", 1000)
    page.set_input_files("#send-files", [str(first), str(second)])
    page.click("#send-form button[type=submit]")
    verdict = page.wait_for_selector("li.sending li.verdict", timeout=60_000)
    assert (
        verdict.inner_text() == f"{bob_user.username} ✓ verified (SHA-256 matches, authenticated)"
    )
    assert len(asked) == 1 and f"{bob_user.username} — first use, identity" in asked[0]
    assert receiver.finish(timeout=60) == 0, receiver.stderr()
    for source in (first, second):
        assert sha256_of(out / source.name) == sha256_of(source)
    results = [e for e in receiver.events if e.get("event") == "result"]
    assert {r["name"] for r in results} >= {"clip one.bin", "notes.txt"}, results
    assert page.errors == []  # type: ignore[attr-defined]
    # Nothing of the upload is left in the page's storage once it is sealed.
    left = page.evaluate(
        """async () => {
          const root = await navigator.storage.getDirectory();
          const dir = await root.getDirectoryHandle("outgoing", { create: true });
          const names = [];
          for await (const name of dir.keys()) names.push(name);
          return names;
        }"""
    )
    assert left == []
