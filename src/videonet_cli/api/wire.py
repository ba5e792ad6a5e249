"""HTTP/1.1 to the daemon over asyncio streams: h11 parses and frames, this module connects,
pools and times out.

The CLI used aiohttp's client for this. Importing aiohttp (with yarl, multidict and attrs) took
60-100 ms of every `send` and `receive`, half of what a small send spends before its first byte
(docs/performance.md, "Session 15"); h11 takes 7 ms. The CLI talks to one daemon, with no
proxies, cookies, redirects or compression, so what it needs is small: a connection (TLS
verified against the system's CA bundle, as aiohttp's default context does), a request with a
JSON, bytes or streamed body, a response read whole or piece by piece, keep-alive.

Errors are the standard library's, which `api.http.unreachable_error` words: `ConnectError`
(the connect failed: its `os_error`), `ssl.SSLError` (the TLS handshake), `ServerDisconnected`
(the connection closed or spoke something that is not HTTP/1.1 before the response ended),
`TimeoutError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlencode, urlsplit

import h11

CONNECT_TIMEOUT_SECONDS = 15.0
# A pooled connection idle longer than this is closed rather than used (the daemon closes idle
# keep-alive connections itself; aiohttp's client keeps them 15 s).
IDLE_SECONDS = 10.0
READ_BYTES = 256 << 10
# Happy Eyeballs (RFC 8305): a name with IPv6 and IPv4 addresses tries the next one this soon.
HAPPY_EYEBALLS_DELAY = 0.25
USER_AGENT = "videonet"
# How long a request whose body could not be sent waits for the answer the server may have sent.
EARLY_ANSWER_SECONDS = 2.0


class ConnectError(ConnectionError):
    """The connection to the server could not be made; ``os_error`` says why."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(os_error.errno, os_error.strerror or str(os_error))
        self.os_error = os_error


class ServerDisconnected(ConnectionError):
    """The server closed the connection (or sent what is not HTTP/1.1) before the response
    ended."""


_TLS: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """The one TLS context, made when first needed (reading the CA bundle costs ~20 ms)."""
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


