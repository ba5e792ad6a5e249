"""Operations: GET /api/health for load balancers, GET /metrics for Prometheus."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon import __version__, protocol
from videonet_daemon.errors import NotFound
from videonet_daemon.metrics import Metrics, is_loopback
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.service import RoomService
from videonet_daemon.settings import Settings


async def health(request: web.Request) -> web.Response:
    payload: protocol.HealthResponse = {
        "status": "ok",
        "version": __version__,
        "protocol": protocol.PROTOCOL_VERSION,
    }
    return web.json_response(payload)


class OpsFeature:
    def __init__(self, settings: Settings, metrics: Metrics, rooms: RoomService) -> None:
        self._mode = settings.metrics
        self._metrics = metrics
        self._rooms = rooms
        self._hub: Hub | None = None

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        self._hub = hub
        router.add_get(protocol.API_HEALTH, health)
        router.add_get(protocol.API_METRICS, self.metrics)

    async def metrics(self, request: web.Request) -> web.Response:
        if self._mode == "off" or (self._mode == "loopback" and not is_loopback(request.remote)):
            raise NotFound()
        self._metrics.rooms.set(await self._rooms.count())
        self._metrics.connected.set(len(self._hub.users) if self._hub else 0)
        return self._metrics.render()
