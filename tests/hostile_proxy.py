"""A daemon that lies about transfers, played by a proxy between one CLI and the real daemon.

HTTP answers go through ``rewrite`` (as identity_helpers.LyingDaemon does); Socket.IO frames go
through ``to_cli`` (events and acks from the daemon) and ``to_daemon`` (the CLI's events), each
given the event name (an ack is named after the call it answers) and its data, and returning
the data to pass on, or None to drop the frame. ``inject(event, data)`` sends an event of the
proxy's own to the CLI. It counts what it changed, so a test can tell the attack happened.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from identity_helpers import LyingDaemon

Hook = Callable[[str, Any], Any]  # (event or "ack:<event>", data) -> data to pass on, or None


def keep(event: str, data: Any) -> Any:
    return data


def _parse(text: str) -> tuple[str, str, Any] | None:
    """(kind "2"/"3", ack id, payload list) of a Socket.IO event or ack frame, else None."""
    if not text.startswith("4") or len(text) < 2 or text[1] not in "23":
        return None
    kind, pos = text[1], 2
    if text[pos : pos + 1] == "/":  # a namespace: not used by the CLI
        return None
    start = pos
    while pos < len(text) and text[pos].isdigit():
        pos += 1
    try:
        payload = json.loads(text[pos:])
    except ValueError:
        return None
    return (kind, text[start:pos], payload) if isinstance(payload, list) else None


class HostileDaemon(LyingDaemon):
    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.to_cli: Hook = keep
        self.to_daemon: Hook = keep
        self.frames_changed = 0
        self._calls: dict[str, str] = {}  # ack id -> the event the CLI called
        self._clients: list[web.WebSocketResponse] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every HTTP request
        self.then_to_cli: list[tuple[str, Any]] = []  # events to send after the current frame

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            self.requests.append((request.method, request.path))
        return await super()._forward(request)

    def inject(self, event: str, data: Any) -> None:
        """Send an event of the proxy's own to every CLI connected through it."""

        async def send() -> None:
            for client in self._clients:
                await client.send_str("42" + json.dumps([event, data]))

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(timeout=10)

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        assert self._session is not None
        client = web.WebSocketResponse(autoping=False)
        await client.prepare(request)
        self._clients.append(client)
        target = self.upstream.replace("http", "ws", 1) + request.path_qs
        headers = self._websocket_headers(request)
        try:
            async with self._session.ws_connect(target, autoping=False, headers=headers) as daemon:
                await asyncio.gather(
                    self._relay(client, daemon, upward=True),
                    self._relay(daemon, client, upward=False),
                )
        finally:
            self._clients.remove(client)
        return client

    def _websocket_headers(self, request: web.Request) -> dict[str, str]:
        """Headers of the client's socket request passed on to the daemon (none: the CLI's token
        is in the URL)."""
        return {}

    def _rewrite_frame(self, text: str, upward: bool) -> str | None:
        parsed = _parse(text)
        if parsed is None:
            return text
        kind, ack, payload = parsed
        if kind == "2" and payload and isinstance(payload[0], str):
            if upward and ack:
                self._calls[ack] = payload[0]
            name, data = payload[0], payload[1] if len(payload) > 1 else None
            hook = self.to_daemon if upward else self.to_cli
            changed = hook(name, data)
            if changed is None:
                self.frames_changed += 1
                return None
            if changed != data:
                self.frames_changed += 1
                return text[: 2 + len(ack)] + json.dumps([name, changed])
            return text
        if kind == "3" and not upward:
            name = "ack:" + self._calls.pop(ack, "?")
            data = payload[0] if payload else None
            changed = self.to_cli(name, data)
            if changed != data:
                self.frames_changed += 1
                return text[: 2 + len(ack)] + json.dumps([changed])
        return text

    async def _relay(self, source: Any, sink: Any, *, upward: bool) -> None:
        async for message in source:
            if message.type == aiohttp.WSMsgType.TEXT:
                text = self._rewrite_frame(message.data, upward)
                if text is not None:
                    await sink.send_str(text)
                while not upward and self.then_to_cli:
                    event, data = self.then_to_cli.pop(0)
                    await sink.send_str("42" + json.dumps([event, data]))
            elif message.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            else:
                break
        await sink.close()
