"""The Socket.IO server (standard protocol v5) on the aiohttp app; the token is checked at connect.

Handlers for chat, presence, transfers and calls register themselves on the same server.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from aiohttp import web

from videonet_daemon import keys, protocol
from videonet_daemon.errors import ApiError

log = logging.getLogger(__name__)

SIO: web.AppKey[socketio.AsyncServer] = web.AppKey("sio", socketio.AsyncServer)


def attach(app: web.Application) -> socketio.AsyncServer:
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        max_http_buffer_size=protocol.SOCKET_MAX_MESSAGE_BYTES,
        logger=False,
        engineio_logger=False,
    )
    sio.attach(app, socketio_path=protocol.SOCKET_PATH)
    app[SIO] = sio

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        request: web.Request = environ["aiohttp.request"]
        token = None
        if isinstance(auth, dict) and isinstance(auth.get("token"), str):
            token = auth["token"]
        if token is None:
            token = request.cookies.get(protocol.AUTH_COOKIE)
        if not token:
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": protocol.ErrorCode.UNAUTHENTICATED, "message": "a token is required"}
            )
        try:
            user, jti = await request.app[keys.AUTH].authenticate(token)
        except ApiError as exc:
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": exc.code, "message": exc.message}
            ) from exc
        await sio.save_session(sid, {"user_id": user.id, "username": user.username, "jti": jti})

    sio.on("connect", connect)

    return sio
