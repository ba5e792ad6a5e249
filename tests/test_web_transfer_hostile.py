"""A daemon that lies to the page about transfers (tests/hostile_proxy.py, between the browser and
the real daemon; the sending CLI talks to the daemon directly). As in the CLI, the page refuses
a changed record, a changed header under a renamed offer, and a sender whose identity the daemon
swapped, with one clear line, nothing kept, and the sender told why; a stream it cuts short
leaves nothing either, and the page may take the offer again."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from browser_helpers import browser
from hostile_proxy import HostileDaemon
from transfer_helpers import Background, random_file
from videonet_protocol import protocol
from web_transfer_helpers import linked_page, private_files, two_people

from conftest import Daemon

pytestmark = pytest.mark.one_pass("the page's defence against a lying daemon")

__all__ = ["browser"]

_DROP = {"host", "connection", "content-length", "transfer-encoding", "content-encoding"}
_DROP |= {"upgrade", "keep-alive"}


class PageLiar(HostileDaemon):
    """`HostileDaemon` for a browser: the page's Host, cookie and Origin reach the daemon (its
    same-origin checks see the proxy's origin, as the page does) and the daemon's headers (the
    login cookie) reach the page. ``rewrite_data`` changes the records a GET of a transfer's
    data returns."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.rewrite_data: Callable[[bytes], bytes] = lambda body: body
        self.data_ranges: list[str] = []  # the Range header of each GET of records ("" for none)

    def _headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        headers["Host"] = request.host
        return headers

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        assert self._session is not None
        data = await request.read() if request.body_exists else None
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=self._headers(request),
            data=data,
        ) as upstream:
            body = await upstream.read()
            status = upstream.status
            headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP}
        if headers.get("Content-Type", "").startswith("application/json"):
            answer = json.loads(body)
            changed = self.rewrite(request.method, request.path, answer)
            if changed != answer:
                self.changed += 1
                body, status = json.dumps(changed).encode(), 200
        elif request.path.endswith("/data") and request.method == "GET":
            self.data_ranges.append(request.headers.get("Range", ""))
            changed_body = self.rewrite_data(body)
            if changed_body != body:
                self.changed += 1
                body = changed_body
        return web.Response(status=status, body=body, headers=headers)

    def _websocket_headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: request.headers[k] for k in ("Cookie", "Origin") if k in request.headers}
        headers["Host"] = request.host
        return headers


def _flip(raw: bytes, at: int) -> bytes:
    changed = bytearray(raw)
    changed[at] ^= 1
    return bytes(changed)


