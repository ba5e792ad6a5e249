"""HTTP handlers for /api/auth/* and /api/invites."""

from __future__ import annotations

import contextlib

from aiohttp import web

from videonet_daemon import invites
from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.auth.service import AuthService
from videonet_daemon.clock import iso_from_epoch
from videonet_daemon.cluster import Bus
from videonet_daemon.db.engine import Database
from videonet_daemon.errors import Conflict, Unavailable, ValidationError
from videonet_daemon.i18n import ACCOUNT_LANGUAGE, N_, saved_language
from videonet_daemon.rooms.guard import RoomGuard, room_id_of
from videonet_daemon.validation import get_body, get_int, read_json
from videonet_protocol import protocol
from videonet_protocol.i18n import LANGUAGES

# Published on the daemon bus when a session ends ({"session": jti} or {"user_id": id}), so
# every daemon (this one included) closes that session's sockets.
SESSION_ENDED = "session_ended"
# Published when an account saves its language ({"user_id", "language": "ko" or None}), so its
# sockets on every daemon answer in it.
LANGUAGE_CHANGED = "language_changed"


class AuthRoutes:
    def __init__(
        self,
        auth: AuthService,
        who: RequestAuth,
        db: Database,
        bus: Bus,
        max_invites: int,
        guard: RoomGuard,
    ) -> None:
        self._guard = guard  # an invite into a room is made by one of its members
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
            web.get(protocol.API_ME_LANGUAGE, self.language),
            web.put(protocol.API_ME_LANGUAGE, self.set_language),
            web.post(protocol.API_INVITES, self.create_invite),
            web.get(protocol.API_INVITES, self.list_invites),
        ]

    async def register(self, request: web.Request) -> web.Response:
        body = get_body(await read_json(request), protocol.RegisterRequest)
        user, personal_code, room = await self._auth.register(
            body["email"],
            body["username"],
            body["password"],
            body["invite_code"],
            self._who.client_address(request),
        )
        payload: protocol.RegisterResponse = {
            "user": user.info(),
            "invite_code": personal_code,
            "room": room,
        }
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

    async def language(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        setting: protocol.LanguageSetting = {"language": user.language or None}
        return web.json_response(setting)

    async def set_language(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        body = await read_json(request)
        if "language" not in body:
            raise ValidationError(N_("language is required (null for none)"))
        value = body["language"]
        language = saved_language(value) if isinstance(value, str) else None
        if value is not None and language is None:
            raise ValidationError(
                N_("language must be one of {languages}, or null"),
                languages=", ".join(LANGUAGES),
            )
        await self._auth.set_language(user.id, language or "")
        # Saved already: without Redis the sockets keep their language until they reconnect.
        with contextlib.suppress(Unavailable):
            await self._bus.publish(LANGUAGE_CHANGED, user_id=user.id, language=language)
        # This answer already speaks the new language, as every later one will.
        request[ACCOUNT_LANGUAGE] = language or ""
        setting: protocol.LanguageSetting = {"language": language}
        return web.json_response(setting)

    async def create_invite(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        body = await read_json(request)
        uses = get_int(body, "uses", default=1, minimum=1, maximum=protocol.INVITE_MAX_USES)
        room_id = body.get("room_id")
        if room_id is not None:
            room_id = room_id_of(body)
            await self._guard.require_inviter(room_id, user.id)
        expires_in = get_int(
            body,
            "expires_in",
            # An invite into a room is a link pasted into a chat: it must not live for ever.
            default=protocol.ROOM_INVITE_DEFAULT_LIFETIME_SECONDS if room_id else None,
            minimum=protocol.INVITE_MIN_LIFETIME_SECONDS,
            maximum=protocol.INVITE_MAX_LIFETIME_SECONDS,
        )
        async with self._db.transaction() as conn:
            if await invites.usable_count(conn, user.id) >= self._max_invites:
                raise Conflict(
                    N_(
                        "you have {count} usable invites, the most this daemon allows; "
                        "let one be used or expire first"
                    ),
                    count=self._max_invites,
                )
            code = await invites.create(conn, user.id, uses or 1, expires_in, room_id)
        created = [i for i in await invites.list_for(self._db, user.id) if i["code"] == code]
        return web.json_response(created[0], status=201)

    async def list_invites(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        return web.json_response(await invites.list_for(self._db, user.id))
