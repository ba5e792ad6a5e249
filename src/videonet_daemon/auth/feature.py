"""The accounts feature: register, log in and out, who am I, invites (HTTP); and the end of a
session's sockets on every daemon when it logs out."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from videonet_daemon.auth.disabled import DisabledSweeper
from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.auth.routes import LANGUAGE_CHANGED, SESSION_ENDED, AuthRoutes
from videonet_daemon.auth.service import AuthService
from videonet_daemon.cluster import Bus
from videonet_daemon.db.engine import Database
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard


class AuthFeature:
    def __init__(
        self,
        auth: AuthService,
        who: RequestAuth,
        db: Database,
        bus: Bus,
        max_invites: int,
        guard: RoomGuard,
    ) -> None:
        self._routes = AuthRoutes(auth, who, db, bus, max_invites, guard)
        self._bus = bus
        self._db = db
        self._sweeper: DisabledSweeper | None = None
        self._sweeping: asyncio.Task[None] | None = None

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        router.add_routes(self._routes.routes())  # connection auth is the hub's (AuthService)
        self._sweeper = DisabledSweeper(self._db, hub)

        async def session_ended(message: dict[str, Any]) -> None:
            session = message.get("session")
            user_id = message.get("user_id")
            await hub.end_sessions(
                session=str(session) if session else None,
                user_id=int(user_id) if user_id is not None else None,
            )

        self._bus.on(SESSION_ENDED, session_ended)

        async def language_changed(message: dict[str, Any]) -> None:
            saved = message.get("language")
            hub.speak(int(message["user_id"]), saved if isinstance(saved, str) else None)

        self._bus.on(LANGUAGE_CHANGED, language_changed)

    async def start(self) -> None:
        """The sweep that disconnects the sockets of users the operator disabled."""
        if self._sweeper is not None:
            self._sweeping = asyncio.create_task(self._sweeper.run_forever())

    async def stop(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeping
