"""The spool: one file per transfer under DATA_DIR/spool, and the live state readers wait on.

A transfer's bytes are written once by the sender's upload and read by any number of receivers,
each at its own pace, while the upload is still running. Memory per transfer is constant: the
upload writes each chunk as it arrives and receivers are served with sendfile from the file.

Page cache: every spooled byte would otherwise stay cached until memory runs short, and on a VM
fresh page-cache pages cost several times more system time than pages the kernel recycles
(docs/performance.md, issue 13). So the spool advises the kernel to drop what every live reader
has already been sent (`release_behind`), which keeps the daemon's cache footprint to a few tens
of MiB per transfer and lets the next writes reuse those pages. Nothing a live reader still
needs is dropped; a receiver that comes later reads from the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from videonet_daemon.errors import BadRequest
from videonet_daemon.i18n import N_
from videonet_protocol.protocol import TransferState

# How far past the last release point the slowest reader must be before the next one. Small
# steps keep the recycled pages few; 8 MiB was no worse than 4, 32 or 64 MiB at 1 GiB (single
# runs within the noise; docs/performance.md, issue 13).
RELEASE_STEP_BYTES = 8 << 20


def drop_cached(fd: int, start: int, length: int) -> None:
    """Advise the kernel to drop a file range from the page cache (where the call exists)."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, start, length, os.POSIX_FADV_DONTNEED)


# Space kept aside in the spool's file system: if something fills the disk anyway (another
# program, a spool on the database's disk), giving it back lets the database record what
# happened and the sender abort. Offers already leave `spool_min_free_bytes` free.
RESERVE_FILE = ".reserve"
RESERVE_BYTES = 4 << 20
# Socket reads arrive in pieces of ~64 KiB; writing them one by one costs several times more
# than writing 1 MiB at a time, so they are gathered (as a list, for writev).
WRITE_BYTES = 1 << 20
# writev takes at most IOV_MAX (1024 on Linux) buffers; socket reads are rarely this small.
WRITE_PIECES_MAX = 512
READ_CHUNK_BYTES = 1 << 20


def _write_all(fd: int, pieces: list[bytes], total: int) -> None:
    """Write the gathered socket reads with one writev: no copy into one buffer first."""
    written = os.writev(fd, pieces)
    if written < total:  # a short write (rare): the rest the slow way
        view = memoryview(b"".join(pieces))[written:]
        while view:
            view = view[os.write(fd, view) :]


class LiveTransfer:
    """What a running daemon knows about one transfer's bytes; readers await `changed()`."""

    def __init__(
        self, transfer_id: str, path: Path | None, size: int, uploaded: int, state: str
    ) -> None:
        self.transfer_id = transfer_id
        self.path = path
        self.size = size
        self.uploaded = uploaded
        self.state = state
        self.upload_in_progress = False
        self._changed = asyncio.Event()
        # Live readers by token -> the next byte each still needs from the spool.
        self._readers: dict[object, int] = {}
        self._released = 0
        self._release_from = 0

    def _wake(self) -> None:
        # Wake everyone waiting now; later waiters get a fresh event.
        self._changed.set()
        self._changed = asyncio.Event()

    def advance(self, nbytes: int) -> None:
        self.uploaded += nbytes
        self._wake()

    def set_state(self, state: str) -> None:
        self.state = state
        self._wake()

    async def changed(self, timeout: float) -> None:
        """Return when bytes arrive or the state changes (or after `timeout` seconds)."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def reader_at(self, reader: object, offset: int) -> None:
        """Record that `reader` has been sent everything before `offset`."""
        self._readers[reader] = offset

    def reader_gone(self, reader: object) -> None:
        self._readers.pop(reader, None)

    def release_behind(self, fd: int) -> None:
        """Drop from the page cache what the writer wrote and every live reader has been sent.

        POSIX_FADV_DONTNEED starts writeback of dirty pages but drops only clean ones, so each
        range is advised twice: the second time, one step later, its pages have been written.
        """
        limit = min(self.uploaded, *self._readers.values()) if self._readers else self.uploaded
        if limit - self._released < RELEASE_STEP_BYTES:
            return
        drop_cached(fd, self._release_from, limit - self._release_from)
        self._release_from, self._released = self._released, limit

    @property
    def sender_gone(self) -> bool:
        """No more bytes will come until the sender resumes (or ever, if aborted)."""
        return self.state in (TransferState.INTERRUPTED, TransferState.ABORTED)


class ByteSource(Protocol):
    """Where an upload's bytes come from (aiohttp's request body; a list in the tests)."""

    async def readany(self) -> bytes: ...


class Sink(Protocol):
    """Where a download's bytes go (the HTTP response; a buffer in the tests)."""

    async def write(self, data: bytes) -> None: ...

    async def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        """Send `count` bytes of an open file from `offset` on (the kernel copies them)."""
        ...


