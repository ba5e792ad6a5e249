"""The web client feature: GET / and /static/{name}; and the Socket.IO origin check the hub uses.

Only the files shipped in the package's ``static`` directory are served, looked up by exact
name (no path is ever joined from the request), plus the page's catalogues (``i18n-LANG.json``,
built from the compiled ``videonet_web`` catalogues at start-up), plus two from Debian packages
for calls through a media server: janus.js (libjs-janus-gateway) and adapter.js
(libjs-webrtc-adapter), read from their fixed install paths when present. Each file has an
ETag (a 304 answers a matching If-None-Match). Every response of the page carries a
Content-Security-Policy that allows nothing but this origin: no inline script or style, no
third-party hosts, and network connections (fetch, WebSocket) only back to the daemon — and,
when the daemon names a media server at another origin, to that origin too (janus.js talks
to Janus directly; behind the documented nginx site it is the same origin).
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from videonet_daemon.errors import NotFound
from videonet_daemon.feature import Quiet
from videonet_daemon.forwarded import hop_value
from videonet_daemon.i18n import LOCALEDIR, N_
from videonet_daemon.realtime.hub import Hub
from videonet_protocol import protocol
from videonet_protocol.i18n import LANGUAGE_NAMES, LANGUAGES, translations

INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".LICENSE": "text/plain; charset=utf-8",
    ".json": "application/json; charset=utf-8",
}
# The page's catalogues (static/i18n.js fetches them): built from the compiled videonet_web .mo
# files when the daemon starts, one per language.
WEB_DOMAIN = "videonet_web"
CATALOGUE = "i18n-{language}.json"
# Where index.html's language switch gets its options (`language_options`).
LANGUAGE_OPTIONS = b"<!--languages-->"
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
    if INDEX in files:
        body, content_type = files[INDEX]
        files[INDEX] = (body.replace(LANGUAGE_OPTIONS, language_options()), content_type)
    for name, path in PACKAGED_SCRIPTS.items():
        if path.is_file():
            files[name] = (path.read_bytes(), CONTENT_TYPES[".js"])
    for language in LANGUAGES:
        files[CATALOGUE.format(language=language)] = (catalogue(language), CONTENT_TYPES[".json"])
    return files


def language_options() -> bytes:
    """The language switch's options: each language's own name (LANGUAGE_NAMES)."""
    return "".join(
        f'<option value="{html.escape(code)}" lang="{html.escape(code)}">'
        f"{html.escape(LANGUAGE_NAMES[code])}</option>"
        for code in LANGUAGES
    ).encode("utf-8")


def catalogue(language: str) -> bytes:
    """The page's words in ``language`` as JSON: ``messages`` (msgid -> text), ``plurals``
    (singular -> its forms, in the language's order) and every language's own name. English,
    or a missing catalogue, has no messages: the page's source text is English."""
    found = translations(LOCALEDIR, WEB_DOMAIN, language)
    table: dict[object, str] = getattr(found, "_catalog", {})  # gettext's parsed .mo
    messages: dict[str, str] = {}
    forms: dict[str, dict[int, str]] = {}
    for key, text in table.items():
        if isinstance(key, str):
            if key and text:
                messages[key] = text
        elif isinstance(key, tuple) and len(key) == 2 and text:
            singular, index = key
            forms.setdefault(str(singular), {})[int(index)] = text
    plurals = {k: [v[i] for i in sorted(v)] for k, v in forms.items()}
    document = {
        "language": language,
        "languages": dict(LANGUAGE_NAMES),
        "messages": messages,
        "plurals": plurals,
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")


class StaticFiles:
    def __init__(self, media_origin: str = "") -> None:
        self.files = _load_static()
        # A strong validator per file: with "no-cache" the browser asks again on each load and
        # gets a 304 (no body) while the file is unchanged.
        self.etags = {
            name: '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            for name, (body, _) in self.files.items()
        }
        self.headers = {
            **SECURITY_HEADERS,
            "Content-Security-Policy": content_security_policy(media_origin),
        }

    def respond(self, name: str, request: web.Request | None = None) -> web.Response:
        found = self.files.get(name)
        if found is None:
            raise NotFound(N_("no such file: {name}"), name=name)
        body, content_type = found
        etag = self.etags[name]
        headers = {**self.headers, "ETag": etag}
        if request is not None and etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        response = web.Response(body=body, headers=headers)
        response.content_type = content_type.split(";")[0]
        if "charset" in content_type:
            response.charset = "utf-8"
        return response

    async def index(self, request: web.Request) -> web.Response:
        return self.respond(INDEX, request)

    async def static(self, request: web.Request) -> web.Response:
        return self.respond(request.match_info["name"], request)


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
