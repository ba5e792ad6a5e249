"""Cross-site request forgery: writes that ride on the login cookie must come from our origin.

A browser attaches the ``access_token`` cookie to any request to the daemon, whichever page made
it. ``SameSite=Lax`` stops that for most cross-site POSTs, but not for a sibling site (same
registrable domain), old browsers, or a proxy that rewrites cookies; and HTML forms can send
``text/plain`` or form-encoded bodies with no CORS preflight. So every write (POST, PUT, PATCH,
DELETE) that is not authenticated by an ``Authorization: Bearer`` token (a page on another site
cannot set one without a preflight, which this daemon never answers; a browser adds Basic
credentials it was given for a proxy on its own, so those count for nothing) must carry an
``Origin`` that is the daemon's own or one of ``web_allowed_origins``; a browser that says the
request is cross-site (``Sec-Fetch-Site``) without an ``Origin`` is refused too. Clients that
are not browsers send neither header and are not affected. JSON bodies are required by
`read_json`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from videonet_daemon.auth.request_auth import bearer_token
from videonet_daemon.errors import Forbidden
from videonet_daemon.i18n import N_

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def own_origins(request: web.Request, trust_proxy: bool) -> set[str]:
    """The daemon's own origin as the browser sees it (behind a proxy: its forwarded scheme)."""
    schemes = {request.scheme}
    forwarded = request.headers.get("X-Forwarded-Proto", "") if trust_proxy else ""
    if forwarded:
        schemes.add(forwarded.split(",")[0].strip().lower())
    return {f"{scheme}://{request.host}" for scheme in schemes}


def bearer_authenticated(request: web.Request) -> bool:
    """Whether the request is authenticated by a bearer token, and so by nothing else: with a
    ``Bearer`` header the login cookie is never read (`token_from_request`). Any other
    ``Authorization`` (Basic, from a proxy in front) leaves the cookie in charge."""
    return bearer_token(request) is not None


def cross_site_middleware(allowed: list[str], trust_proxy: bool) -> Middleware:
    extra = {origin.rstrip("/") for origin in allowed}

    @web.middleware
    async def cross_site(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in SAFE_METHODS and not bearer_authenticated(request):
            origin = request.headers.get("Origin")
            if origin is None:
                if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
                    raise Forbidden(N_("cross-site request refused"))
            elif origin not in extra and origin not in own_origins(request, trust_proxy):
                raise Forbidden(N_("cross-site request from {origin} refused"), origin=origin)
        return await handler(request)

    return cross_site
