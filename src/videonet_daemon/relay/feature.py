"""The relay feature: transfer events and the code relay on Socket.IO, the data plane and
/api/video/verify on HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.cluster import ROOM_DELETED, TRANSFER_STORED, Bus
from videonet_daemon.db.engine import Database
from videonet_daemon.metrics import Metrics
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.relay.code_relay import CodeRelay
from videonet_daemon.relay.events import TransferEvents
from videonet_daemon.relay.keys import TransferKeys
from videonet_daemon.relay.proxy import Proxy
from videonet_daemon.relay.receivers import Receivers
from videonet_daemon.relay.routes import TransferRoutes
from videonet_daemon.relay.service import TransferService
from videonet_daemon.relay.verdict_wait import VerdictWaiters
from videonet_daemon.relay.verify import VerifyRoutes
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.settings import Settings

log = logging.getLogger(__name__)

CLEAN_UP_EVERY_SECONDS = 60.0


class RelayFeature:
    def __init__(
        self,
        transfers: TransferService,
        receivers: Receivers,
        guard: RoomGuard,
        who: RequestAuth,
        proxy: Proxy,
        db: Database,
        metrics: Metrics,
        settings: Settings,
        bus: Bus,
    ) -> None:
        self._bus = bus
        self._waiters = VerdictWaiters(
            bus, settings.verdict_waiters_per_socket, settings.verdict_waiters_per_transfer
        )
        self._transfers = transfers
        self._receivers = receivers
        self._guard = guard
        self._who = who
        self._proxy = proxy
        self._db = db
        self._metrics = metrics
        self._verify = VerifyRoutes(
            who, settings.verify_max_bytes, float(settings.transfer_stall_timeout)
        )
        self._stall_seconds = settings.transfer_stall_timeout
        self._settings = settings
        self._cleaning: asyncio.Task[None] | None = None

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        events = TransferEvents(
            hub,
            self._transfers,
            self._receivers,
            self._guard,
            self._metrics,
            TransferKeys(self._db),
            self._waiters,
        )
        hub.add_events(events.events())
        hub.on_disconnect(events.gone)
        hub.on_join(events.listen_on_join)
        hub.add_events(CodeRelay(hub, self._transfers, self._guard).events())
        routes = TransferRoutes(
            self._transfers,
            events,
            self._who,
            self._proxy,
            self._db,
            self._metrics,
            float(self._stall_seconds),
            self._bus,
        )
        router.add_routes(routes.routes())
        hub.on_shutdown(routes.end_uploads)
        router.add_routes(self._verify.routes())
        self._bus.on(ROOM_DELETED, self._room_deleted)
        self._bus.on(TRANSFER_STORED, self._stored)

    async def start(self) -> None:
        """Recovery after a restart, the periodic clean-up, the session to other daemons."""
        await self._transfers.recover()
        self._cleaning = asyncio.create_task(_clean_up_forever(self._transfers, self._settings))
        await self._proxy.start()

    async def stop(self) -> None:
        await self._proxy.close()
        if self._cleaning is not None:
            self._cleaning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleaning
        await self._transfers.spool.close()

    async def _room_deleted(self, message: dict[str, Any]) -> None:
        """A daemon bus message: the bytes of a deleted room's transfers leave this daemon's
        spool (the rows went with the room)."""
        for transfer_id in message.get("transfer_ids", []):
            await self._transfers.spool.forget(str(transfer_id))

    async def _stored(self, message: dict[str, Any]) -> None:
        """A daemon bus message: the daemon running an upload into the shared spool stored more
        of it (and recorded so in the database); this daemon's receivers of it, if any, are
        woken to send the new bytes now. The daemon running the upload knows already."""
        live = self._transfers.spool.known(str(message.get("transfer_id")))
        uploaded = message.get("uploaded")
        if live is None or live.upload_in_progress or not isinstance(uploaded, int):
            return
        if live.uploaded < uploaded <= live.size:
            live.advance(uploaded - live.uploaded)


async def _clean_up_forever(transfers: TransferService, settings: Settings) -> None:
    # Often enough that nothing outlives its limit by more than a quarter of it.
    every = max(1.0, min(CLEAN_UP_EVERY_SECONDS, settings.transfer_idle_timeout / 4,
                         settings.transfer_retention / 4))  # fmt: skip
    while True:
        try:
            removed = await transfers.clean_up()
            if removed:
                log.info("removed %d expired transfers from the spool", removed)
        except Exception:
            log.exception("transfer clean-up failed")
        await asyncio.sleep(every)
