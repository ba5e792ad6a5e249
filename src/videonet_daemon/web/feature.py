"""The web client feature: GET / and /static/{name}; and the Socket.IO origin check the hub uses.

Only the files shipped in the package's ``static`` directory are served, looked up by exact
name (no path is ever joined from the request). Every response of the page carries a
Content-Security-Policy that allows nothing but this origin: no inline script or style, no
third-party hosts, and network connections (fetch, WebSocket) only back to the daemon.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from aiohttp import web

from videonet_daemon.errors import NotFound
from videonet_daemon.feature import Quiet
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
# 'self' covers ws:/wss: to the same host in CSP level 3 (Chromium, Firefox, Safari).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
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
    return files


class StaticFiles:
    def __init__(self) -> None:
        self.files = _load_static()

    def respond(self, name: str) -> web.Response:
        found = self.files.get(name)
        if found is None:
            raise NotFound(f"no such file: {name}")
        body, content_type = found
        response = web.Response(body=body, headers=SECURITY_HEADERS)
        response.content_type = content_type.split(";")[0]
        if "charset" in content_type:
            response.charset = "utf-8"
        return response

    async def index(self, request: web.Request) -> web.Response:
        return self.respond(INDEX)

    async def static(self, request: web.Request) -> web.Response:
        return self.respond(request.match_info["name"])


def origin_check(extra: list[str]) -> Callable[[str | None, dict[str, Any]], bool]:
    """engine.io's origin test: the daemon's own origin (as engine.io computes it when no list
    is given) or one of the configured extra origins."""
    allowed = {origin.rstrip("/") for origin in extra}

    def check(origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None or origin in allowed:
            return True  # no Origin header: not a browser, so not a cross-site page
        host = environ.get("HTTP_HOST", "")
        schemes = {environ.get("wsgi.url_scheme", "http")}
        forwarded = environ.get("HTTP_X_FORWARDED_PROTO")
        if forwarded:
            schemes.add(forwarded.split(",")[0].strip())
        return origin in {f"{scheme}://{host}" for scheme in schemes}

    return check


class WebFeature(Quiet):
    """Serves the browser client at / (same origin as the API it uses)."""

    def __init__(self) -> None:
        self._files = StaticFiles()

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        router.add_routes(
            [
                web.get(protocol.WEB_INDEX, self._files.index),
                web.get(protocol.WEB_STATIC, self._files.static),
            ]
        )
