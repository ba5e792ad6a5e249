"""One response body read by a worker thread with blocking sockets: a transfer's download.

The receiver's bytes are its heaviest work (socket reads, AES-GCM, SHA-256, writes: about a
core at full speed), and read through the event loop each 64-256 KiB piece costs a callback,
a fresh `bytes` object and a copy into the record buffer. Here one thread reads each record
straight into one buffer (`readinto`) with the GIL released while it waits, and the event loop
is left alone (docs/performance.md, "Session 12"). The request is the one `api.wire` would
make: the same URL, token and language header, TLS verified against the system's CA bundle.

Everything here blocks: open and read it in the worker thread. `abort` is the one call another
thread may make; it ends a read in progress (a cancelled receive, Ctrl-C).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
from urllib.parse import urlsplit

from videonet_cli.api.http import (
    ERROR_BODY_MAX,
    STREAM_STALL_SECONDS,
    decode_response,
    language_headers,
)
from videonet_cli.errors import DaemonRefused
from videonet_cli.i18n import _
from videonet_protocol import protocol

CONNECT_TIMEOUT_SECONDS = 15.0


class BodyReader:
    """GET one path of the daemon and read its body, from a worker thread.

    `open` sends the request and reads the status (a refusal raises what `decode_response`
    raises, a status that is not a body's — a redirect, say — the same `DaemonRefused`, a
    failed connection the socket's or TLS's own error, which `unreachable_error` words); then
    `readinto` until it returns less than asked: the body from byte ``start`` on, also when a
    server in between ignored the Range and sent it all. `abort` may be called from any thread
    at any time: a connection not yet made is not made, a read in progress ends."""

    def __init__(
        self,
        server: str,
        path: str,
        token: str | None,
        start: int = 0,
        stall: float = STREAM_STALL_SECONDS,
    ) -> None:
        url = urlsplit(server)
        host, port = url.hostname or "", url.port
        self._connection: http.client.HTTPConnection
        if url.scheme == "https":
            self._connection = http.client.HTTPSConnection(
                host, port, timeout=CONNECT_TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            self._connection = http.client.HTTPConnection(
                host, port, timeout=CONNECT_TIMEOUT_SECONDS
            )
        self._path = path
        self._start = start
        self._stall = stall
        self._headers = language_headers() | {"Range": f"bytes={start}-"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._response: http.client.HTTPResponse | None = None
        # Kept here: http.client forgets the connection's socket once a response that closes
        # it has begun (the daemon's do), but the read goes on through that socket.
        self._socket: socket.socket | None = None
        self._aborted = False
        self._lost = False

    def open(self) -> None:
        connection = self._connection
        try:
            connection.connect()
            self._socket = connection.sock
            if self._aborted or self._socket is None:
                raise ConnectionAbortedError("the download was stopped")
            self._socket.settimeout(self._stall)
            connection.request("GET", self._path, headers=self._headers)
            response = connection.getresponse()
            if response.status not in (200, 206):
                body = response.read(ERROR_BODY_MAX)
                decode_response(response.status, body, response.getheader("Retry-After"))
                raise DaemonRefused(  # a 2xx without a body to read
                    protocol.ErrorCode.BAD_REQUEST,
                    _("unexpected HTTP {status} from the daemon").format(status=response.status),
                    response.status,
                )
        except BaseException:
            connection.close()
            raise
        self._response = response
        if response.status == 200 and self._start:
            self._skip(self._start)

    def _skip(self, count: int) -> None:
        """Read past the first ``count`` bytes (a whole body sent for a Range request)."""
        scratch = memoryview(bytearray(min(count, 1 << 20)))
        while count:
            got = self.readinto(scratch[: min(count, len(scratch))])
            if not got:
                return  # shorter than the Range's start: the reads that follow say so
            count -= got

    @property
    def cut_short(self) -> bool:
        """Whether the body ended before its end: the connection was lost, reset or stopped, or
        it closed before the declared length."""
        left = self._response.length if self._response is not None else None
        return self._lost or self._aborted or (left is not None and left > 0)

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` as far as the body goes: fewer bytes only at its end (0 after it).

        A lost connection ends the body (`cut_short` says so); nothing for ``stall`` seconds
        (`STREAM_STALL_SECONDS`) raises `TimeoutError`."""
        response = self._response
        if response is None:
            raise RuntimeError("BodyReader.readinto before open")
        got = 0
        while got < len(view):
            try:
                n = response.readinto(view[got:])
            except (http.client.IncompleteRead, ConnectionError):  # cut inside a chunk, reset
                self._lost = True
                return got
            if not n:
                return got
            got += n
        return got

    def abort(self) -> None:
        """Stop from another thread: no connection is made, or the read in progress ends."""
        self._aborted = True
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        self._connection.close()
