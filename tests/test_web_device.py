"""The browser as a device of its user (static/device.js) in a real headless Chromium, against the
real daemon and the real CLI: an unlinked browser is told why it gets no file keys, and a CLI
sender leaves it out; linked with the recovery key, the CLI's sender encrypts to it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from browser_helpers import browser, enter_recovery, log_in, open_room, page_for
from identity_helpers import first_device, room_of
from transfer_helpers import random_file
from videonet_cli.crypto import header as hdr

from conftest import Daemon, http

pytestmark = pytest.mark.one_pass("browser: the identity tests cover the database paths")

__all__ = ["browser"]

DEVICE_STATUS = "#device-status"


def _device_status(page: Any, contains: str) -> str:
    page.wait_for_function(
        "(text) => document.getElementById('device-status').textContent.includes(text)",
        arg=contains,
    )
    return str(page.inner_text(DEVICE_STATUS))


def _browser_device(page: Any) -> dict[str, Any]:
    found = page.evaluate("window.videonet.device()")
    assert found is not None
    return dict(found)


def _send_json(cli: Any, room: str, path: Path) -> list[dict[str, Any]]:
    r = cli("send", room, str(path), "--trust-new", "--no-wait", "--json")
    assert r.code == 0, r.err
    return [json.loads(line) for line in r.out.splitlines() if line.strip()]


def _header_recipients(daemon: Daemon, token: str, events: list[dict[str, Any]]) -> set[str]:
    transfer_id = next(e["transfer_id"] for e in events if e.get("transfer_id"))
    status, body, _ = http("GET", daemon.api(f"/api/transfers/{transfer_id}/header"), token=token)
    assert status == 200, body
    signed = hdr.parse_header(base64.b64decode(body["header"]))
    return {r.device_id for r in signed.header.recipients}


def test_an_unlinked_browser_gets_no_key_and_the_recovery_key_links_it(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice_user = daemon.make_user(tmp_path)
    bob_user = daemon.make_user(tmp_path)
    _, alice_recovery = first_device(daemon, alice_user, tmp_path)
    bob, bob_recovery = first_device(daemon, bob_user, tmp_path)
    room = room_of(daemon, bob_user, alice_user)

    page = page_for(browser, daemon)
    log_in(page, alice_user)
    line = _device_status(page, "not linked")
    assert "gets no file keys" in line and "recovery key" in line
    browser_device = _browser_device(page)
    assert browser_device["linked"] is False
    device_id = browser_device["deviceId"]
    # The private keys are in IndexedDB as CryptoKeys that cannot be exported.
    extractable = page.evaluate(
        """async () => {
          const db = await new Promise((ok, no) => {
            const r = indexedDB.open("videonet", 1); r.onsuccess = () => ok(r.result);
            r.onerror = () => no(r.error); });
          const d = await new Promise((ok) => {
            const g = db.transaction("keys").objectStore("keys").get("device");
            g.onsuccess = () => ok(g.result); });
          return [d.x25519.privateKey.extractable, d.ed25519.privateKey.extractable];
        }"""
    )
    assert extractable == [False, False]

    # bob's CLI sends to the room: alice's browser is left out, and the offer shows
    # in the room's timeline as not for this browser, saying why.
    open_room(page, room)
    events = _send_json(bob.cli, room, random_file(tmp_path / "one.bin", 1000))
    offer = page.wait_for_selector("li.offer.failed")
    assert "offered a file" in offer.inner_text() and "not linked" in offer.inner_text()
    assert offer.query_selector("button.take") is None and "one.bin" not in offer.inner_text()
    page.click("#back")
    # An unlinked browser is not published at all: no key, and no line in every sender's output.
    notices = [e["line"] for e in events if e.get("event") == "trust_notice"]
    assert not any(device_id[:8] in n for n in notices), notices
    assert device_id not in _header_recipients(daemon, bob_user.token, events)
    status, listed, _ = http("GET", daemon.api("/api/keys"), token=alice_user.token)
    assert status == 200 and device_id not in {d["device_id"] for d in listed["devices"]}

    # A mistyped key, and someone else's, are refused with one line; nothing is linked.
    enter_recovery(page, alice_recovery[:-2] + "AA")
    page.wait_for_selector("#status.error:text('that is not a recovery key')")
    enter_recovery(page, bob_recovery)
    page.wait_for_selector(f'#status.error:text("not for {alice_user.username}\'s identity")')
    assert _browser_device(page)["linked"] is False

    enter_recovery(page, alice_recovery)
    line = _device_status(page, "linked device of")
    assert alice_user.username in line
    assert page.input_value("#recovery-form input[name=recovery]") == ""
    page.reload()
    _device_status(page, "linked device of")  # kept across a reload (IndexedDB)
    assert _browser_device(page) == {"linked": True, "deviceId": device_id}

    # Now bob's sender encrypts to the browser, after the one-line notice of a new device.
    events = _send_json(bob.cli, room, random_file(tmp_path / "two.bin", 1000))
    notices = [e["line"] for e in events if e.get("event") == "trust_notice"]
    assert notices == [
        f"{alice_user.username} has a new device web browser ({device_id[:8]}) "
        f"(certified by {alice_user.username}'s identity)"
    ]
    assert device_id in _header_recipients(daemon, bob_user.token, events)
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_changed_identity_on_the_daemon_unlinks_the_browser_loudly(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice_user = daemon.make_user(tmp_path)
    alice, recovery = first_device(daemon, alice_user, tmp_path)
    page = page_for(browser, daemon)
    log_in(page, alice_user)
    _device_status(page, "not linked")
    enter_recovery(page, recovery)
    _device_status(page, "linked device of")
    r = alice.cli("devices", "new-identity", "--yes", "--json")
    assert r.code == 0, r.err
    page.reload()
    line = _device_status(page, "another identity")
    assert "daemon is lying" in line
    assert page.is_hidden("#recovery-form")
    assert _browser_device(page)["linked"] is False
