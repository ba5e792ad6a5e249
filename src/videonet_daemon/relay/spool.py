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
from pathlib import Path
from typing import Protocol

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


class AnySpool(Protocol):
    """Where transfer bytes are kept: the local `Spool` here, or `relay.objects.ObjectSpool`
    (object storage shared by every daemon, `shared` True). The data loops differ (relay/routes)."""

    shared: bool

    def live(self, transfer_id: str, size: int, uploaded: int, state: str) -> LiveTransfer: ...

    def known(self, transfer_id: str) -> LiveTransfer | None: ...

    def create(self, transfer_id: str) -> None: ...

    def keep_reserve(self) -> None: ...

    async def forget(self, transfer_id: str) -> None:
        """Drop a transfer's bytes (readers see it aborted)."""
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