async def open_stream(
    url: SplitResult, timeout: float = CONNECT_TIMEOUT_SECONDS
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP (TLS for https) connection to ``url``'s host and port."""
    tls = url.scheme in ("https", "wss")
    host = url.hostname or ""
    port = url.port or (443 if tls else 80)
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.open_connection(
                host,
                port,
                ssl=tls_context() if tls else None,
                server_hostname=host if tls else None,
                happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                limit=READ_BYTES,
            )
    except ssl.SSLError:
        raise
    except OSError as exc:
        raise ConnectError(exc) from exc


def host_header(url: SplitResult) -> str:
    host = url.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{host}:{url.port}" if url.port else host


class Connection:
    """One HTTP/1.1 connection: one request and its response at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()
        self.reused = False

    async def send(self, event: h11.Event) -> None:
        try:  # a body's pieces are passed on as they are, not copied into one
            pieces = self.h11.send_with_data_passthrough(event)
        except h11.LocalProtocolError as exc:  # our own mistake (a body longer than declared)
            raise ValueError(str(exc)) from exc
        for piece in pieces or ():
            self.writer.write(piece)
        await self.writer.drain()

    async def next_event(self, stall: float | None) -> h11.Event:
        """The next event of the response; ``stall`` seconds without a byte raise TimeoutError."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise ServerDisconnected(f"not HTTP/1.1 from the server: {exc}") from exc
            if isinstance(event, h11.Event):
                return event
            if event is h11.PAUSED:  # a request after an Upgrade: not the CLI's
                raise ServerDisconnected("the server switched protocols")
            async with asyncio.timeout(stall):
                data = await self.reader.read(READ_BYTES)
            self.h11.receive_data(data)  # b"" is the end of the connection

    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def close(self) -> None:
        self.writer.close()


@dataclass
class Response:
    """A response whose head has arrived; read its body with `read` or `chunks`."""

    status: int
    headers: dict[str, str]
    _connection: Connection
    _pool: Pool
    _stall: float | None
    _done: bool = field(default=False)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        while not self._done:
            event = await self._connection.next_event(self._stall)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
                self._pool.release(self._connection)
            else:  # h11.ConnectionClosed before the body's end
                self._done = True
                self._connection.close()
                raise ServerDisconnected("the server closed the connection during the body")

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body; with ``limit``, only up to that many bytes (the connection is then
        closed if more came)."""
        parts, size = [], 0
        async for chunk in self.chunks():
            parts.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                self.close()
                return b"".join(parts)[:limit]
        return b"".join(parts)

    def close(self) -> None:
        """Drop the connection unless the body was read to its end."""
        if not self._done:
            self._done = True
            self._connection.close()


Body = bytes | AsyncIterable[bytes] | None


class Pool:
    """Keep-alive connections to one server; a request takes an idle one or opens another."""

    def __init__(self, server: str, headers: Mapping[str, str]) -> None:
        self.url = urlsplit(server)
        self.headers = {"Host": host_header(self.url), "User-Agent": USER_AGENT, **headers}
        self._idle: list[Connection] = []

    def release(self, connection: Connection) -> None:
        if connection.reusable():
            connection.h11.start_next_cycle()
            connection.idle_since = time.monotonic()
            connection.reused = True
            self._idle.append(connection)
        else:
            connection.close()

    async def _connection(self, connect_timeout: float) -> Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < IDLE_SECONDS and not connection.reader.at_eof():
                return connection
            connection.close()
        return Connection(*await open_stream(self.url, connect_timeout))

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        stall: float | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    ) -> Response:
        """Send one request and return its response once the head is in (read the body from
        it). A pooled connection the server closed meanwhile is replaced once, when the body
        can be sent again (bytes, not a stream)."""
        target = path + ("?" + urlencode(params) if params else "")
        fields = {**self.headers, **(headers or {})}
        if isinstance(body, bytes):
            fields["Content-Length"] = str(len(body))
        elif body is None and method in ("POST", "PUT", "PATCH"):
            fields["Content-Length"] = "0"
        while True:
            connection = await self._connection(connect_timeout)
            try:
                return await self._exchange(connection, method, target, fields, body, stall)
            except (ServerDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                if not connection.reused or not (body is None or isinstance(body, bytes)):
                    raise
            except BaseException:
                connection.close()
                raise

    async def _exchange(
        self,
        connection: Connection,
        method: str,
        target: str,
        fields: Mapping[str, str],
        body: Body,
        stall: float | None,
    ) -> Response:
        await connection.send(
            h11.Request(method=method, target=target, headers=list(fields.items()))
        )
        if body is None or isinstance(body, bytes):
            if body:
                await connection.send(h11.Data(data=body))
            await connection.send(h11.EndOfMessage())
            return await self._response(connection, stall)
        # A streamed body: the answer is read while it goes, as the server may answer before
        # its end and close (a refusal, a daemon shutting down); that answer says why, where
        # the write would only fail with a broken pipe.
        head = asyncio.ensure_future(self._response(connection, None))
        sending = asyncio.ensure_future(self._send_stream(connection, body))
        try:
            await asyncio.wait({head, sending}, return_when=asyncio.FIRST_COMPLETED)
            if head.done():  # an early answer (the rest of the body is not sent), or the end
                return head.result()
            try:
                sending.result()
            except OSError:
                with contextlib.suppress(OSError, TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(head), EARLY_ANSWER_SECONDS)
                raise
            return await asyncio.wait_for(asyncio.shield(head), stall)
        finally:
            for task in (sending, head):
                if not task.done():
                    task.cancel()
            await asyncio.gather(sending, head, return_exceptions=True)

    @staticmethod
    async def _send_stream(connection: Connection, body: AsyncIterable[bytes]) -> None:
        async for piece in body:
            if piece:
                await connection.send(h11.Data(data=piece))
        await connection.send(h11.EndOfMessage())

    async def _response(self, connection: Connection, stall: float | None) -> Response:
        """The response's head (after any 1xx)."""
        while True:
            event = await connection.next_event(stall)
            if isinstance(event, h11.Response):
                break
            if isinstance(event, h11.ConnectionClosed):
                raise ServerDisconnected("the server closed the connection")
            # h11.InformationalResponse (100 Continue): the final response follows
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key, text = name.decode("latin-1").lower(), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        return Response(event.status_code, headers, connection, self, stall)

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
