"""Request bodies that come slowly, or are announced larger than they may be.

`server.JsonErrorHandler` closes a connection whose request *head* is slow; this is the same for
the small bodies the daemon reads whole: a JSON body, and a Socket.IO polling POST. Each has
`timeout` seconds from its head to arrive; a JSON body announced (Content-Length) larger than
`max_json_bytes` is refused at once, before a byte of it is read. A client that declared
100 bytes and sent ten held its connection and a handler for as long as it liked before.

Transfer uploads and /api/video/verify stream large bodies and are left to their own limits
(the upload's stall timeout).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from videonet_daemon.errors import BadRequest, PayloadTooLarge
from videonet_daemon.validation import is_json_type
from videonet_protocol import protocol

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SlowBody(BadRequest):
    """The request body did not arrive in time."""


def slow_body_middleware(timeout: float, max_json_bytes: int) -> Middleware:
    socket_prefix = f"/{protocol.SOCKET_PATH}/"

    def too_slow() -> SlowBody:
        return SlowBody(f"the request body did not arrive within {timeout:g} s")

    @web.middleware
    async def slow_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in BODY_METHODS or not request.body_exists:
            return await handler(request)
        if is_json_type(request.content_type):
            if (request.content_length or 0) > max_json_bytes:
                raise PayloadTooLarge()
            try:
                # Read whole here, under the deadline; `read_json` then gets these bytes.
                await asyncio.wait_for(request.read(), timeout)
            except TimeoutError:
                raise too_slow() from None
            except web.HTTPRequestEntityTooLarge as exc:
                raise PayloadTooLarge() from exc
        elif request.path.startswith(socket_prefix):
            # engine.io reads a polling POST from the stream itself (it waits for the first
            # byte, then takes what came): the whole answer gets the deadline. Cancelled, it
            # answers its plain "OK" with no packets taken, or we answer 400.
            try:
                return await asyncio.wait_for(handler(request), timeout)
            except TimeoutError:
                raise too_slow() from None
        return await handler(request)

    return slow_bodies