Landed = Callable[[int], Awaitable[None]]


class SpoolReader(Protocol):
    async def send(self, sink: Sink, start: int, end: int) -> None:
        """Send bytes start..end (end excluded) of the transfer to `sink`."""
        ...


class AnySpool(Protocol):
    """Where transfer bytes are kept: the local `Spool` here, or `relay.objects.ObjectSpool`
    (object storage shared by every daemon, `shared` True). Both do every operation the relay
    needs; tests/test_spool_contract.py runs the same tests against both."""

    shared: bool

    def live(self, transfer_id: str, size: int, uploaded: int, state: str) -> LiveTransfer: ...

    def known(self, transfer_id: str) -> LiveTransfer | None: ...

    def create(self, transfer_id: str) -> None: ...

    async def write(
        self, live: LiveTransfer, offset: int, source: ByteSource, stall: float, landed: Landed
    ) -> None:
        """Store the upload's bytes from `offset` on as they come from `source`, calling
        `landed(end)` once bytes 0..end are stored. TimeoutError when `source` is silent for
        `stall` seconds; BadRequest when it sends more than the offered size."""
        ...

    def reader(
        self, live: LiveTransfer, start: int
    ) -> contextlib.AbstractAsyncContextManager[SpoolReader]:
        """Serve one receiver from byte `start` (the local spool keeps what it has not been sent
        yet cached)."""
        ...

    def read(self, transfer_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (end excluded) of a stored transfer."""
        ...

    async def parts(self, transfer_id: str) -> list[str]:
        """The names of what is stored for a transfer (a file, or segment objects)."""
        ...

    def stored(self, transfer_id: str, recorded: int) -> int:
        """How many bytes of a transfer are kept, given the database's count `recorded`."""
        ...

    def truncate(self, transfer_id: str, length: int) -> None:
        """Drop what lies past `length` (before a resume from there)."""
        ...

    def free_bytes(self) -> int | None:
        """Free space for transfers; None where there is no disk to fill (object storage)."""
        ...

    def keep_reserve(self) -> None: ...

    def release_reserve(self) -> bool:
        """Give back space kept aside (the disk is full); True if there was some."""
        ...

    async def ping(self) -> None:
        """Raise Unavailable if the bytes cannot be reached now."""
        ...

    async def forget(self, transfer_id: str) -> None:
        """Drop a transfer's bytes (readers see it aborted)."""
        ...

    async def close(self) -> None:
        """At shutdown."""
        ...


class Spool:
    """The local spool directory (the default): this daemon's own transfers."""

    shared = False

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._live: dict[str, LiveTransfer] = {}
        self.keep_reserve()

    def path(self, transfer_id: str) -> Path:
        # transfer ids are UUID hex made by the daemon, never user input
        return self.directory / f"{transfer_id}.spool"

    def on_disk(self, transfer_id: str) -> int:
        try:
            return self.path(transfer_id).stat().st_size
        except FileNotFoundError:
            return 0

    def stored(self, transfer_id: str, recorded: int) -> int:
        """The file is the truth about what arrived (it survives a restart)."""
        return self.on_disk(transfer_id)

    def live(self, transfer_id: str, size: int, uploaded: int, state: str) -> LiveTransfer:
        found = self._live.get(transfer_id)
        if found is None:
            found = LiveTransfer(transfer_id, self.path(transfer_id), size, uploaded, state)
            self._live[transfer_id] = found
        return found

    def known(self, transfer_id: str) -> LiveTransfer | None:
        return self._live.get(transfer_id)

    async def forget(self, transfer_id: str) -> None:
        live = self._live.pop(transfer_id, None)
        if live is not None:
            live.set_state(TransferState.ABORTED)
        self.path(transfer_id).unlink(missing_ok=True)

    def create(self, transfer_id: str) -> None:
        fd = os.open(self.path(transfer_id), os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)

    def truncate(self, transfer_id: str, length: int) -> None:
        os.truncate(self.path(transfer_id), length)

    async def write(
        self, live: LiveTransfer, offset: int, source: ByteSource, stall: float, landed: Landed
    ) -> None:
        """The socket's reads gathered and written with writev."""
        fd = os.open(self.path(live.transfer_id), os.O_WRONLY)
        pending: list[bytes] = []
        pending_bytes = 0
        loop = asyncio.get_running_loop()
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            # A sender that stops sending but keeps the connection open ends here after
            # `stall` seconds without a byte, so its upload is interrupted and reclaimable.
            async with asyncio.timeout(loop.time() + stall) as deadline:
                while True:
                    chunk = await source.readany()
                    if not chunk:
                        break
                    deadline.reschedule(loop.time() + stall)
                    if live.uploaded + pending_bytes + len(chunk) > live.size:
                        raise BadRequest(N_("more bytes than the offered size"))
                    pending.append(chunk)
                    pending_bytes += len(chunk)
                    if pending_bytes >= WRITE_BYTES or len(pending) >= WRITE_PIECES_MAX:
                        _write_all(fd, pending, pending_bytes)
                        pending.clear()
                        await landed(live.uploaded + pending_bytes)
                        pending_bytes = 0
                        live.release_behind(fd)
        finally:
            try:
                if pending:
                    _write_all(fd, pending, pending_bytes)
                    await landed(live.uploaded + pending_bytes)
            finally:
                os.close(fd)  # also when that last write fails (a full disk)

    @contextlib.asynccontextmanager
    async def reader(self, live: LiveTransfer, start: int) -> AsyncIterator[SpoolReader]:
        """sendfile from the spool file; what every live reader has been sent leaves the cache."""
        token = object()
        live.reader_at(token, start)
        with open(self.path(live.transfer_id), "rb") as file:
            try:
                yield _FileReader(live, token, file)
            finally:
                live.reader_gone(token)

    async def read(self, transfer_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        with open(self.path(transfer_id), "rb") as file:
            file.seek(start)
            while start < end:
                chunk = file.read(min(READ_CHUNK_BYTES, end - start))
                if not chunk:
                    break
                start += len(chunk)
                yield chunk

    async def parts(self, transfer_id: str) -> list[str]:
        path = self.path(transfer_id)
        return [path.name] if path.exists() else []

    async def ping(self) -> None:
        """The directory is on this machine: nothing to reach."""

    async def close(self) -> None:
        """Nothing to close."""

    def keep_reserve(self) -> None:
        """Set the reserve aside again if it was given back and there is room for it."""
        path = self.directory / RESERVE_FILE
        if path.exists() or self.free_bytes() < 2 * RESERVE_BYTES:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            finally:
                os.close(fd)
        except OSError:
            path.unlink(missing_ok=True)

    def release_reserve(self) -> bool:
        """Give the reserve back to the file system (the disk is full); True if there was one."""
        try:
            (self.directory / RESERVE_FILE).unlink()
        except FileNotFoundError:
            return False
        return True

    def free_bytes(self) -> int:
        stat = os.statvfs(self.directory)
        return stat.f_bavail * stat.f_frsize


class _FileReader:
    def __init__(self, live: LiveTransfer, token: object, file: BinaryIO) -> None:
        self._live = live
        self._token = token
        self._file = file

    async def send(self, sink: Sink, start: int, end: int) -> None:
        await sink.sendfile(self._file, start, end - start)
        self._live.reader_at(self._token, end)
        self._live.release_behind(self._file.fileno())
