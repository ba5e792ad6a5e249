"""A Socket.IO client: protocol 5 over one engine.io 4 WebSocket, framed by wsproto.

The CLI used python-socketio's AsyncClient (with python-engineio and aiohttp): 60-100 ms of
imports in every `send` and `receive` (docs/performance.md, "Session 15"). What the CLI uses of
Socket.IO is small: one namespace, the WebSocket transport alone, events to the daemon each
with an ack (`call`), events from it to handlers (`on`), no reconnection. The packets are the
specification's (socket.io-protocol v5, engine.io-protocol v4):

  engine.io, one packet per WebSocket message: ``0`` open (JSON: sid, pingInterval,
  pingTimeout, maxPayload), ``1`` close, ``2`` ping (answered ``3`` pong), ``4`` message;
  Socket.IO, inside a ``4``: ``0`` connect (JSON auth), ``1`` disconnect, ``2`` event,
  ``3`` ack, ``4`` connect error, ``5``/``6`` event/ack with binary attachments (each in a
  binary WebSocket message after it), then an optional ack id and the JSON payload.

The daemon pings every pingInterval; no ping within pingInterval + pingTimeout means the
connection is gone, as python-engineio decides. Whatever breaks the connection runs the
``disconnect`` handler once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, ProtocolError

from videonet_cli.api.wire import READ_BYTES, host_header, open_stream
from videonet_cli.i18n import N_, _

# The largest message taken from the daemon (its own limit on what it accepts is far lower): a
# daemon that sends more is cut off rather than followed into memory.
MESSAGE_MAX_BYTES = 16 << 20
ATTACHMENTS_MAX = 64  # binary attachments announced by one packet


CLOSED = N_("the daemon closed the connection")
LOST = N_("the connection to the daemon was lost")


class SocketError(ConnectionError):
    """The connection could not be made, or broke (the message says which)."""


class Refused(SocketError):
    """The daemon refused the Socket.IO connection; ``data`` is what it said why."""

    def __init__(self, data: Any) -> None:
        super().__init__(_("refused by the daemon"))
        self.data = data


class Client:
    """One Socket.IO connection to the default namespace."""

    def __init__(self) -> None:
        self.connected = False
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._acks: dict[int, asyncio.Future[list[Any]]] = {}
        self._next_id = 0
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected: asyncio.Future[Any] | None = None
        self._ended = False

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        """``handler(*args)`` for each ``event`` (one handler an event: a second replaces the
        first); ``disconnect`` runs once when the connection ends for any reason."""
        self._handlers[event] = handler

    async def connect(
        self, server: str, path: str, headers: dict[str, str], auth: Any, timeout: float
    ) -> None:
        """Open the WebSocket, then the namespace; raise `Refused` or `SocketError` (with
        `api.wire`'s connection errors, `ssl.SSLError` and `TimeoutError` as they are)."""
        url = urlsplit(server)
        query = urlencode({"EIO": "4", "transport": "websocket"})
        target = "/" + path.strip("/") + "/?" + query
        async with asyncio.timeout(timeout):
            self._reader, self._writer = await open_stream(url, timeout)
            self._send_ws(
                Request(
                    host=host_header(url),
                    target=target,
                    extra_headers=[(k.encode(), v.encode()) for k, v in headers.items()],
                )
            )
            await self._handshake()
            opened = await self._next_text()
            if not opened.startswith("0"):
                raise SocketError(_("the daemon did not open a Socket.IO session"))
            try:
                info = json.loads(opened[1:])
                interval = float(info.get("pingInterval", 25000)) / 1000
                wait = float(info.get("pingTimeout", 20000)) / 1000
            except (ValueError, TypeError, AttributeError) as exc:
                raise SocketError(_("the daemon did not open a Socket.IO session")) from exc
            loop = asyncio.get_running_loop()
            self._connected = loop.create_future()
            self._pump = asyncio.ensure_future(self._read_loop(interval + wait))
            self._send_text("40" + json.dumps(auth, separators=(",", ":")))
            await self._connected

    async def _handshake(self) -> None:
        while True:
            event = await self._next_event()
            if isinstance(event, AcceptConnection):
                return
            if isinstance(event, (RejectConnection, RejectData)):
                status = getattr(event, "status_code", "")
                raise SocketError(
                    _("the daemon refused the WebSocket (HTTP {status})").format(status=status)
                )

    async def _next_event(self) -> Any:
        """The next WebSocket event (before the read loop runs); what came with it stays in
        wsproto's buffer for the next call."""
        assert self._reader is not None
        try:
            while True:
                for event in self._ws.events():
                    return event
                data = await self._reader.read(READ_BYTES)
                if not data:
                    raise SocketError(_(CLOSED))
                self._ws.receive_data(data)
        except ProtocolError as exc:  # not a WebSocket answer (a wrong accept key, say)
            raise SocketError(_("the daemon did not open a Socket.IO session")) from exc

    async def _next_text(self) -> str:
        """The next whole text message (during the handshake, before the read loop runs)."""
        parts: list[str] = []
        while True:
            event = await self._next_event()
            if isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    return "".join(parts)
            elif isinstance(event, CloseConnection):
                raise SocketError(_(CLOSED))

    def _send_ws(self, event: Any) -> None:
        if self._writer is None or self._writer.is_closing():
            raise SocketError(_(LOST))
        try:
            self._writer.write(self._ws.send(event))
        except LocalProtocolError as exc:  # the WebSocket is closing
            raise SocketError(_(LOST)) from exc

    def _send_text(self, text: str) -> None:
        self._send_ws(TextMessage(data=text))

    async def _read_loop(self, silence: float) -> None:
        """Every message from the daemon until the connection ends; its end is `_end`'s."""
        assert self._reader is not None
        text: list[str] = []
        binary: list[bytes] = []
        size = 0
        pending: tuple[str, int | None, Any, int] | None = None  # a packet awaiting attachments
        attachments: list[bytes] = []
        why = CLOSED
        try:
            while True:
                for event in self._ws.events():  # what came with the handshake first
                    if isinstance(event, Ping):
                        self._send_ws(event.response())
                        continue
                    if isinstance(event, CloseConnection):
                        with contextlib.suppress(Exception):
                            self._send_ws(event.response())
                        return
                    if not isinstance(event, (TextMessage, BytesMessage)):
                        continue
                    size += len(event.data)
                    if size > MESSAGE_MAX_BYTES:
                        why = N_("the daemon sent a message over the size limit")
                        return
                    if isinstance(event, TextMessage):
                        text.append(event.data)
                    else:
                        binary.append(bytes(event.data))
                    if not event.message_finished:
                        continue
                    if pending is None:  # a packet and its attachments count as one message
                        size = 0
                    if isinstance(event, BytesMessage):
                        if pending is None:
                            binary.clear()
                            continue  # an attachment nobody announced: ignored
                        attachments.append(b"".join(binary))
                        binary.clear()
                        if len(attachments) == pending[3]:
                            kind, ack_id, payload, _count = pending
                            self._dispatch(kind, ack_id, _with_attachments(payload, attachments))
                            pending, attachments, size = None, [], 0
                        continue
                    message = "".join(text)
                    text.clear()
                    if message == "2":  # engine.io ping
                        self._send_text("3")
                    elif message.startswith("1"):  # engine.io close
                        return
                    elif message.startswith("4"):
                        packet = _parse(message[1:])
                        if packet is None:
                            continue
                        kind, ack_id, payload, count = packet
                        if count > ATTACHMENTS_MAX:
                            why = N_("the daemon sent a message over the size limit")
                            return
                        if count:
                            pending, attachments = packet, []
                        else:
                            self._dispatch(kind, ack_id, payload)
                        if kind == "1":  # the daemon ended the namespace
                            why = N_("the daemon ended this session")
                            return
                try:
                    async with asyncio.timeout(silence):
                        data = await self._reader.read(READ_BYTES)
                except TimeoutError:
                    why = N_("the daemon stopped answering (no ping)")
                    return
                if not data:
                    return
                self._ws.receive_data(data)
        except (OSError, ValueError, ProtocolError):  # not a WebSocket, or broken
            why = LOST
        finally:
            await self._end(why)

    def _dispatch(self, kind: str, ack_id: int | None, payload: Any) -> None:
        connected = self._connected
        if kind == "0":
            if connected is not None and not connected.done():
                self.connected = True  # before anything that follows can end it
                connected.set_result(payload)
        elif kind == "4":
            if connected is not None and not connected.done():
                connected.set_exception(Refused(payload))
        elif kind in ("2", "5") and isinstance(payload, list) and payload:
            name, args = str(payload[0]), payload[1:]
            handler = self._handlers.get(name)
            if handler is not None:
                self._spawn(self._run(handler, args, ack_id))
        elif kind in ("3", "6") and ack_id is not None:
            waiter = self._acks.pop(ack_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(payload if isinstance(payload, list) else [payload])

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, handler: Callable[..., Any], args: list[Any], ack_id: int | None) -> None:
        """One event's handler, as its own task (python-socketio runs them so: a handler may
        await a call, whose ack the read loop delivers meanwhile); the daemon's ack, if it asked."""
        result = handler(*args)
        if inspect.isawaitable(result):
            result = await result
        if ack_id is not None and self.connected:
            reply = (
                list(result) if isinstance(result, tuple) else [] if result is None else [result]
            )
            with contextlib.suppress(SocketError):
                self._send_text(f"43{ack_id}" + json.dumps(reply, separators=(",", ":")))

    async def call(self, event: str, data: Any, timeout: float) -> Any:
        """Send ``event`` with ``data`` and return the daemon's ack (its first argument);
        `TimeoutError` after ``timeout`` seconds, `SocketError` when the connection ends first."""
        if not self.connected:
            raise SocketError(_(LOST))
        self._next_id += 1
        ack_id = self._next_id
        waiter: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = waiter
        try:
            self._send_text(f"42{ack_id}" + json.dumps([event, data], separators=(",", ":")))
            async with asyncio.timeout(timeout):
                reply = await waiter
        finally:
            self._acks.pop(ack_id, None)
        return reply[0] if reply else None

    async def _end(self, why: str) -> None:
        """The connection is over: fail what waits on it, run ``disconnect`` once."""
        if self._ended:
            return
        self._ended = True
        was_connected, self.connected = self.connected, False
        error = SocketError(_(why))
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(error)
        for waiter in self._acks.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._acks.clear()
        if self._writer is not None:
            self._writer.close()
        handler = self._handlers.get("disconnect")
        if was_connected and handler is not None:
            await asyncio.sleep(0)  # the events that came before the end are handled first
            result = handler()
            if inspect.isawaitable(result):
                await result

    async def disconnect(self) -> None:
        """Leave the namespace and close the connection."""
        if self._writer is not None and not self._writer.is_closing() and not self._ended:
            with contextlib.suppress(Exception):
                if self.connected:
                    self._send_text("41")
                self._send_ws(CloseConnection(code=1000))
                await asyncio.wait_for(self._writer.drain(), 1.0)
        pump, self._pump = self._pump, None
        if pump is not None and not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        self.connected = False
        self._ended = True
        if self._writer is not None:
            self._writer.close()
        # Handlers still running finish on their own, as python-socketio's do.


def _parse(packet: str) -> tuple[str, int | None, Any, int] | None:
    """A Socket.IO packet: (type, ack id, payload, attachments to follow); None if malformed."""
    if not packet:
        return None
    kind, rest = packet[0], packet[1:]
    count = 0
    if kind in ("5", "6"):
        dash = rest.find("-")
        if dash <= 0 or not rest[:dash].isdigit():
            return None
        count, rest = int(rest[:dash]), rest[dash + 1 :]
    if rest.startswith("/"):  # a namespace; the CLI uses only "/"
        comma = rest.find(",")
        rest = rest[comma + 1 :] if comma >= 0 else ""
    digits = 0
    while digits < len(rest) and rest[digits].isdigit():
        digits += 1
    ack_id = int(rest[:digits]) if digits else None
    try:
        payload = json.loads(rest[digits:]) if rest[digits:] else None
    except ValueError:
        return None
    return kind, ack_id, payload, count


def _with_attachments(payload: Any, attachments: list[bytes]) -> Any:
    """``payload`` with each ``{"_placeholder": true, "num": i}`` replaced by attachment i."""
    if isinstance(payload, dict):
        if payload.get("_placeholder") is True and isinstance(payload.get("num"), int):
            num = payload["num"]
            return attachments[num] if 0 <= num < len(attachments) else None
        return {k: _with_attachments(v, attachments) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_with_attachments(v, attachments) for v in payload]
    return payload
