"""HTTP handlers for /api/auth/* and /api/invites, and the `require_user` check."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon import invites, keys, protocol
from videonet_daemon.auth.service import User
from videonet_daemon.clock import iso_from_epoch
from videonet_daemon.errors import Unauthenticated
from videonet_daemon.validation import get_int, get_str, read_json

_USER = "videonet.user"
_JTI = "videonet.jti"


def token_from_request(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.cookies.get(protocol.AUTH_COOKIE) or None


async def require_user(request: web.Request) -> User:
    """The authenticated user (bearer header or cookie), or 401."""
    cached = request.get(_USER)
    if isinstance(cached, User):
        return cached
    token = token_from_request(request)
    if token is None:
        raise Unauthenticated()
    user, jti = await request.app[keys.AUTH].authenticate(token)
    request[_USER] = user
    request[_JTI] = jti
    return user


def client_address(request: web.Request) -> str:
    if request.app[keys.SETTINGS].trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote or "unknown"


def is_https(request: web.Request) -> bool:
    if request.app[keys.SETTINGS].trust_proxy:
        proto = request.headers.get("X-Forwarded-Proto", "")
        if proto:
            return proto.split(",")[0].strip().lower() == "https"
    return request.secure


async def register(request: web.Request) -> web.Response:
    body = await read_json(request)
    email = get_str(body, "email", max_chars=protocol.EMAIL_MAX_CHARS)
    username = get_str(body, "username", max_chars=protocol.USERNAME_MAX_CHARS)
    password = get_str(body, "password", max_chars=1024, strip=False)
    invite_code = get_str(body, "invite_code", max_chars=64)
    user, personal_code = await request.app[keys.AUTH].register(
        email, username, password, invite_code
    )
    payload: protocol.RegisterResponse = {"user": user.info(), "invite_code": personal_code}
    return web.json_response(payload, status=201)


async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    email = get_str(body, "email", max_chars=protocol.EMAIL_MAX_CHARS)
    password = get_str(body, "password", max_chars=1024, strip=False)
    issued, user = await request.app[keys.AUTH].login(email, password, client_address(request))
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
        max_age=request.app[keys.AUTH].tokens.lifetime,
        httponly=True,
        samesite="Lax",
        secure=is_https(request),
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    await require_user(request)
    await request.app[keys.AUTH].logout(request[_JTI])
    response = web.json_response({"logged_out": True})
    response.del_cookie(protocol.AUTH_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    user = await require_user(request)
    return web.json_response(user.info())


async def create_invite(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await read_json(request)
    uses = get_int(body, "uses", default=1, minimum=1, maximum=protocol.INVITE_MAX_USES)
    expires_in = get_int(
        body, "expires_in", default=None, minimum=60, maximum=protocol.INVITE_MAX_LIFETIME_SECONDS
    )
    db = request.app[keys.DB]
    async with db.transaction() as conn:
        code = await invites.create(conn, user.id, uses or 1, expires_in)
    created = [i for i in await invites.list_for(db, user.id) if i["code"] == code]
    return web.json_response(created[0], status=201)


async def list_invites(request: web.Request) -> web.Response:
    user = await require_user(request)
    return web.json_response(await invites.list_for(request.app[keys.DB], user.id))


def add_routes(app: web.Application) -> None:
    app.router.add_post(protocol.API_REGISTER, register)
    app.router.add_post(protocol.API_LOGIN, login)
    app.router.add_post(protocol.API_LOGOUT, logout)
    app.router.add_get(protocol.API_ME, me)
    app.router.add_post(protocol.API_INVITES, create_invite)
    app.router.add_get(protocol.API_INVITES, list_invites)
