"""Files between the CLI and the page (static/receive.js), end to end in a real headless Chromium
against the real daemon and the real CLI: the page verifies the signed header against the
sender's identity, decrypts record by record into the origin's private file system, checks the
sealed SHA-256 and sends an authenticated verdict the CLI counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser_helpers import browser, open_room
from transfer_helpers import Background, listening_receiver, random_file, sha256_of
from web_transfer_helpers import (
    VERIFIED,
    linked_page,
    page_and_cli,
    private_files,
    save,
    send_from_page,
    take_offer,
    two_people,
    verdict,
)

from conftest import Daemon

pytestmark = pytest.mark.one_pass("browser: the transfer tests cover the database paths")

__all__ = ["browser"]


def test_the_cli_sends_and_the_page_receives_verified(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    two, page = page_and_cli(browser, daemon, tmp_path)
    bob = two.bob
    source = random_file(tmp_path / "take 1.bin", 3 * (1 << 20) + 12345)
    send = Background(
        bob.cli, "send", two.room, str(source), "--trust-new", "--json", "--timeout", "60"
    )
    offer = page.wait_for_selector("li.offer button.take")
    text = page.inner_text("li.offer")
    assert "take 1.bin, 3.2 MB" in text and f"from {bob.user.username} (device" in text
    assert "identity first use" in text
    offer.click()
    link = page.wait_for_selector("li.offer.verified a.save", timeout=60_000)
    assert link.get_attribute("download") == "take 1.bin"
    saved = save(page, link, tmp_path / "saved.bin")
    assert sha256_of(saved) == sha256_of(source) == link.get_attribute("data-sha256")
    assert send.finish(timeout=90) == 0, send.stderr()
    # The page's verdict is the authenticated one the CLI counted for alice.
    result = send.result()
    assert result["ok"] is True and result["sha256"] == sha256_of(source), result
    assert [(r["username"], r["ok"]) for r in result["receivers"]] == [(two.alice.username, True)]
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_page_sends_and_the_cli_receives_verified(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    two, page = page_and_cli(browser, daemon, tmp_path)
    bob = two.bob
    asked: list[str] = []

    def confirm(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    out = tmp_path / "bob-out"
    receiver = listening_receiver(bob.cli, two.room, out)
    first = random_file(tmp_path / "clip one.bin", 2 * (1 << 20) + 777)
    second = random_file(tmp_path / "notes.txt", 1000)
    send_from_page(page, first, second)
    assert verdict(page) == f"{bob.user.username} {VERIFIED}"
    assert len(asked) == 1 and f"{bob.user.username} — first use, identity" in asked[0]
    assert receiver.finish(timeout=60) == 0, receiver.stderr()
    for source in (first, second):
        assert sha256_of(out / source.name) == sha256_of(source)
    results = [e for e in receiver.events if e.get("event") == "result"]
    assert {r["name"] for r in results} >= {"clip one.bin", "notes.txt"}, results
    assert page.errors == []  # type: ignore[attr-defined]
    # Nothing of the upload is left in the page's storage once it is sealed.
    assert private_files(page, "outgoing") == []


def _folder(root: Path, count: int) -> dict[str, str]:
    """A tree of `count` small files in a few subfolders; path -> SHA-256."""
    hashes = {}
    for i in range(count):
        rel = f"sub{i % 7}/deeper/f{i:03d}.dat" if i % 3 else f"f{i:03d}.dat"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        random_file(path, 100 + (i * 37) % 5000)
        hashes[rel] = sha256_of(path)
    return hashes


def test_a_300_file_folder_both_ways(daemon: Daemon, tmp_path: Path, browser: Any) -> None:
    two, page = page_and_cli(browser, daemon, tmp_path)
    bob, room = two.bob, two.room
    page.on("dialog", lambda dialog: dialog.accept())

    # CLI -> page: the directory arrives whole, each file's SHA-256 as sealed and as sent.
    outgoing = tmp_path / "footage"
    sent = _folder(outgoing, 300)
    send = Background(
        bob.cli, "send", room, str(outgoing), "--trust-new", "--json", "--timeout", "120"
    )
    page.wait_for_selector("li.offer button.take", timeout=60_000)
    assert "the directory footage/ (300 files)" in page.inner_text("li.offer")
    page.click("li.offer button.take")
    page.wait_for_selector("li.offer.verified", timeout=120_000)
    got = page.eval_on_selector_all(
        "li.offer a.save", "links => links.map(a => [a.textContent, a.dataset.sha256])"
    )
    assert {text.removeprefix("Save "): sha for text, sha in got} == sent
    assert send.finish(timeout=120) == 0, send.stderr()

    # page -> CLI: a picked folder goes as a directory; videonet receive writes the tree.
    incoming = tmp_path / "from-page"
    folder = tmp_path / "picked" / "clips"
    picked = _folder(folder, 300)
    receiver = listening_receiver(bob.cli, room, incoming, "--timeout", "120")
    page.set_input_files("#send-folder", str(folder))
    page.click("#send-folder-form button[type=submit]")
    assert "✓ verified" in verdict(page, timeout=120_000)
    assert receiver.finish(timeout=120) == 0, receiver.stderr()
    received = {
        str(p.relative_to(incoming / "clips")): sha256_of(p)
        for p in (incoming / "clips").rglob("*")
        if p.is_file()
    }
    assert received == picked
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_send_interrupted_by_a_reload_resumes(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    two, page = page_and_cli(browser, daemon, tmp_path)
    page.on("dialog", lambda dialog: dialog.accept())
    puts: list[str] = []
    page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    slow = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2 << 20}
    cdp.send("Network.emulateNetworkConditions", slow)
    source = random_file(tmp_path / "long take.bin", 24 << 20)
    send_from_page(page, source)
    page.wait_for_function(
        "() => /uploading [4-9]\\.\\d MB|uploading 1\\d\\.\\d MB/.test("
        "document.querySelector('li.sending .send-state').textContent)",
        timeout=60_000,
    )
    page.reload()
    cdp.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})
    open_room(page, two.room)
    resume = page.wait_for_selector("li.sending.interrupted button.resume")
    assert "long take.bin" in page.inner_text("li.sending.interrupted")
    resume.click()
    page.wait_for_selector("li.sending.sealed", timeout=60_000)
    out = tmp_path / "bob-out"
    receiver = listening_receiver(two.bob.cli, two.room, out)
    assert "✓ verified" in verdict(page)
    assert receiver.finish(timeout=60) == 0, receiver.stderr()
    assert sha256_of(out / "long take.bin") == sha256_of(source)
    # Two PUTs of one transfer: the second from where the daemon's copy ended, not from 0.
    assert len(puts) == 2 and puts[0].split("?")[0] == puts[1].split("?")[0], puts
    assert puts[0].endswith("offset=0") and not puts[1].endswith("offset=0"), puts


def test_200_mb_both_ways(daemon: Daemon, tmp_path: Path, browser: Any) -> None:
    """The issue's size: CLI -> page and page -> CLI, each verified by SHA-256 on the other side
    (the tab's memory at 1 GiB: bench/web_transfer.py, docs/performance.md)."""
    two, page = page_and_cli(browser, daemon, tmp_path)
    bob, room = two.bob, two.room
    page.on("dialog", lambda dialog: dialog.accept())
    source = random_file(tmp_path / "big.mov", 200_000_000)
    want = sha256_of(source)

    send = Background(bob.cli, "send", room, str(source), "--trust-new", "--json")
    link = take_offer(page, timeout=300_000)
    assert link.get_attribute("data-sha256") == want
    assert send.finish(timeout=300) == 0, send.stderr()

    out = tmp_path / "bob-out"
    receiver = listening_receiver(bob.cli, room, out, "--timeout", "300")
    send_from_page(page, source)
    assert "✓ verified" in verdict(page, timeout=300_000)
    assert receiver.finish(timeout=300) == 0, receiver.stderr()
    assert sha256_of(out / "big.mov") == want


def test_received_files_leave_the_browser_storage_with_the_page(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    two, page = page_and_cli(browser, daemon, tmp_path)
    source = random_file(tmp_path / "a.bin", 5000)
    send = Background(two.bob.cli, "send", two.room, str(source), "--trust-new", "--json")
    take_offer(page)
    assert send.finish(timeout=60) == 0, send.stderr()
    second = page.context.new_page()  # another tab of the same site, while the first is open
    second.goto("/")
    second.wait_for_selector("#rooms-view:not([hidden])")
    assert len(private_files(second, "incoming")) == 1  # still offered in the first tab: kept
    page.close()
    third = page.context.new_page()
    third.goto("/")
    third.wait_for_selector("#rooms-view:not([hidden])")
    for _ in range(50):  # the sweep runs after the page has started; wait up to 5 s for it
        if not private_files(third, "incoming"):
            break
        third.wait_for_timeout(100)
    # The first tab closed: nothing offers it any more.
    assert private_files(third, "incoming") == []


def test_a_page_sends_and_another_page_saves(daemon: Daemon, tmp_path: Path, browser: Any) -> None:
    """The issue's "done when": one person sends from the page, a colleague saves from theirs."""
    two = two_people(daemon, tmp_path)
    alice = linked_page(browser, daemon, two.alice, two.recovery, two.room)
    bob = linked_page(browser, daemon, two.bob.user, two.bob_recovery, two.room)
    alice.on("dialog", lambda dialog: dialog.accept())
    source = random_file(tmp_path / "clip.mov", (1 << 20) + 4321)
    send_from_page(alice, source)
    bob.wait_for_selector("li.offer button.take", timeout=60_000)
    assert f"from {two.alice.username} (device web browser, identity first use)" in (
        bob.inner_text("li.offer")
    )
    link = take_offer(bob)
    assert sha256_of(save(bob, link, tmp_path / "saved.mov")) == sha256_of(source)
    assert verdict(alice) == f"{two.bob.user.username} {VERIFIED}"
    assert alice.errors == [] and bob.errors == []  # type: ignore[attr-defined]
