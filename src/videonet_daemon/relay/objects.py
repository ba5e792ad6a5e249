"""The spool in S3-compatible object storage (`--spool-url s3://BUCKET/PREFIX`), shared by every
daemon of the service, so that no daemon owns a transfer's bytes.

Layout: PREFIX/<transfer_id>/<index, 8 digits>, one object per segment of
`spool_segment_bytes` (the last one shorter). A multipart upload stays invisible until it is
completed, so it would hide a running upload from receivers; segments are visible one by one. The
database's `transfers.uploaded` is the number of bytes in stored segments (it is written after
each segment lands), so:

- a receiver on any daemon reads every byte up to `uploaded` while the upload runs;
- an upload cut off on one daemon (kill -9 included) resumes through any other from `uploaded`
  (a graceful end also stores the partial last segment; a resume into a partial segment reads its
  head back and writes the segment again, whole);
- abort, expiry and room deletion delete every object under PREFIX/<transfer_id>/.

Receivers connected to the daemon that runs the upload are served the newest stored segments
from its memory (`SEGMENTS_KEPT` of them, and for `KEPT_AFTER_UPLOAD_SECONDS` after the upload
ends): the store is written once and read only by other daemons and late receivers (issue 26).

The client is obstore (Rust object_store): at 8 MiB objects against SeaweedFS it was as fast as
aiobotocore or faster and needs no botocore (whose python-dateutil<3 pin conflicts with the
environment); docs/performance.md has the figures. Every store error is `Unavailable("object
storage")`, a 503 with the JSON error shape.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import obstore
from obstore.store import S3Store

from videonet_daemon.errors import BadRequest, Unavailable
from videonet_daemon.i18n import N_
from videonet_daemon.outages import OBJECT_STORAGE
from videonet_daemon.relay.spool import ByteSource, Landed, LiveTransfer, Sink, SpoolReader
from videonet_daemon.settings import Settings, parse_spool_url
from videonet_protocol.protocol import TransferState

log = logging.getLogger(__name__)

PROBE_KEY = ".videonet-probe"
READ_CHUNK_BYTES = 1 << 20
# A store that does not answer in this long counts as down (a 503 now beats a hung request).
CONNECT_TIMEOUT = "5s"
REQUEST_TIMEOUT = "60s"
RETRIES = 2
RETRY_TIMEOUT = timedelta(seconds=10)
SETTLE_SECONDS = 0.1
# Segment writes of one upload under way at once (the store's latency is hidden behind the next
# reads; each costs a segment of memory).
SEGMENTS_IN_FLIGHT = 2
# Stored segments of an upload running here kept in memory for this daemon's own receivers (a
# receiver that keeps up reads them from here instead of back from the store); each costs a
# segment of memory, and they are dropped this long after the upload ends.
SEGMENTS_KEPT = 2
KEPT_AFTER_UPLOAD_SECONDS = 10.0
# More than this between the store's clock and ours and S3 refuses signed requests.
CLOCK_SKEW_MAX_SECONDS = 5 * 60


def _segment_key(transfer_id: str, index: int) -> str:
    # transfer ids are UUID hex made by the daemon, never user input
    return f"{transfer_id}/{index:08d}"


def make_store(settings: Settings, *, retries: int = RETRIES) -> S3Store:
    if not settings.spool_url:
        raise ValueError("no spool_url")
    bucket, prefix = parse_spool_url(settings.spool_url)
    config: dict[str, Any] = {"region": settings.s3_region}
    if settings.s3_endpoint:
        config["endpoint"] = settings.s3_endpoint
    if settings.s3_access_key_id:
        config["access_key_id"] = settings.s3_access_key_id
    if settings.s3_secret_access_key:
        config["secret_access_key"] = settings.s3_secret_access_key
    return S3Store(
        bucket,
        prefix=prefix or None,
        client_options={
            "allow_http": bool(settings.s3_endpoint and settings.s3_endpoint.startswith("http:")),
            "connect_timeout": CONNECT_TIMEOUT,
            "timeout": REQUEST_TIMEOUT,
        },
        retry_config={
            "max_retries": retries,
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=2),
                "base": 2,
            },
            "retry_timeout": RETRY_TIMEOUT,
        },
        **config,
    )


class ObjectSpool:
    """Transfer bytes as segment objects; the same live state as the local `Spool`."""

    shared = True

    def __init__(self, settings: Settings) -> None:
        self.store = make_store(settings)
        self.segment_bytes = settings.spool_segment_bytes
        self._live: dict[str, LiveTransfer] = {}
        # transfer id -> segment index -> its bytes: the newest stored segments of uploads here
        self._kept: dict[str, dict[int, bytes]] = {}

    # --- the live state (as in Spool) ------------------------------------------------------
    def live(self, transfer_id: str, size: int, uploaded: int, state: str) -> LiveTransfer:
        found = self._live.get(transfer_id)
        if found is None:
            found = LiveTransfer(transfer_id, None, size, uploaded, state)
            self._live[transfer_id] = found
        elif not found.upload_in_progress:
            # Another daemon may be uploading it: the database is fresher than our memory.
            found.uploaded = max(found.uploaded, uploaded)
            found.state = state
        return found

    def known(self, transfer_id: str) -> LiveTransfer | None:
        return self._live.get(transfer_id)

    def create(self, transfer_id: str) -> None:
        """Nothing to make: segments appear as they are written."""

    def keep_reserve(self) -> None:
        """No local disk to keep space on."""

    async def forget(self, transfer_id: str) -> None:
        self._kept.pop(transfer_id, None)
        live = self._live.pop(transfer_id, None)
        if live is not None:
            live.set_state(TransferState.ABORTED)
        await self.delete(transfer_id)

    def stored(self, transfer_id: str, recorded: int) -> int:
        """The database's count of bytes in stored segments."""
        return recorded

    def truncate(self, transfer_id: str, length: int) -> None:
        """Nothing to cut: a resume inside a segment writes that segment again, whole."""

    def free_bytes(self) -> int | None:
        """No free space to ask about: the size and count limits per user are the quota."""
        return None

    def release_reserve(self) -> bool:
        return False

    async def close(self) -> None:
        await settle()

    # --- the data loops ---------------------------------------------------------------------
    async def write(
        self, live: LiveTransfer, offset: int, source: ByteSource, stall: float, landed: Landed
    ) -> None:
        """Read the upload into segment-sized buffers and store full ones while the next are
        read (`SEGMENTS_IN_FLIGHT` store writes at once). Stored segments are reported in order,
        so receivers on other daemons see them and a resume anywhere starts after them. An
        upload that ends early stores its partial last segment too (kill -9 loses it)."""
        size = self.segment_bytes
        index, within = divmod(offset, size)
        buffer = bytearray()
        if within:  # resuming inside a stored partial segment: it is written again, whole
            buffer += await self.segment_head(live.transfer_id, index, within)
        received = offset
        writes: collections.deque[tuple[int, bytes, asyncio.Task[None]]] = collections.deque()
        loop = asyncio.get_running_loop()
        kept: dict[int, bytes] = {}  # this upload's own: nothing kept from an earlier one
        self._kept[live.transfer_id] = kept

        def keep(at: int, data: bytes) -> None:
            kept[at] = data
            kept.pop(at - SEGMENTS_KEPT, None)

        async def oldest_landed() -> None:
            at, data, task = writes.popleft()
            await task
            keep(at, data)  # before `landed`: the receivers it wakes find it here
            await landed((at + 1) * size)

        try:
            async with asyncio.timeout(loop.time() + stall) as deadline:
                while True:
                    chunk = await source.readany()
                    if not chunk:
                        break
                    deadline.reschedule(loop.time() + stall)
                    if received + len(chunk) > live.size:
                        raise BadRequest(N_("more bytes than the offered size"))
                    received += len(chunk)
                    buffer += chunk
                    while len(buffer) >= size:
                        data = bytes(buffer[:size])
                        del buffer[:size]
                        if len(writes) >= SEGMENTS_IN_FLIGHT:
                            await oldest_landed()
                        put = self.put_segment(live.transfer_id, index, data)
                        writes.append((index, data, asyncio.create_task(put)))
                        index += 1
        finally:
            # In order: after a segment that failed, no later one is recorded (a resume writes
            # them again).
            try:
                while writes:
                    await oldest_landed()
            finally:
                for _, _, task in writes:
                    task.cancel()
                await asyncio.gather(*(task for _, _, task in writes), return_exceptions=True)
                loop.call_later(KEPT_AFTER_UPLOAD_SECONDS, self._drop_kept, live.transfer_id, kept)
            if buffer and len(buffer) > live.uploaded - index * size:
                data = bytes(buffer)
                await self.put_segment(live.transfer_id, index, data)
                keep(index, data)
                await landed(index * size + len(data))

    def _drop_kept(self, transfer_id: str, kept: dict[int, bytes]) -> None:
        """Forget an ended upload's segments (unless another upload of it began since)."""
        if self._kept.get(transfer_id) is kept:
            del self._kept[transfer_id]

    @contextlib.asynccontextmanager
    async def reader(self, live: LiveTransfer, start: int) -> AsyncIterator[SpoolReader]:
        yield _ObjectReader(self, live.transfer_id)

    async def parts(self, transfer_id: str) -> list[str]:
        """The segment objects' names."""
        return [path.rpartition("/")[2] for path in await self.objects(transfer_id)]

    # --- the objects ------------------------------------------------------------------------
    async def put_segment(self, transfer_id: str, index: int, data: bytes) -> None:
        try:
            await obstore.put_async(self.store, _segment_key(transfer_id, index), data)
        except Exception as exc:
            raise _unavailable("write", exc) from exc

    async def segment_head(self, transfer_id: str, index: int, length: int) -> bytes:
        """The first `length` bytes of a stored segment (to resume inside it)."""
        try:
            result = await obstore.get_async(
                self.store, _segment_key(transfer_id, index), options={"range": (0, length)}
            )
            return bytes(await result.bytes_async())
        except Exception as exc:
            raise _unavailable("read", exc) from exc

    async def read(self, transfer_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (end excluded) of a transfer, streamed segment by segment."""
        size = self.segment_bytes
        position = start
        while position < end:
            index, within = divmod(position, size)
            stop = min(end - index * size, size)
            data = self._kept.get(transfer_id, {}).get(index)
            if data is not None and len(data) >= stop:  # stored by an upload here, just now
                for at in range(within, stop, READ_CHUNK_BYTES):
                    yield data[at : min(at + READ_CHUNK_BYTES, stop)]
                position = index * size + stop
                continue
            try:
                result = await obstore.get_async(
                    self.store, _segment_key(transfer_id, index), options={"range": (within, stop)}
                )
                async for chunk in result.stream(min_chunk_size=READ_CHUNK_BYTES):
                    position += len(chunk)
                    yield chunk
            except Exception as exc:
                raise _unavailable("read", exc) from exc
            position = index * size + stop

    async def delete(self, transfer_id: str) -> None:
        """Delete every object of a transfer (listed, so none that landed late is missed)."""
        try:
            async for batch in obstore.list(self.store, f"{transfer_id}/", chunk_size=1000):
                paths = [str(meta["path"]) for meta in batch]
                if paths:
                    await obstore.delete_async(self.store, paths)
        except Exception as exc:
            raise _unavailable("delete", exc) from exc

    async def objects(self, transfer_id: str) -> list[str]:
        try:
            return [
                str(meta["path"])
                async for batch in obstore.list(self.store, f"{transfer_id}/")
                for meta in batch
            ]
        except Exception as exc:
            raise _unavailable("list", exc) from exc

    async def ping(self) -> None:
        """For /api/health: the store answers and takes our credentials."""
        try:
            await obstore.head_async(self.store, PROBE_KEY)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise _unavailable("ask", exc) from exc


class _ObjectReader:
    def __init__(self, spool: ObjectSpool, transfer_id: str) -> None:
        self._spool = spool
        self._transfer_id = transfer_id

    async def send(self, sink: Sink, start: int, end: int) -> None:
        async for chunk in self._spool.read(self._transfer_id, start, end):
            await sink.write(chunk)


async def settle() -> None:
    """Let obstore's worker threads finish waking this event loop before it closes: a thread
    still inside that wake-up when the interpreter exits aborts the process (seen as exit 134
    after a failed request)."""
    await asyncio.sleep(SETTLE_SECONDS)


def _unavailable(what: str, exc: BaseException) -> Unavailable:
    log.warning("object storage: cannot %s: %s", what, _first_line(exc))
    return Unavailable(OBJECT_STORAGE)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0][:300]


# --- `videonet-daemon check` -----------------------------------------------------------------
async def probe(settings: Settings) -> str | None:
    """Write, read and delete a probe object; what is wrong in one line, or None."""
    store = make_store(settings, retries=0)
    where = settings.s3_endpoint or f"AWS S3 ({settings.s3_region})"
    bucket, _ = parse_spool_url(settings.spool_url or "")
    payload = f"videonet probe {time.time()}".encode()
    try:
        await obstore.put_async(store, PROBE_KEY, payload)
        got = bytes(await (await obstore.get_async(store, PROBE_KEY)).bytes_async())
        await obstore.delete_async(store, PROBE_KEY)
    except Exception as exc:
        return await _explain(exc, settings, where, bucket)
    finally:
        await settle()
    if got != payload:
        return (
            f"object storage at {where}: the probe object read back differs from what was written"
        )
    return None


async def _explain(exc: BaseException, settings: Settings, where: str, bucket: str) -> str:
    text = str(exc)
    skew = await clock_skew(settings.s3_endpoint) if settings.s3_endpoint else None
    if "RequestTimeTooSkewed" in text or (skew is not None and abs(skew) > CLOCK_SKEW_MAX_SECONDS):
        shown = f" (this machine is {skew:+.0f} s off the store's clock)" if skew else ""
        return f"object storage at {where}: clock skew{shown}; set the clock (NTP)"
    if "error sending request" in text or "Connection refused" in text or "dns error" in text:
        return f"object storage at {where}: endpoint unreachable (check VIDEONET_S3_ENDPOINT)"
    if "NoSuchBucket" in text or ("InternalError" in text and f"<BucketName>{bucket}<" in text):
        return f"object storage at {where}: bucket {bucket!r} missing (create it first)"
    if any(code in text for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch")):
        return (
            f"object storage at {where}: credentials refused "
            "(check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
        )
    if "AccessDenied" in text or "PermissionDenied" in type(exc).__name__:
        return (
            f"object storage at {where}: bucket {bucket!r} missing, or this key may not "
            "write to it (access denied)"
        )
    return f"object storage at {where}: cannot write, read and delete a probe object: " + (
        _first_line(exc)
    )


async def clock_skew(endpoint: str) -> float | None:
    """Seconds between this machine's clock and the store's (its Date header), if it answers."""
    with contextlib.suppress(Exception):
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(endpoint) as response,
        ):
            date = response.headers.get("Date")
            if date:
                return time.time() - parsedate_to_datetime(date).timestamp()
    return None
