"""The calls feature: call:* signaling over Socket.IO (no HTTP routes), and with a media server
(Janus) the VideoRoom of each room, destroyed with the room."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.calls.media_server import MediaServer, RedisPins
from videonet_daemon.calls.room_recording import RoomRecorder
from videonet_daemon.calls.roster import Roster
from videonet_daemon.calls.signaling import CallSignaling
from videonet_daemon.cluster import ROOM_DELETED, Bus, Liveness
from videonet_daemon.errors import NotFound
from videonet_daemon.i18n import N_
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.settings import Settings
from videonet_protocol import protocol


class CallsFeature:
    def __init__(
        self,
        guard: RoomGuard,
        settings: Settings,
        roster: Roster,
        liveness: Liveness | None,
        bus: Bus | None = None,
        media: MediaServer | None = None,
        who: RequestAuth | None = None,
        media_pins: RedisPins | None = None,
    ) -> None:
        self._guard = guard
        self._settings = settings
        self._roster = roster
        self._liveness = liveness
        self._bus = bus
        self._media = media
        self._who = who
        self._media_pins = media_pins
        self._recorder = (
            RoomRecorder(media, settings.media_server_recordings_dir)
            if media is not None and settings.media_server_recordings_dir is not None
            else None
        )

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        signaling = CallSignaling(
            hub,
            self._guard,
            self._settings,
            self._roster,
            self._liveness,
            self._media,
            self._recorder,
        )
        router.add_routes([web.get(protocol.API_CALL_RECORDING_FILE, self._recording_file)])
        hub.add_events(signaling.events())
        signaling.watch()
        media = self._media
        if media is not None and self._bus is not None:

            async def room_deleted(message: dict[str, Any]) -> None:
                # Every daemon hears it; destroying twice is harmless (no such room).
                await media.destroy(str(message["room_id"]))

            self._bus.on(ROOM_DELETED, room_deleted)

    async def start(self) -> None:
        """Nothing of its own: the heartbeat it sweeps after is the cluster's (`Liveness`)."""

    async def stop(self) -> None:
        await self._roster.close()
        if self._media is not None:
            await self._media.close()
        if self._media_pins is not None:
            await self._media_pins.close()

    async def _recording_file(self, request: web.Request) -> web.StreamResponse:
        """A post-processed recording of a room's call: for the room's members only."""
        if self._who is None:
            raise NotFound(N_("no such recording"))
        user = await self._who.require_user(request)
        room_id = request.match_info["room_id"]
        await self._guard.require_member(room_id, user.id)
        if self._recorder is None:
            raise NotFound(N_("this daemon does not record calls on a media server"))
        path = self._recorder.file(
            room_id, request.match_info["recording_id"], request.match_info["name"]
        )
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})
