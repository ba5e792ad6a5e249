"""The CLI's own HTTP/1.1 and Socket.IO client (videonet_cli/api/wire.py, sio.py) against
servers that misbehave: each is a real server on loopback (aiohttp's, speaking engine.io by
hand, or a bare asyncio one), never a patch of the client. The daemon is the adversary here as
in the transfer tests: what it sends may be too big, malformed, or nothing at all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import WSMsgType, web

from videonet_cli.api import sio, wire
from videonet_cli.api.http import HttpClient
from videonet_cli.api.socket import SocketClient
from videonet_cli.errors import CliError, UnreachableError
from videonet_protocol import protocol

pytestmark = pytest.mark.one_pass("the CLI's client against local servers: no database")

Script = Callable[[web.WebSocketResponse], Awaitable[None]]


@asynccontextmanager
async def engineio_server(
    script: Script, ping_interval_ms: int = 25000, ping_timeout_ms: int = 20000
) -> AsyncIterator[str]:
    """A server that opens engine.io and the namespace as the daemon does, then runs
    ``script`` on the WebSocket; yields its URL."""

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
        await ws.prepare(request)
        opened = {"sid": "s1", "upgrades": [], "pingInterval": ping_interval_ms,
                  "pingTimeout": ping_timeout_ms, "maxPayload": 1000000}  # fmt: skip
        await ws.send_str("0" + json.dumps(opened))
        connect = await ws.receive()
        assert connect.type == WSMsgType.TEXT and connect.data.startswith("40")
        if json.loads(connect.data[2:]).get("token") == "refuse":
            await ws.send_str('44{"message":"no","data":{"code":"unauthenticated",'
                              '"message":"log in first"}}')  # fmt: skip
        else:
            await ws.send_str('40{"sid":"n1"}')
            await script(ws)
        async for _message in ws:  # until the client closes: it decides when it is over
            pass
        return ws

    app = web.Application()
    app.router.add_get("/" + protocol.SOCKET_PATH.strip("/") + "/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _answer_calls(ws: web.WebSocketResponse) -> None:
    """Ack every event with {"ok": true, "echo": data}."""
    async for message in ws:
        if message.type != WSMsgType.TEXT or not message.data.startswith("42"):
            continue
        body = message.data[2:]
        digits = len(body) - len(body.lstrip("0123456789"))
        ack_id, (_event, data) = body[:digits], json.loads(body[digits:])
        await ws.send_str(f"43{ack_id}" + json.dumps([{"ok": True, "echo": data}]))


async def test_calls_events_and_binary_attachments_arrive() -> None:
    got: asyncio.Queue[Any] = asyncio.Queue()

    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str("2")  # a ping: answered "3"
        pong = await ws.receive()
        assert pong.data == "3"
        await ws.send_str('42["news",{"n":1}]')
        await ws.send_str('451-["blob",{"data":{"_placeholder":true,"num":0}}]')
        await ws.send_bytes(b"\x00\x01binary")
        await ws.send_str("4garbage")  # a malformed packet: ignored
        await _answer_calls(ws)

    async with engineio_server(script) as url:
        client = SocketClient(url, "token")
        client.on("news", got.put_nowait)
        client.on("blob", got.put_nowait)
        async with client:
            assert await asyncio.wait_for(got.get(), 5) == {"n": 1}
            assert await asyncio.wait_for(got.get(), 5) == {"data": b"\x00\x01binary"}
            ack = await client.call("anything", {"x": "é"})
            assert ack == {"ok": True, "echo": {"x": "é"}}


async def test_a_refused_connection_is_the_daemons_error() -> None:
    async with engineio_server(_answer_calls) as url:
        with pytest.raises(CliError, match="log in first"):
            async with SocketClient(url, "refuse"):
                pass


async def test_a_daemon_that_stops_pinging_ends_every_wait() -> None:
    async def silent(ws: web.WebSocketResponse) -> None:
        pass  # no ping, no answer

    server = engineio_server(silent, ping_interval_ms=200, ping_timeout_ms=200)
    async with server as url, SocketClient(url, "token") as client:
        started = asyncio.get_running_loop().time()
        with pytest.raises(UnreachableError, match="connection to the daemon was lost"):
            await client.call("anything", {}, timeout=20)
        assert asyncio.get_running_loop().time() - started < 10
        assert not client.sio.connected


async def test_a_message_over_the_limit_cuts_the_connection() -> None:
    async def flood(ws: web.WebSocketResponse) -> None:
        await ws.send_str('42["news","' + "x" * (sio.MESSAGE_MAX_BYTES + 10) + '"]')

    lost = asyncio.Event()
    async with engineio_server(flood) as url, SocketClient(url, "token") as client:
        client.on("news", lambda data: pytest.fail("an oversized message was taken"))
        client.on("disconnect", lost.set)
        await asyncio.wait_for(lost.wait(), 10)
        assert not client.sio.connected


@asynccontextmanager
async def raw_server(
    respond: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    server = await asyncio.start_server(respond, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _answering(
    answer: bytes,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A server that answers the first request's head with ``answer`` and closes."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    return respond


async def test_keep_alive_and_a_connection_the_server_closed_meanwhile() -> None:
    """Two requests on one connection; after the server closes it, the next request opens
    another (a pooled connection is replaced once for a body that can be sent again)."""
    connections = 0

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        for _ in range(2):
            await _read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
        writer.close()  # after two requests, as a server's keep-alive limit would

    async with raw_server(respond) as url, HttpClient(url) as http:
        for _ in range(5):
            assert await http.get("/x") == {}
    assert connections == 3


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", "closed the connection"),  # not HTTP
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", "closed the connection"),  # short
        (b"", "closed the connection"),
    ],
)
async def test_a_server_that_is_not_http_is_one_line(answer: bytes, said: str) -> None:
    async with raw_server(_answering(answer)) as url, HttpClient(url) as http:
        with pytest.raises(UnreachableError, match=said) as caught:
            await http.get("/x")
        assert "\n" not in str(caught.value)


async def test_a_server_that_never_answers_times_out() -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up

    async with raw_server(respond) as url, HttpClient(url, timeout=0.5) as http:
        with pytest.raises(UnreachableError, match="did not answer in time"):
            await http.get("/x")


async def test_a_refused_port_names_the_reason() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with HttpClient(f"http://127.0.0.1:{port}") as http:
        with pytest.raises(UnreachableError, match="Connection refused"):
            await http.get("/x")
    with pytest.raises(wire.ConnectError):
        await wire.open_stream(urlsplit(f"http://127.0.0.1:{port}"))


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", r"WebSocket \(HTTP 403\)"),
        (  # a 101 whose accept key is not the one asked for
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: bm9wZQ==\r\n\r\n",
            "did not open a Socket.IO session",
        ),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "closed the connection"),
    ],
)
async def test_a_websocket_upgrade_that_fails_is_one_line(answer: bytes, said: str) -> None:
    async with raw_server(_answering(answer)) as url:
        with pytest.raises(UnreachableError, match=said) as caught:
            async with SocketClient(url, "token"):
                pass
        assert "\n" not in str(caught.value)