def test_the_page_refuses_what_a_lying_daemon_changes(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    two = two_people(daemon, tmp_path)
    with PageLiar(daemon.url) as proxy:
        page = linked_page(browser, _Through(proxy.url), two.alice, two.recovery, two.room)
        try:
            _attacks(page, proxy, two.bob, two.bob.user, two.room, tmp_path)
        finally:
            page.context.close()  # the page's socket through the proxy ends before the proxy


def _attacks(
    page: Any, proxy: PageLiar, bob: Any, bob_user: Any, room: str, tmp_path: Path
) -> None:

    # 1. Honest: the page takes a file and pins bob's identity on first use.
    source = random_file(tmp_path / "clip.bin", 2 * (1 << 20) + 100)
    sender = Background(bob.cli, "send", room, str(source), "--trust-new", "--json")
    item = _offer(page, 1)
    item.query_selector("button.take").click()
    page.wait_for_selector("li.offer.verified a.save", timeout=60_000)
    assert sender.finish(timeout=90) == 0, sender.stderr()

    # 2. A record changed on the way: stopped at that record, nothing kept, bob told why.
    proxy.rewrite_data = lambda body: _flip(body, len(body) - 30) if len(body) > 64 else body
    sender = Background(bob.cli, "send", room, str(source), "--json", "--timeout", "60")
    item = _offer(page, 2)
    item.query_selector("button.take").click()
    page.wait_for_selector("li.offer.failed >> nth=0")
    text = _state_of(page, 2)
    assert text.startswith("encrypted record 2 does not verify"), text
    assert "nothing was kept" in text
    assert private_files(page, "incoming") == [_transfer_of(page, 1)]  # only the verified one
    assert sender.finish(timeout=90) == 1
    assert "encrypted record 2 does not verify" in sender.stderr()
    proxy.rewrite_data = lambda body: body

    # 3. The offer renamed and the signed header changed to match: refused before a byte.
    def rename(event: str, data: Any) -> Any:
        if event == protocol.EV_TRANSFER_OFFER and isinstance(data, dict):
            return {**data, "name": "invoice.pdf"}
        return data

    def header_lie(method: str, path: str, answer: Any) -> Any:
        if path.endswith("/header") and isinstance(answer, dict) and answer.get("header"):
            raw = base64.b64decode(answer["header"])
            at = raw.index(b"clip.bin")
            lied = raw[:at] + b"clap" + raw[at + 4 :]
            return {**answer, "header": base64.b64encode(lied).decode()}
        return answer

    proxy.to_cli = rename
    proxy.rewrite = header_lie
    random_file(source, 1000)  # a new transfer (a changed file is never a resume)
    sender = Background(bob.cli, "send", room, str(source), "--json", "--timeout", "60")
    _offer(page, 3)
    page.wait_for_selector("li.offer >> nth=2 >> .offer-state:text('refusing')")
    text = _state_of(page, 3)
    assert "the header's signature does not verify against the sender's device" in text
    assert "invoice.pdf" not in page.inner_text("li.offer >> nth=2")  # the daemon's name: unused
    assert sender.finish(timeout=90) == 1
    assert "signature does not verify" in sender.stderr()
    proxy.to_cli = lambda event, data: data

    # 4. The daemon swaps bob's identity (and could certify a device of its own with it):
    # bob's identity is pinned here, so nothing from "bob" is accepted.
    fake = Ed25519PrivateKey.generate().public_key().public_bytes_raw()

    def identity_lie(method: str, path: str, answer: Any) -> Any:
        if path == f"/api/users/{bob_user.username}/keys" and isinstance(answer, dict):
            return {**answer, "identity_key": protocol.encode_public_key(fake)}
        return answer

    proxy.rewrite = identity_lie
    random_file(source, 2000)
    sender = Background(bob.cli, "send", room, str(source), "--json", "--timeout", "60")
    _offer(page, 4)
    page.wait_for_selector("li.offer >> nth=3 >> .offer-state:text('identity changed')")
    assert "daemon is lying" in _state_of(page, 4)
    assert sender.finish(timeout=90) == 1
    assert proxy.changed >= 3 and proxy.frames_changed >= 1
    assert private_files(page, "incoming") == [_transfer_of(page, 1)]

    # 5. The daemon cuts the records short once: the page continues by itself from the first
    # record it has not verified (an HTTP Range), and bob's send goes through.
    proxy.rewrite = lambda method, path, answer: answer
    cuts = [1]

    def cut_once(body: bytes) -> bytes:
        if cuts:
            cuts.pop()
            return body[: len(body) // 2]
        return body

    proxy.rewrite_data = cut_once
    proxy.data_ranges.clear()
    random_file(source, 3 * (1 << 20))
    sender = Background(bob.cli, "send", room, str(source), "--json", "--timeout", "60")
    _offer(page, 5).query_selector("button.take").click()
    page.wait_for_selector("li.offer >> nth=4 >> a.save", timeout=60_000)
    assert sender.finish(timeout=90) == 0, sender.stderr()
    record = (1 << 20) + 16
    assert proxy.data_ranges[0] == "" and proxy.data_ranges[1] == f"bytes={record}-", (
        proxy.data_ranges
    )

    # 6. It cuts them every time: the page gives up with one line and keeps nothing; the offer
    # stands (a cut is no refusal: bob still waits), and with the daemon honest again, Receive
    # takes it.
    proxy.rewrite_data = lambda body: b""
    random_file(source, 2 * (1 << 20))
    sender = Background(bob.cli, "send", room, str(source), "--json", "--timeout", "90")
    _offer(page, 6).query_selector("button.take").click()
    page.wait_for_selector("li.offer >> nth=5 >> .offer-state:text('cut off')", timeout=60_000)
    assert "nothing was kept" in _state_of(page, 6)
    assert sorted(private_files(page, "incoming")) == sorted(
        [_transfer_of(page, 1), _transfer_of(page, 5)]
    )
    proxy.rewrite_data = lambda body: body
    page.click("li.offer >> nth=5 >> button.take")
    page.wait_for_selector("li.offer >> nth=5 >> a.save", timeout=60_000)
    assert sender.finish(timeout=90) == 0, sender.stderr()


class _Through:
    """The daemon as the page reaches it: through the proxy's URL (all `page_for` reads)."""

    def __init__(self, url: str) -> None:
        self.url = url


def _offer(page: Any, n: int) -> Any:
    page.wait_for_selector(f"li.offer >> nth={n - 1}", timeout=30_000)
    page.wait_for_function(
        "(n) => { const li = document.querySelectorAll('li.offer')[n - 1];"
        " return li && !li.querySelector('.offer-text').textContent.includes('checking'); }",
        arg=n,
    )
    return page.query_selector_all("li.offer")[n - 1]


def _state_of(page: Any, n: int) -> str:
    return str(page.query_selector_all("li.offer .offer-state")[n - 1].inner_text())


def _transfer_of(page: Any, n: int) -> str:
    return str(page.query_selector_all("li.offer")[n - 1].get_attribute("data-transfer-id"))
