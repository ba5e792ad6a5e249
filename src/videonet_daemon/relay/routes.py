"""The transfer data plane: the sender PUTs bytes into the spool, receivers GET them as they land.

PUT /api/transfers/{id}/data?offset=N   the rest of the file from byte N (N = what arrived)
GET /api/transfers/{id}/data            Range: bytes=N- to resume; streamed while uploading
GET /api/transfers/{id}/header          the sender's signed header and seal (opaque blobs)

TCP does the back-pressure on both legs: the upload is read only as fast as the disk takes it,
and each receiver is served by sendfile at its own pace, so a slow receiver costs no memory.

With object storage (relay/objects.py) the same routes write segment objects and stream them
back on any daemon (`_upload_objects`, `_download_objects`); no request is proxied then.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import os
import re
import time
from collections.abc import Iterator

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.cluster import node_url
from videonet_daemon.db.engine import Database
from videonet_daemon.errors import (
    ApiError,
    BadRequest,
    InsufficientStorage,
    OwnerUnreachable,
    RangeNotSatisfiable,
    TransferStateError,
)
from videonet_daemon.metrics import Metrics
from videonet_daemon.relay.events import TransferEvents
from videonet_daemon.relay.objects import ObjectSpool
from videonet_daemon.relay.proxy import PROXIED_HEADER, Proxy
from videonet_daemon.relay.service import TransferService
from videonet_daemon.relay.spool import LiveTransfer, Spool
from videonet_protocol import protocol
from videonet_protocol.protocol import TransferState as S

log = logging.getLogger(__name__)

# A receiver's stream ends if nothing arrives for this long while the sender is silent.
STALL_SECONDS = 120.0
WAKE_SECONDS = 10.0
# Object storage: segment writes of one upload under way at once (the store's latency is hidden
# behind the next reads; each costs a segment of memory).
SEGMENTS_IN_FLIGHT = 2
# How often a receiver of object storage asks the database for bytes another daemon stored.
POLL_SECONDS = 0.5
_RANGE = re.compile(r"^bytes=(\d+)-$")
WRITE_BYTES = 1 << 20
# How often a running upload records its progress (and so its last activity) in the database.
PROGRESS_EVERY_SECONDS = 5.0


# writev takes at most IOV_MAX (1024 on Linux) buffers; socket reads are rarely this small.
WRITE_PIECES_MAX = 512


def _write_all(fd: int, pieces: list[bytes], total: int) -> None:
    """Write the gathered socket reads with one writev: no copy into one buffer first."""
    written = os.writev(fd, pieces)
    if written < total:  # a short write (rare): the rest the slow way
        view = memoryview(b"".join(pieces))[written:]
        while view:
            view = view[os.write(fd, view) :]


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
    ) -> None:
        self._stall_seconds = stall_seconds
        self._service = service
        self._events = events
        self._who = who
        self._proxy = proxy
        self._db = db
        self._metrics = metrics

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_put(protocol.API_TRANSFER_DATA, self.upload)
        router.add_get(protocol.API_TRANSFER_DATA, self.download)
        router.add_get(protocol.API_TRANSFER_HEADER, self.header)

    async def header(self, request: web.Request) -> web.StreamResponse:
        """The sender's signed header and seal; from the database, so any daemon answers it."""
        user = await self._who.require_user(request)
        found = await self._service.header(user.id, request.match_info["transfer_id"])
        return web.json_response(found)

    async def upload(self, request: web.Request) -> web.StreamResponse:
        user = await self._who.require_user(request)
        service = self._service
        owner = await self._owner_elsewhere(request)
        if owner:
            return await self._proxy.forward_upload(request, owner)
        try:
            offset = int(request.query.get("offset", "0"))
        except ValueError as exc:
            raise BadRequest("offset must be an integer") from exc
        live = await service.begin_upload(user.id, request.match_info["transfer_id"], offset)
        offer = await service.get(live.transfer_id)
        await self._events.state_changed({**offer, "state": S.UPLOADING})
        expected = live.size - offset
        problem: ApiError | None = None
        spool = service.spool
        try:
            if request.content_length is not None and request.content_length != expected:
                raise BadRequest(f"expected {expected} bytes from offset {offset}")
            if isinstance(spool, ObjectSpool):
                await self._upload_objects(request, live, offset, spool)
            else:
                assert isinstance(spool, Spool)
                await self._upload_file(request, live, offset, spool)
        except ApiError as exc:
            problem = exc
        except TimeoutError:
            log.info("upload of %s stalled at %d bytes: nothing arrived for %.0f s",
                     live.transfer_id, live.uploaded, self._stall_seconds)  # fmt: skip
        except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                log.warning("upload of %s stopped at %d bytes: the spool's disk is full",
                            live.transfer_id, live.uploaded)  # fmt: skip
                if isinstance(spool, Spool):
                    spool.release_reserve()  # so the state below can be written
                problem = InsufficientStorage("the daemon's disk is full; try again later")
            else:
                log.info("upload of %s stopped at %d bytes: %s",
                         live.transfer_id, live.uploaded, exc)  # fmt: skip
        except Exception as exc:  # aiohttp's payload errors when the sender vanishes
            log.info("upload of %s stopped at %d bytes: %r", live.transfer_id, live.uploaded, exc)
        finally:
            await service.end_upload(live)
            offer = await service.get(live.transfer_id)
            await self._events.state_changed(offer)
        if problem is not None:
            raise problem
        if live.uploaded < live.size:
            raise TransferStateError(
                f"the upload ended at byte {live.uploaded} of {live.size}; send again to resume"
            )
        return web.json_response({"transfer_id": live.transfer_id, "uploaded": live.uploaded})

    async def download(self, request: web.Request) -> web.StreamResponse:
        user = await self._who.require_user(request)
        service = self._service
        offer = await service.visible(user.id, request.match_info["transfer_id"])
        owner = await self._owner_elsewhere(request)
        if owner:
            return await self._proxy.forward_download(request, owner)
        if offer["state"] == S.ABORTED:
            raise TransferStateError("the sender aborted this transfer")
        size = offer["size"]
        start = 0
        header = request.headers.get("Range")
        if header:
            match = _RANGE.match(header.strip())
            if not match:
                raise BadRequest("only 'Range: bytes=N-' is supported")
            start = int(match.group(1))
            # The first byte must exist (RFC 9110 14.1.2): from N = size on there is none. An
            # empty file is sent whole instead, as a server may ignore a Range.
            if start >= size and size:
                raise RangeNotSatisfiable(size)
            if not size:
                header = None
        live = service.live(offer)
        spool = service.spool
        if isinstance(spool, ObjectSpool):
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
        transport = request.transport
        loop = asyncio.get_running_loop()
        sent = start
        last_progress = time.monotonic()
        if isinstance(spool, ObjectSpool):
            sent = await self._download_objects(response, request, offer, live, sent, spool)
            if sent >= size:
                await response.write_eof()
            return response
        assert isinstance(spool, Spool)
        reader = object()
        live.reader_at(reader, sent)
        with open(spool.path(live.transfer_id), "rb") as spool_file, _reading(live, reader):
            while sent < size and transport is not None and not transport.is_closing():
                available = min(live.uploaded, size)
                if available > sent:
                    with contextlib.suppress(ConnectionError):
                        await loop.sendfile(transport, spool_file, sent, available - sent)
                    self._metrics.bytes_served.inc(available - sent)
                    sent = available
                    live.reader_at(reader, sent)
                    live.release_behind(spool_file.fileno())
                    last_progress = time.monotonic()
                    continue
                if live.sender_gone:
                    break  # the sender is gone: end short, the receiver keeps its .part
                if time.monotonic() - last_progress > STALL_SECONDS:
                    break
                await live.changed(WAKE_SECONDS)
        if sent >= size:
            await response.write_eof()
        return response

    async def _upload_file(
        self, request: web.Request, live: LiveTransfer, offset: int, spool: Spool
    ) -> None:
        """The local spool: the socket's reads gathered and written with writev."""
        metrics = self._metrics
        service = self._service
        fd = os.open(spool.path(live.transfer_id), os.O_WRONLY)
        # Socket reads arrive in pieces of ~64 KiB; writing them one by one costs several times
        # more than writing 1 MiB at a time, so they are gathered (as a list, for writev).
        pending: list[bytes] = []
        pending_bytes = 0
        loop = asyncio.get_running_loop()
        stall = self._stall_seconds
        recorded_at = loop.time()
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            # A sender that stops sending but keeps the connection open ends here after
            # `stall` seconds without a byte, so its upload is interrupted and reclaimable.
            async with asyncio.timeout(loop.time() + stall) as deadline:
                while True:
                    chunk = await request.content.readany()
                    if not chunk:
                        break
                    deadline.reschedule(loop.time() + stall)
                    if live.uploaded + pending_bytes + len(chunk) > live.size:
                        raise BadRequest("more bytes than the offered size")
                    pending.append(chunk)
                    pending_bytes += len(chunk)
                    if pending_bytes >= WRITE_BYTES or len(pending) >= WRITE_PIECES_MAX:
                        _write_all(fd, pending, pending_bytes)
                        live.advance(pending_bytes)
                        metrics.bytes_uploaded.inc(pending_bytes)
                        pending.clear()
                        pending_bytes = 0
                        live.release_behind(fd)
                        if loop.time() - recorded_at >= PROGRESS_EVERY_SECONDS:
                            # Idle means no bytes: the stored progress shows they came.
                            await service.record_progress(live)
                            recorded_at = loop.time()
        finally:
            try:
                if pending:
                    _write_all(fd, pending, pending_bytes)
                    live.advance(pending_bytes)
                    metrics.bytes_uploaded.inc(pending_bytes)
            finally:
                os.close(fd)  # also when that last write fails (a full disk)

    async def _upload_objects(
        self, request: web.Request, live: LiveTransfer, offset: int, spool: ObjectSpool
    ) -> None:
        """Read the upload into segment-sized buffers and store full ones while the next are
        read (`SEGMENTS_IN_FLIGHT` store writes at once). Stored segments are recorded in the
        database in order, so receivers on other daemons see them and a resume anywhere starts
        after them. An upload that ends early stores its partial last segment too (kill -9
        loses it)."""
        size = spool.segment_bytes
        index, within = divmod(offset, size)
        buffer = bytearray()
        if within:  # resuming inside a stored partial segment: it is written again, whole
            buffer += await spool.segment_head(live.transfer_id, index, within)
        received = offset
        writes: collections.deque[tuple[int, asyncio.Task[None]]] = collections.deque()
        loop = asyncio.get_running_loop()
        stall = self._stall_seconds

        async def landed(end: int) -> None:
            if end > live.uploaded:
                self._metrics.bytes_uploaded.inc(end - live.uploaded)
                live.advance(end - live.uploaded)
            await self._service.record_progress(live)

        async def oldest_landed() -> None:
            end, task = writes.popleft()
            await task
            await landed(end)

        try:
            async with asyncio.timeout(loop.time() + stall) as deadline:
                while True:
                    chunk = await request.content.readany()
                    if not chunk:
                        break
                    deadline.reschedule(loop.time() + stall)
                    if received + len(chunk) > live.size:
                        raise BadRequest("more bytes than the offered size")
                    received += len(chunk)
                    buffer += chunk
                    while len(buffer) >= size:
                        data = bytes(buffer[:size])
                        del buffer[:size]
                        if len(writes) >= SEGMENTS_IN_FLIGHT:
                            await oldest_landed()
                        put = spool.put_segment(live.transfer_id, index, data)
                        writes.append(((index + 1) * size, asyncio.create_task(put)))
                        index += 1
        finally:
            # In order: after a segment that failed, no later one is recorded (a resume writes
            # them again).
            try:
                while writes:
                    await oldest_landed()
            finally:
                for _, task in writes:
                    task.cancel()
                await asyncio.gather(*(task for _, task in writes), return_exceptions=True)
            if buffer and len(buffer) > live.uploaded - index * size:
                await spool.put_segment(live.transfer_id, index, bytes(buffer))
                await landed(index * size + len(buffer))

    async def _download_objects(
        self,
        response: web.StreamResponse,
        request: web.Request,
        offer: protocol.TransferOffer,
        live: LiveTransfer,
        sent: int,
        spool: ObjectSpool,
    ) -> int:
        """Stream the stored segments; the upload may run on any daemon, so between the
        segments that have landed the database is asked for more. Returns the bytes sent."""
        size = offer["size"]
        transport = request.transport
        last_progress = time.monotonic()
        try:
            while sent < size and transport is not None and not transport.is_closing():
                available = min(live.uploaded, size)
                if available > sent:
                    async for chunk in spool.read(live.transfer_id, sent, available):
                        await response.write(chunk)
                        sent += len(chunk)
                        self._metrics.bytes_served.inc(len(chunk))
                    last_progress = time.monotonic()
                    continue
                if live.sender_gone:
                    break  # the sender is gone: end short, the receiver keeps its .part
                if time.monotonic() - last_progress > STALL_SECONDS:
                    break
                await live.changed(POLL_SECONDS)
                fresh = await self._service.get(live.transfer_id)
                live = spool.live(fresh["transfer_id"], size, fresh["uploaded"], fresh["state"])
        except (ConnectionError, ApiError) as exc:
            # The headers are gone: the stream ends short and the receiver resumes later.
            log.info("download of %s ended at byte %d: %s", live.transfer_id, sent, exc)
        return sent

    async def _owner_elsewhere(self, request: web.Request) -> str | None:
        """The URL of the daemon whose spool has this transfer, if that is not this one."""
        offer = await self._service.get(request.match_info["transfer_id"])
        if self._service.is_local(offer):
            return None
        if request.headers.get(PROXIED_HEADER):
            raise TransferStateError("this daemon does not hold the transfer's bytes")
        url = await node_url(self._db, str(offer["node_id"]))
        if url is None:
            raise OwnerUnreachable()
        return url


@contextlib.contextmanager
def _reading(live: LiveTransfer, reader: object) -> Iterator[None]:
    """While a receiver is served, the spool keeps the pages it has not been sent yet cached."""
    try:
        yield
    finally:
        live.reader_gone(reader)
