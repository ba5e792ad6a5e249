"""The transfer data plane: the sender PUTs bytes into the spool, receivers GET them as they land.

PUT /api/transfers/{id}/data?offset=N   the rest of the file from byte N (N = what arrived)
GET /api/transfers/{id}/data            Range: bytes=N- to resume; streamed while uploading
GET /api/transfers/{id}/header          the sender's signed header and seal (opaque blobs)

TCP does the back-pressure on both legs: the upload is read only as fast as the disk takes it,
and each receiver is served by sendfile at its own pace, so a slow receiver costs no memory.

How the bytes are stored is the spool's business (relay/spool.py, the local directory, or
relay/objects.py, object storage, where any daemon serves any transfer and no request is
proxied).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import time
from typing import BinaryIO

from aiohttp import StreamReader, web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.cluster import TRANSFER_STORED, Bus, node_url
from videonet_daemon.db.engine import Database
from videonet_daemon.errors import (
    ApiError,
    BadRequest,
    InsufficientStorage,
    OwnerUnreachable,
    RangeNotSatisfiable,
    TransferStateError,
    Unavailable,
)
from videonet_daemon.i18n import N_
from videonet_daemon.metrics import Metrics
from videonet_daemon.relay.events import TransferEvents
from videonet_daemon.relay.proxy import PROXIED_HEADER, Proxy
from videonet_daemon.relay.service import TransferService
from videonet_daemon.relay.spool import Landed, LiveTransfer, Sink
from videonet_protocol import protocol
from videonet_protocol.protocol import TransferState as S

log = logging.getLogger(__name__)

# A receiver's stream ends if nothing arrives for this long while the sender is silent.
STALL_SECONDS = 120.0
WAKE_SECONDS = 10.0
# How often a receiver of object storage asks the database for bytes another daemon stored
# when no TRANSFER_STORED message on the bus has woken it first (Redis down, a message lost).
POLL_SECONDS = 0.5
_RANGE = re.compile(r"^bytes=(\d+)-$")
# How often a running upload records its progress (and so its last activity) in the database.
PROGRESS_EVERY_SECONDS = 5.0


class TransferRoutes:
    def __init__(
        self,
        service: TransferService,
        events: TransferEvents,
        who: RequestAuth,
        proxy: Proxy,
        db: Database,
        metrics: Metrics,
        stall_seconds: float,
        bus: Bus,
    ) -> None:
        self._stall_seconds = stall_seconds
        self._bus = bus
        self._service = service
        self._events = events
        self._who = who
        self._proxy = proxy
        self._db = db
        self._metrics = metrics
        # The uploads running now: a graceful shutdown ends them (`end_uploads`).
        self._uploads: set[StreamReader] = set()  # their request bodies
        self._shutting_down = False

    def end_uploads(self) -> None:
        """At a graceful shutdown: each running upload ends with what has reached it, now.

        From the shutdown's first moment aiohttp feeds no more of a request's body: an upload
        left to the grace period waited on bytes that never came while the sender's went on
        being read and dropped (a resume then started megabytes before what the sender had
        sent). Ended here, the upload stores what its request holds, records where the stored
        copy ends and the connection closes, so the sender stops at once and a resume starts
        at the stored end."""
        self._shutting_down = True
        for body in self._uploads:
            body.feed_eof()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.put(protocol.API_TRANSFER_DATA, self.upload),
            web.get(protocol.API_TRANSFER_DATA, self.download),
            web.get(protocol.API_TRANSFER_HEADER, self.header),
        ]

    async def header(self, request: web.Request) -> web.StreamResponse:
        """The sender's signed header and seal; from the database, so any daemon answers it."""
        user = await self._who.require_user(request)
        found = await self._service.header(user.id, request.match_info["transfer_id"])
        return web.json_response(found)

    async def upload(self, request: web.Request) -> web.StreamResponse:
        user = await self._who.require_user(request)
        service = self._service
        offer = await service.get(request.match_info["transfer_id"])
        owner = await self._owner_elsewhere(request, offer)
        if owner:
            return await self._proxy.forward_upload(request, owner)
        try:
            offset = int(request.query.get("offset", "0"))
        except ValueError as exc:
            raise BadRequest(N_("offset must be an integer")) from exc
        live, offer = await service.begin_upload(user.id, offer, offset)
        await self._events.state_changed(offer)
        expected = live.size - offset
        problem: ApiError | None = None
        spool = service.spool
        self._uploads.add(request.content)
        try:
            if request.content_length is not None and request.content_length != expected:
                raise BadRequest(
                    N_("expected {expected} bytes from offset {offset}"),
                    expected=expected,
                    offset=offset,
                )
            await spool.write(
                live, offset, request.content, self._stall_seconds, self._landed(live)
            )
        except ApiError as exc:
            problem = exc
        except TimeoutError:
            log.info("upload of %s stalled at %d bytes: nothing arrived for %.0f s",
                     live.transfer_id, live.uploaded, self._stall_seconds)  # fmt: skip
        except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                log.warning("upload of %s stopped at %d bytes: the spool's disk is full",
                            live.transfer_id, live.uploaded)  # fmt: skip
                spool.release_reserve()  # so the state below can be written
                problem = InsufficientStorage(N_("the daemon's disk is full; try again later"))
            else:
                log.info("upload of %s stopped at %d bytes: %s",
                         live.transfer_id, live.uploaded, exc)  # fmt: skip
        except Exception as exc:  # aiohttp's payload errors when the sender vanishes
            log.info("upload of %s stopped at %d bytes: %r", live.transfer_id, live.uploaded, exc)
        finally:
            self._uploads.discard(request.content)
            await service.end_upload(live)
            await self._events.state_changed(service.as_now(offer, live))
        if problem is not None:
            raise problem
        if live.uploaded < live.size:
            if self._shutting_down:
                raise TransferStateError(
                    N_(
                        "the daemon is shutting down: the upload ended at byte {uploaded} of "
                        "{size}; send again to resume"
                    ),
                    uploaded=live.uploaded,
                    size=live.size,
                )
            raise TransferStateError(
                N_("the upload ended at byte {uploaded} of {size}; send again to resume"),
                uploaded=live.uploaded,
                size=live.size,
            )
        return web.json_response({"transfer_id": live.transfer_id, "uploaded": live.uploaded})

    async def download(self, request: web.Request) -> web.StreamResponse:
        user = await self._who.require_user(request)
        service = self._service
        offer = await service.visible(user.id, request.match_info["transfer_id"])
        owner = await self._owner_elsewhere(request, offer)
        if owner:
            return await self._proxy.forward_download(request, owner)
        if offer["state"] == S.ABORTED:
            raise TransferStateError(N_("the sender aborted this transfer"))
        size = offer["size"]
        start = 0
        header = request.headers.get("Range")
        if header:
            match = _RANGE.match(header.strip())
            if not match:
                raise BadRequest(N_("only 'Range: bytes=N-' is supported"))
            start = int(match.group(1))
            # The first byte must exist (RFC 9110 14.1.2): from N = size on there is none. An
            # empty file is sent whole instead, as a server may ignore a Range.
            if start >= size and size:
                raise RangeNotSatisfiable(size)
            if not size:
                header = None
        live = service.live(offer)
        spool = service.spool
        await spool.ping()  # a store that is down is a 503 now, not a stream cut short
        response = web.StreamResponse(status=206 if header else 200)
        response.content_type = "application/octet-stream"
        response.content_length = size - start
        response.headers["X-Transfer-Size"] = str(size)
        if header and size:
            response.headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        # The connection closes after this response, so a stream cut short is seen as short.
        response.force_close()
        await response.prepare(request)
        sent = await self._send(
            request, _ResponseSink(request, response, self._metrics), live, start
        )
        if sent >= size:
            await response.write_eof()
        return response

    def _landed(self, live: LiveTransfer) -> Landed:
        """What the spool calls as bytes are stored: the live state moves (receivers wake), and
        the database hears of it every few seconds (idle means no bytes: the stored progress
        shows they came), or at once when the spool is shared (other daemons read it there)."""
        loop = asyncio.get_running_loop()
        recorded_at = loop.time()

        async def landed(end: int) -> None:
            nonlocal recorded_at
            if end > live.uploaded:
                self._metrics.bytes_uploaded.inc(end - live.uploaded)
                live.advance(end - live.uploaded)
            if self._service.spool.shared or loop.time() - recorded_at >= PROGRESS_EVERY_SECONDS:
                await self._service.record_progress(live)
                recorded_at = loop.time()
            if self._service.spool.shared:
                # Recorded first, so a daemon woken by this finds the same in the database.
                with contextlib.suppress(Unavailable):  # Redis down: the others poll
                    await self._bus.publish(
                        TRANSFER_STORED, transfer_id=live.transfer_id, uploaded=live.uploaded
                    )

        return landed

    async def _send(self, request: web.Request, sink: Sink, live: LiveTransfer, sent: int) -> int:
        """Send what has landed while the upload runs; returns the bytes sent. With a shared
        spool the upload may run on any daemon, so between the bytes that have landed the
        database is asked for more."""
        spool = self._service.spool
        size = live.size
        transport = request.transport
        last_progress = time.monotonic()
        try:
            async with spool.reader(live, sent) as reader:
                while sent < size and transport is not None and not transport.is_closing():
                    available = min(live.uploaded, size)
                    if available > sent:
                        await reader.send(sink, sent, available)
                        sent = available
                        last_progress = time.monotonic()
                        continue
                    if live.sender_gone:
                        break  # the sender is gone: end short, the receiver keeps its .part
                    if time.monotonic() - last_progress > STALL_SECONDS:
                        break
                    if not spool.shared:
                        await live.changed(WAKE_SECONDS)
                        continue
                    before = live.uploaded
                    await live.changed(POLL_SECONDS)
                    if live.uploaded > before:
                        continue  # woken by TRANSFER_STORED: the bytes are in the store
                    fresh = await self._service.get(live.transfer_id)
                    live = spool.live(fresh["transfer_id"], size, fresh["uploaded"], fresh["state"])
        except (ConnectionError, ApiError) as exc:
            # The headers are gone: the stream ends short and the receiver resumes later.
            log.info("download of %s ended at byte %d: %s", live.transfer_id, sent, exc)
        return sent

    async def _owner_elsewhere(
        self, request: web.Request, offer: protocol.TransferOffer
    ) -> str | None:
        """The URL of the daemon whose spool has this transfer, if that is not this one."""
        if self._service.is_local(offer):
            return None
        if request.headers.get(PROXIED_HEADER):
            raise TransferStateError(N_("this daemon does not hold the transfer's bytes"))
        url = await node_url(self._db, str(offer["node_id"]))
        if url is None:
            raise OwnerUnreachable()
        return url


class _ResponseSink:
    """The receiver's HTTP response: the local spool's bytes by sendfile, the store's by write."""

    def __init__(self, request: web.Request, response: web.StreamResponse, metrics: Metrics):
        self._transport = request.transport
        self._response = response
        self._metrics = metrics

    async def write(self, data: bytes) -> None:
        await self._response.write(data)
        self._metrics.bytes_served.inc(len(data))

    async def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        if self._transport is None:
            raise ConnectionResetError("the receiver is gone")
        await asyncio.get_running_loop().sendfile(self._transport, file, offset, count)
        self._metrics.bytes_served.inc(count)
