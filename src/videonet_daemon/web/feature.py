"""The web client feature: GET / and /static/{name}; and the Socket.IO origin check the hub uses.

Only the files shipped in the package's ``static`` directory are served, looked up by exact
name (no path is ever joined from the request), plus two from Debian packages for calls through
a media server: janus.js (libjs-janus-gateway) and adapter.js (libjs-webrtc-adapter), read from
their fixed install paths when present. Every response of the page carries a
Content-Security-Policy that allows nothing but this origin: no inline script or style, no
third-party hosts, and network connections (fetch, WebSocket) only back to the daemon — and,
when the daemon names a media server at another origin, to that origin too (janus.js talks
to Janus directly; behind the documented nginx site it is the same origin).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from videonet_daemon.errors import NotFound
from videonet_daemon.feature import Quiet
from videonet_daemon.forwarded import hop_value
from videonet_daemon.realtime.hub import Hub
from videonet_protocol import protocol

INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".LICENSE": "text/plain; charset=utf-8",
}
# The call page's Janus client and its WebRTC shim, from Debian (the same files for every site).
PACKAGED_SCRIPTS = {
    "janus.js": Path("/usr/share/javascript/janus-gateway/janus.js"),
    "adapter.js": Path("/usr/share/javascript/webrtc-adapter/adapter.js"),
}


def content_security_policy(connect_extra: str = "") -> str:
    """The page's policy; ``connect_extra``: one more origin fetch may reach (the media server)."""
    # 'self' covers ws:/wss: to the same host in CSP level 3 (Chromium, Firefox, Safari).
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob: mediastream:",
            f"connect-src 'self' {connect_extra}".strip(),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def origin_of(url: str | None) -> str:
    """scheme://host[:port] of a URL, or '' for None."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


CONTENT_SECURITY_POLICY = content_security_policy()
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Small files that change with every release: revalidate rather than serve stale code.
    "Cache-Control": "no-cache",
}


def _load_static() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, content type) for every shipped file; read once, a few dozen KB."""
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files(__package__).joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        content_type = CONTENT_TYPES.get(suffix)
        if entry.is_file() and content_type is not None:
            files[entry.name] = (entry.read_bytes(), content_type)
    for name, path in PACKAGED_SCRIPTS.items():
        if path.is_file():
            files[name] = (path.read_bytes(), CONTENT_TYPES[".js"])
    return files


class StaticFiles:
    def __init__(self, media_origin: str = "") -> None:
        self.files = _load_static()
        self.headers = {
            **SECURITY_HEADERS,
            "Content-Security-Policy": content_security_policy(media_origin),
        }

    def respond(self, name: str) -> web.Response:
        found = self.files.get(name)
        if found is None:
            raise NotFound(f"no such file: {name}")
        body, content_type = found
        response = web.Response(body=body, headers=self.headers)
        response.content_type = content_type.split(";")[0]
        if "charset" in content_type:
            response.charset = "utf-8"
        return response

    async def index(self, request: web.Request) -> web.Response:
        return self.respond(INDEX)

    async def static(self, request: web.Request) -> web.Response:
        return self.respond(request.match_info["name"])


def origin_check(
    extra: list[str], trust_proxy: bool = False, hops: int = 1
) -> Callable[[str | None, dict[str, Any]], bool]:
    """engine.io's origin test: the daemon's own origin (as engine.io computes it when no list
    is given) or one of the configured extra origins. ``X-Forwarded-Proto`` counts only from
    a trusted proxy (`trust_proxy`), read as `forwarded.hop_value` reads it."""
    allowed = {origin.rstrip("/") for origin in extra}

    def check(origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None or origin in allowed:
            return True  # no Origin header: not a browser, so not a cross-site page
        host = environ.get("HTTP_HOST", "")
        # engine.io's aiohttp driver copies X-Forwarded-Proto into wsgi.url_scheme, so the
        # scheme is taken from the connection itself.
        request = environ.get("aiohttp.request")
        schemes = {request.scheme if isinstance(request, web.BaseRequest) else "http"}
        forwarded = hop_value(environ.get("HTTP_X_FORWARDED_PROTO"), hops) if trust_proxy else None
        if forwarded:
            schemes.add(forwarded.lower())
        return origin in {f"{scheme}://{host}" for scheme in schemes}

    return check


class WebFeature(Quiet):
    """Serves the browser client at / (same origin as the API it uses)."""

    def __init__(self, media_server_url: str | None = None) -> None:
        self._files = StaticFiles(origin_of(media_server_url))

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        router.add_routes(
            [
                web.get(protocol.WEB_INDEX, self._files.index),
                web.get(protocol.WEB_STATIC, self._files.static),
            ]
        )
