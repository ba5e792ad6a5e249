"""The calls feature: call:* signaling over Socket.IO (no HTTP routes)."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.calls.roster import Roster
from videonet_daemon.calls.signaling import CallSignaling
from videonet_daemon.cluster import Liveness
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.settings import Settings


class CallsFeature:
    def __init__(
        self, guard: RoomGuard, settings: Settings, roster: Roster, liveness: Liveness | None
    ) -> None:
        self._guard = guard
        self._settings = settings
        self._roster = roster
        self._liveness = liveness

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        signaling = CallSignaling(hub, self._guard, self._settings, self._roster, self._liveness)
        hub.add_events(signaling.events())
        signaling.watch()

    async def start(self) -> None:
        """Nothing of its own: the heartbeat it sweeps after is the cluster's (`Liveness`)."""

    async def stop(self) -> None:
        await self._roster.close()
