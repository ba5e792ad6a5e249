"""The daemon's own listener closes slow and idle connections (the "without nginx" deployment).

Before, ten connections trickling a header byte at a time and five that sent nothing were all
still open after 150 s: aiohttp has no limit on a request head's arrival, and its idle limit
is an hour.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from chatkit import Accounts, connect
from videonet_protocol import protocol

from conftest import Daemon

pytestmark = pytest.mark.one_pass("the listener's timeouts: no database in it")

HEADER_TIMEOUT = 2.0
IDLE_TIMEOUT = 4.0
# Long enough for every limit above to pass with room to spare; the old daemon kept them all.
WATCH_SECONDS = 15.0


def _host_port(d: Daemon) -> tuple[str, int]:
    host, port = d.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def _closed_by_server(reader: asyncio.StreamReader, deadline: float) -> bool:
    """Read until the daemon closes the connection (True) or the deadline passes (False)."""
    while time.monotonic() < deadline:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        if not chunk:
            return True
    return False


async def _trickle(d: Daemon, deadline: float) -> bool:
    reader, writer = await asyncio.open_connection(*_host_port(d))
    head = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000

    async def drip() -> None:
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.25)

    dripping = asyncio.create_task(drip())
    try:
        return await _closed_by_server(reader, deadline)
    finally:
        dripping.cancel()
        await asyncio.gather(dripping, return_exceptions=True)
        writer.close()


async def _silent(d: Daemon, deadline: float) -> bool:
    reader, writer = await asyncio.open_connection(*_host_port(d))
    try:
        return await _closed_by_server(reader, deadline)
    finally:
        writer.close()


async def _kept_alive(d: Daemon, deadline: float) -> bool:
    """One whole request, then nothing on the kept-alive connection."""
    reader, writer = await asyncio.open_connection(*_host_port(d))
    try:
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        status = await reader.readline()
        assert status.startswith(b"HTTP/1.1 200"), status
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        return await _closed_by_server(reader, deadline)
    finally:
        writer.close()


def test_slow_silent_and_idle_connections_are_closed(daemon_factory: Any, tmp_path: Any) -> None:
    d = daemon_factory(
        VIDEONET_HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        VIDEONET_HTTP_IDLE_TIMEOUT=str(IDLE_TIMEOUT),
    )
    accounts = Accounts(d, tmp_path)
    alice = accounts.make()

    async def run() -> tuple[list[bool], list[bool], list[bool], bool]:
        deadline = time.monotonic() + WATCH_SECONDS
        # A Socket.IO connection outlives the header limit: once upgraded, engine.io's own
        # pings keep it (and tell a dead one).
        peer = await connect(d, alice)
        try:
            results = await asyncio.gather(
                asyncio.gather(*(_trickle(d, deadline) for _ in range(10))),
                asyncio.gather(*(_silent(d, deadline) for _ in range(5))),
                asyncio.gather(*(_kept_alive(d, deadline) for _ in range(3))),
            )
            ack = await peer.call(protocol.EV_PRESENCE_WHO, {"room_id": "none"})
            socket_alive = peer.sio.connected and ack is not None
        finally:
            await peer.close()
        return results[0], results[1], results[2], socket_alive

    trickled, silent, kept, socket_alive = asyncio.run(run())
    assert trickled == [True] * 10
    assert silent == [True] * 5
    assert kept == [True] * 3
    assert socket_alive


def _send_head(d: Daemon, head: bytes) -> socket.socket:
    conn = socket.create_connection(_host_port(d), timeout=WATCH_SECONDS)
    conn.sendall(head)
    return conn


def _status(conn: socket.socket) -> bytes:
    try:
        return conn.recv(200).split(b"\r\n", 1)[0]
    except TimeoutError:
        return b"(no answer)"
    finally:
        conn.close()


def test_slow_and_oversized_bodies_are_refused(daemon_factory: Any) -> None:
    d = daemon_factory(VIDEONET_HTTP_BODY_TIMEOUT=str(HEADER_TIMEOUT))
    json_head = b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    # Ten bytes of a declared hundred, then nothing.
    stalled = _send_head(d, json_head + b'Content-Length: 100\r\n\r\n{"email":')
    # Announced far beyond the JSON limit: refused before a byte of it is read.
    huge = _send_head(d, json_head + b"Content-Length: 99999999999\r\n\r\n{}")
    # A Socket.IO polling POST whose body never comes (engine.io waits for its first byte);
    # an engine.io session needs no login to open.
    host, port = _host_port(d)
    with socket.create_connection((host, port), timeout=10) as conn:
        path = f"/{protocol.SOCKET_PATH}/?EIO=4&transport=polling".encode()
        conn.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        opened = b""
        while chunk := conn.recv(4096):
            opened += chunk
    sid = opened.split(b'"sid":"', 1)[1].split(b'"', 1)[0]
    polling = _send_head(
        d,
        b"POST " + path + b"&sid=" + sid + b" HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 50\r\n\r\n",
    )
    assert _status(huge).endswith(b" 413 Request Entity Too Large")
    assert _status(stalled).endswith(b" 400 Bad Request")
    # engine.io swallows the cancellation and answers its usual "OK" (with no packets): what
    # counts is that the request ends at the deadline; before, it was held for good.
    assert _status(polling).split(b" ", 1)[1] in (b"200 OK", b"400 Bad Request")
