"""The accounts feature: register, log in and out, who am I, invites (HTTP); and the end of a
session's sockets on every daemon when it logs out."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.auth.routes import SESSION_ENDED, AuthRoutes
from videonet_daemon.auth.service import AuthService
from videonet_daemon.cluster import Bus
from videonet_daemon.db.engine import Database
from videonet_daemon.realtime.hub import Hub


class AuthFeature:
    def __init__(
        self, auth: AuthService, who: RequestAuth, db: Database, bus: Bus, max_invites: int
    ) -> None:
        self._routes = AuthRoutes(auth, who, db, bus, max_invites)
        self._bus = bus

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        self._routes.add_to(router)  # connection auth is the hub's (it asks AuthService)

        async def session_ended(message: dict[str, Any]) -> None:
            session = message.get("session")
            user_id = message.get("user_id")
            await hub.end_sessions(
                session=str(session) if session else None,
                user_id=int(user_id) if user_id is not None else None,
            )

        self._bus.on(SESSION_ENDED, session_ended)
