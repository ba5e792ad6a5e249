"""HTTP handlers for /api/auth/* and /api/invites."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon import invites
from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.auth.service import AuthService
from videonet_daemon.clock import iso_from_epoch
from videonet_daemon.cluster import Bus
from videonet_daemon.db.engine import Database
from videonet_daemon.errors import Conflict
from videonet_daemon.validation import get_body, get_int, get_str, read_json
from videonet_protocol import protocol

# Published on the daemon bus when a session ends ({"session": jti} or {"user_id": id}), so
# every daemon (this one included) closes that session's sockets.
SESSION_ENDED = "session_ended"


class AuthRoutes:
    def __init__(
        self, auth: AuthService, who: RequestAuth, db: Database, bus: Bus, max_invites: int
    ) -> None:
        self._max_invites = max_invites  # usable invites one account may hold
        self._auth = auth
        self._who = who
        self._db = db
        self._bus = bus

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(protocol.API_REGISTER, self.register),
            web.post(protocol.API_LOGIN, self.login),
            web.post(protocol.API_LOGOUT, self.logout),
            web.get(protocol.API_ME, self.me),
            web.post(protocol.API_INVITES, self.create_invite),
            web.get(protocol.API_INVITES, self.list_invites),
        ]

    async def register(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        email = get_str(body, "email", max_chars=protocol.EMAIL_MAX_CHARS)
        username = get_str(body, "username", max_chars=protocol.USERNAME_MAX_CHARS)
        password = get_str(
            body, "password", max_chars=protocol.PASSWORD_FIELD_MAX_CHARS, strip=False
        )
        invite_code = get_str(body, "invite_code", max_chars=protocol.INVITE_CODE_MAX_CHARS)
        user, personal_code = await self._auth.register(
            email, username, password, invite_code, self._who.client_address(request)
        )
        payload: protocol.RegisterResponse = {"user": user.info(), "invite_code": personal_code}
        return web.json_response(payload, status=201)

    async def login(self, request: web.Request) -> web.Response:
        body = get_body(await read_json(request), protocol.LoginRequest)
        issued, user = await self._auth.login(
            body["email"], body["password"], self._who.client_address(request)
        )
        payload: protocol.LoginResponse = {
            "token": issued.token,
            "token_type": "bearer",
            "expires_at": iso_from_epoch(issued.expires_at),
            "user": user.info(),
        }
        response = web.json_response(payload)
        response.set_cookie(
            protocol.AUTH_COOKIE,
            issued.token,
            max_age=self._auth.tokens.lifetime,
            httponly=True,
            samesite="Lax",
            secure=self._who.is_https(request),
            path="/",
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        await self._who.require_user(request)
        session = self._who.session_id(request)
        await self._auth.logout(session)
        await self._bus.publish(SESSION_ENDED, session=session)
        response = web.json_response({"logged_out": True})
        response.del_cookie(protocol.AUTH_COOKIE, path="/")
        return response

    async def me(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        return web.json_response(user.info())

    async def create_invite(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        body = await read_json(request)
        uses = get_int(body, "uses", default=1, minimum=1, maximum=protocol.INVITE_MAX_USES)
        expires_in = get_int(
            body,
            "expires_in",
            default=None,
            minimum=protocol.INVITE_MIN_LIFETIME_SECONDS,
            maximum=protocol.INVITE_MAX_LIFETIME_SECONDS,
        )
        async with self._db.transaction() as conn:
            if await invites.usable_count(conn, user.id) >= self._max_invites:
                raise Conflict(
                    f"you have {self._max_invites} usable invites, the most this daemon allows; "
                    "let one be used or expire first"
                )
            code = await invites.create(conn, user.id, uses or 1, expires_in)
        created = [i for i in await invites.list_for(self._db, user.id) if i["code"] == code]
        return web.json_response(created[0], status=201)

    async def list_invites(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        return web.json_response(await invites.list_for(self._db, user.id))
