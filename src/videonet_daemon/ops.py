"""Operations: GET /api/health for load balancers, GET /metrics for Prometheus.

Health asks each dependency (the database; Redis when configured) and answers 503 "degraded",
naming the one that is down, so a load balancer stops sending clients to a daemon that cannot
serve them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from videonet_daemon import __version__
from videonet_daemon.errors import NotFound
from videonet_daemon.feature import Quiet
from videonet_daemon.metrics import Metrics, is_loopback
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.service import RoomService
from videonet_daemon.settings import Settings
from videonet_protocol import protocol

log = logging.getLogger(__name__)

# A dependency that does not answer within this long counts as down.
CHECK_TIMEOUT_SECONDS = 3.0

Check = Callable[[], Awaitable[object]]


class Health:
    """The dependency checks behind /api/health, by name."""

    def __init__(self, checks: dict[str, Check]) -> None:
        self._checks = checks

    async def handle(self, request: web.Request) -> web.Response:
        names = list(self._checks)
        results = await asyncio.gather(*(self._one(self._checks[n]) for n in names))
        dependencies = dict(zip(names, results, strict=True))
        healthy = all(r == protocol.DEPENDENCY_OK for r in results)
        payload: protocol.HealthResponse = {
            "status": protocol.HEALTH_OK if healthy else protocol.HEALTH_DEGRADED,
            "version": __version__,
            "protocol": protocol.PROTOCOL_VERSION,
            "dependencies": dependencies,
        }
        return web.json_response(payload, status=200 if healthy else 503)

    async def _one(self, check: Check) -> str:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("health check failed: %r", exc)
            return protocol.DEPENDENCY_DOWN
        return protocol.DEPENDENCY_OK


class OpsFeature(Quiet):
    def __init__(
        self, settings: Settings, metrics: Metrics, rooms: RoomService, health: Health
    ) -> None:
        self._health = health
        self._mode = settings.metrics
        self._metrics = metrics
        self._rooms = rooms
        self._hub: Hub | None = None

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        self._hub = hub
        router.add_routes(
            [
                web.get(protocol.API_HEALTH, self._health.handle),
                web.get(protocol.API_METRICS, self.metrics),
            ]
        )

    async def metrics(self, request: web.Request) -> web.Response:
        if self._mode == "off" or (self._mode == "loopback" and not is_loopback(request.remote)):
            raise NotFound()
        self._metrics.rooms.set(await self._rooms.count())
        self._metrics.connected.set(len(self._hub.users) if self._hub else 0)
        return self._metrics.render()
