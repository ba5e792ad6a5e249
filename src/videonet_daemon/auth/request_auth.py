"""Who sent an HTTP request: the bearer token or cookie resolved to a `User` (or 401)."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.auth.service import AuthService, User
from videonet_daemon.errors import Unauthenticated
from videonet_daemon.forwarded import hop_value
from videonet_daemon.i18n import ACCOUNT_LANGUAGE
from videonet_daemon.settings import Settings
from videonet_protocol import protocol

_USER = "videonet.user"
_JTI = "videonet.jti"


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None (no header, another scheme)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def token_from_request(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return bearer_token(request)  # a Bearer header never falls back to the cookie
    return request.cookies.get(protocol.AUTH_COOKIE) or None


class RequestAuth:
    """Given to every feature with HTTP routes; the one place a request's user is found."""

    def __init__(self, auth: AuthService, settings: Settings) -> None:
        self._auth = auth
        self._trust_proxy = settings.trust_proxy
        self._hops = settings.trusted_proxy_hops

    async def require_user(self, request: web.Request) -> User:
        """The authenticated user (bearer header or cookie), or 401."""
        cached = request.get(_USER)
        if isinstance(cached, User):
            return cached
        token = token_from_request(request)
        if token is None:
            raise Unauthenticated()
        user, jti = await self._auth.authenticate(token)
        request[_USER] = user
        request[_JTI] = jti
        request[ACCOUNT_LANGUAGE] = user.language  # its errors speak it from here on
        return user

    @staticmethod
    def session_id(request: web.Request) -> str:
        """The session (token id) of a request `require_user` has accepted."""
        return str(request[_JTI])

    def client_address(self, request: web.Request) -> str:
        """The client's address: behind trusted proxies, the one the outermost of them saw."""
        if self._trust_proxy:
            forwarded = hop_value(request.headers.get("X-Forwarded-For"), self._hops)
            if forwarded:
                return forwarded
        return request.remote or "unknown"

    def is_https(self, request: web.Request) -> bool:
        if self._trust_proxy:
            proto = hop_value(request.headers.get("X-Forwarded-Proto"), self._hops)
            if proto:
                return proto.lower() == "https"
        return request.secure
