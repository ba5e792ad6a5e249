"""New Socket.IO connections per client address, rate limited before engine.io sees them.

engine.io opens a session for any handshake (a polling GET or a WebSocket upgrade without a
``sid``), before the Socket.IO ``connect`` that checks the token; the session lives until its
ping timeout (45 s) whatever follows. One address opened 3,000 of them in 4.8 s (about 10 kB
each), so without a limit anyone who can reach the port can fill the daemon's memory. Each
address gets a token bucket of `rate` handshakes a second, `burst` at once; a refused one gets
429 with ``Retry-After``. Requests of an open session (with ``sid``) are not counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from videonet_daemon.errors import RateLimited
from videonet_daemon.i18n import N_
from videonet_daemon.realtime.ratelimit import TokenBuckets
from videonet_protocol import protocol

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def handshake_limit_middleware(
    rate: float, burst: int, client_address: Callable[[web.Request], str]
) -> Middleware:
    buckets = TokenBuckets(rate, burst)
    prefix = f"/{protocol.SOCKET_PATH}/"

    @web.middleware
    async def handshakes(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(prefix) and "sid" not in request.query:
            wait = buckets.take(client_address(request))
            if wait:
                raise RateLimited(
                    wait, N_("too many new connections from this address; try again shortly")
                )
        return await handler(request)

    return handshakes
