"""The accounts feature: register, log in and out, who am I, invites (HTTP only)."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.auth.routes import AuthRoutes
from videonet_daemon.auth.service import AuthService
from videonet_daemon.db.engine import Database
from videonet_daemon.realtime.hub import Hub


class AuthFeature:
    def __init__(self, auth: AuthService, who: RequestAuth, db: Database) -> None:
        self._routes = AuthRoutes(auth, who, db)

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        self._routes.add_to(router)  # connection auth is the hub's (it asks AuthService)
