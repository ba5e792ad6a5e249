"""A proxy between one CLI and the daemon that plays a malicious daemon for the code tests.

It forwards HTTP (streamed both ways) and the Socket.IO WebSocket frame by frame, and, when
told to, changes one byte of the body of the `code:message` frames of one step (`pake` and
`key` on their way to the CLI, `reply` on its way to the daemon). It counts what it changed, so
a test can tell that the exchange really was tampered with. Told to ``hold`` a step, it keeps
that step's frame (and what follows it on that connection) until the test sets ``release``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from typing import Any

import aiohttp
from aiohttp import web

_HOP = {"host", "connection", "content-length", "transfer-encoding", "content-encoding"}
_HOP |= {"upgrade", "keep-alive"}


def code_step(text: str) -> str | None:
    """The step of a `code:message` event frame, or None for any other frame."""
    if not text.startswith("42"):
        return None
    start = 2
    while start < len(text) and text[start].isdigit():
        start += 1
    try:
        packet = json.loads(text[start:])
    except ValueError:
        return None
    if isinstance(packet, list) and len(packet) == 2 and packet[0] == "code:message":
        step = packet[1].get("step") if isinstance(packet[1], dict) else None
        return step if isinstance(step, str) else None
    return None


def tamper_frame(text: str, step: str) -> str | None:
    """The Socket.IO event frame with one byte of a `code:message` body of ``step`` flipped,
    or None when the frame is something else."""
    if not text.startswith("42"):  # engine.io "message" + socket.io "event"
        return None
    start = 2
    while start < len(text) and text[start].isdigit():  # an ack id
        start += 1
    try:
        packet = json.loads(text[start:])
    except ValueError:
        return None
    if not (
        isinstance(packet, list)
        and len(packet) == 2
        and packet[0] == "code:message"
        and isinstance(packet[1], dict)
        and packet[1].get("step") == step
    ):
        return None
    body = bytearray(base64.b64decode(packet[1]["body"]))
    body[len(body) // 2] ^= 0x01
    packet[1]["body"] = base64.b64encode(bytes(body)).decode("ascii")
    return text[:start] + json.dumps(packet)


class TamperProxy:
    """Runs in a thread of its own (the tests are synchronous); `url` is what the CLI uses."""

    def __init__(self, upstream: str, tamper: str | None = None, hold: str | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.tamper = tamper
        self.tampered = 0
        self.hold = hold
        self.held = threading.Event()  # set when a frame of step ``hold`` is being held
        self.release = threading.Event()  # the test sets it to let the frame go on
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def __enter__(self) -> TamperProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        data = request.content if request.body_exists else None
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=data
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP},
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(1 << 16):
                await response.write(chunk)
            await response.write_eof()
            return response

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        assert self._session is not None
        client = web.WebSocketResponse(autoping=False)
        await client.prepare(request)
        target = self.upstream.replace("http", "ws", 1) + request.path_qs
        async with self._session.ws_connect(target, autoping=False) as daemon:
            await asyncio.gather(
                self._pipe(client, daemon, "reply"),  # the CLI's frames, to the daemon
                self._pipe(daemon, client, "pake", "key"),  # the daemon's frames, to the CLI
            )
        return client

    async def _pipe(self, source: Any, sink: Any, *steps: str) -> None:
        async for message in source:
            if message.type == aiohttp.WSMsgType.TEXT:
                text = message.data
                if self.tamper in steps:
                    changed = tamper_frame(text, str(self.tamper))
                    if changed is not None:
                        self.tampered += 1
                        text = changed
                if self.hold in steps and code_step(text) == self.hold:
                    self.held.set()
                    await asyncio.to_thread(self.release.wait, 60)
                await sink.send_str(text)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            else:
                break
        await sink.close()
