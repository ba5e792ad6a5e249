"""Running the daemon: bind (port 0 allowed), print the bound address, stop gracefully on a signal.

The first SIGTERM/SIGINT stops accepting and lets requests finish; a second one exits at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import ssl
import sys
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from videonet_daemon.adapters.aiohttp import runner_with_handler
from videonet_daemon.app import build
from videonet_daemon.backup import hold_serving_lock
from videonet_daemon.db.feature import BOOTSTRAP_INVITE_FILE
from videonet_daemon.errors import foreign_error
from videonet_daemon.realtime.quiet import OneLinePerInterval
from videonet_daemon.settings import Settings

log = logging.getLogger(__name__)
# Clients' malformed requests: one line each, at most one per interval (realtime/quiet.py).
_bad_requests = logging.getLogger(f"{__name__}.bad_requests")
_bad_requests.addFilter(OneLinePerInterval())

SHUTDOWN_GRACE_SECONDS = 10.0


async def serve(settings: Settings) -> None:
    # Signals are handled from the start, so a SIGTERM that comes during start-up (or right
    # after the address is printed) still means a clean shutdown.
    stop = _stop_on_signals()
    daemon = build(settings)
    # Held until the process ends (a kill -9 drops it too): `restore` refuses a served data dir.
    serving_lock = hold_serving_lock(settings.resolved_data_dir)

    class Handler(JsonErrorHandler):
        header_timeout = settings.http_header_timeout

    runner = runner_with_handler(
        daemon.app,
        Handler,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        # A kept-alive connection with no request in flight is closed after this (aiohttp's
        # own default is an hour); from its first byte a request's head has `header_timeout`.
        keepalive_timeout=settings.http_idle_timeout,
    )
    await runner.setup()
    try:
        tls = _tls_context(settings)
        site = web.TCPSite(runner, settings.host, settings.port, ssl_context=tls)
        await site.start()
        host, port = runner.addresses[0][:2]
        daemon.node.bound(host, port, tls is not None)
        await daemon.node.announce(daemon.db)
        shown_host = f"[{host}]" if ":" in host else host
        scheme = "https" if tls else "http"
        code = daemon.bootstrap_invite
        if code:
            path = settings.resolved_data_dir / BOOTSTRAP_INVITE_FILE
            # Shown at every start until someone registers with it (also in the file and in
            # `videonet-daemon invite list`), so a failed first start does not lose it.
            print(f"bootstrap invite (unused; also in {path}): {code}", flush=True)
        # Tests and scripts read this line to find a port-0 daemon; it comes last.
        print(f"videonet-daemon listening on {scheme}://{shown_host}:{port}", flush=True)
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()
        os.close(serving_lock)


class JsonErrorHandler(RequestHandler):
    """aiohttp answers a request it cannot parse (a bad header, a bad request line) itself,
    before any middleware, in text/plain; this gives those answers the JSON error shape too.

    It also closes a connection whose request head does not arrive whole within
    `header_timeout` seconds (from the connection's start, or from the first byte of each next
    request on a kept-alive one): aiohttp has no such limit, and a client trickling one header
    byte at a time (slowloris) held a connection, a file descriptor and a parser for as long
    as it liked. Silent connections end at this limit too; idle kept-alive ones at aiohttp's
    `keepalive_timeout`.
    """

    header_timeout = 0.0  # set by `serve` in a subclass, from the settings; 0 = no limit
    _head_timer: asyncio.TimerHandle | None = None
    _client_error = False  # the error being handled is the client's (a malformed request)
    # The body of the last request whose head arrived: until it is whole, bytes that come are
    # its body, never the head of a next request (an upload takes as long as it takes; its own
    # stall limit applies, not this one).
    _last_body: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_head_timer()

    def log_exception(self, *args: Any, **kw: Any) -> None:
        if not self._client_error:
            super().log_exception(*args, **kw)
            return
        # Anyone can send a malformed request, so each would write a traceback to the log: one
        # line instead, at most one per interval (the next says how many were left out).
        exc = kw.get("exc_info")
        shown = str(getattr(exc, "message", None) or exc or "").strip().split("\n", 1)[0]
        peer = self.transport.get_extra_info("peername") if self.transport else None
        address = peer[0] if isinstance(peer, tuple) else "unknown"
        _bad_requests.error("malformed request from %s: %s", address, shown[:200])

    def data_received(self, data: bytes) -> None:
        if data and self._head_timer is None and self._between_requests():
            self._start_head_timer()  # the first byte of the next request on this connection
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:
            self._last_body = self._messages[-1][1] if self._messages else None
        if self._request_count != before or self._upgraded or self._payload_parser is not None:
            self._stop_head_timer()  # a whole head arrived (or the connection became a socket)

    def _between_requests(self) -> bool:
        """No request is arriving or waiting: the next byte starts a new request's head."""
        if self._payload_parser is not None or self._upgraded or self._messages:
            return False
        if self._last_body is not None and not self._last_body.is_eof():
            return False
        self._last_body = None  # whole: nothing of it is needed any more
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _start_head_timer(self) -> None:
        if self.header_timeout > 0:
            self._head_timer = self._loop.call_later(self.header_timeout, self._head_late)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        log.debug("closed a connection whose request head took over %.0f s", self.header_timeout)
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # Logs it (a client's malformed request in one rate-limited line: see log_exception),
        # and raises when part of an answer was sent already.
        self._client_error = status < HTTPStatus.INTERNAL_SERVER_ERROR
        try:
            super().handle_error(request, status, exc, message)
        finally:
            self._client_error = False
        reason = HTTPStatus(status).phrase
        # The parser's text points at the bad byte over several lines; its first line says why.
        text = str(getattr(exc, "message", None) or reason).strip().split("\n", 1)[0]
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:  # never a traceback
            text = "internal error; see the daemon's log"
        answer = foreign_error(status, text, reason)
        answer.force_close()
        return answer


def _stop_on_signals() -> asyncio.Event:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def first() -> None:
        if stop.is_set():
            os._exit(1)  # second signal: the user wants out now
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, first)
    return stop


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
