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

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from videonet_daemon.adapters.aiohttp import runner_with_handler
from videonet_daemon.app import build
from videonet_daemon.db.feature import BOOTSTRAP_INVITE_FILE
from videonet_daemon.errors import foreign_error
from videonet_daemon.settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0


async def serve(settings: Settings) -> None:
    # Signals are handled from the start, so a SIGTERM that comes during start-up (or right
    # after the address is printed) still means a clean shutdown.
    stop = _stop_on_signals()
    daemon = build(settings)
    runner = runner_with_handler(
        daemon.app, JsonErrorHandler, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
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


class JsonErrorHandler(RequestHandler):
    """aiohttp answers a request it cannot parse (a bad header, a bad request line) itself,
    before any middleware, in text/plain; this gives those answers the JSON error shape too."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # Logs it, and raises when part of an answer was sent already.
        super().handle_error(request, status, exc, message)
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
