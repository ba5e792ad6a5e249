"""HTTP Strict Transport Security: a browser that reached the daemon over HTTPS keeps to it.

Sent on every answer to a request that came over HTTPS as the browser sees it (the daemon's
own TLS, or behind a trusted proxy its forwarded scheme), never over plain HTTP, where a
browser ignores it anyway and a loopback test daemon must stay reachable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

# A year, the figure browsers' preload lists ask for; no includeSubDomains: the daemon does not
# speak for the other hosts of its domain.
HSTS = "max-age=31536000"

OnPrepare = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def strict_transport(is_https: Callable[[web.Request], bool]) -> OnPrepare:
    """An `on_response_prepare` hook that adds the header to HTTPS answers."""

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        if is_https(request):
            response.headers.setdefault("Strict-Transport-Security", HSTS)

    return add
