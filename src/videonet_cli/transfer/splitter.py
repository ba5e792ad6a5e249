"""The receiver's write side: where each file of a transfer goes, and the stream split into it.

Loose files are written as NAME.part in --out; a directory's tree under a hidden `.NAME.part/`
in --out, opened through directory descriptors without following links (transfer/tree.py).
Only verified plaintext reaches the splitter (transfer/e2e_stream.py); it writes the stream into
the files in manifest order, hashing each, and gives each file the mode the signed header says
(within the umask, never setuid, always readable and writable by its owner); every directory,
the top included once verified, gets 0755 within the umask.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from videonet_cli.api.client import TransfersApi
from videonet_cli.crypto.stream import RecordCipher, StreamLayout
from videonet_cli.errors import CliError
from videonet_cli.i18n import N_
from videonet_cli.transfer.e2e_stream import Resume, open_records
from videonet_cli.transfer.files import (
    CHUNK_BYTES,
    PART_SUFFIX,
    Gathered,
    ReleaseBehind,
    hash_prefix,
    opened_directory,
    safe_name,
)
from videonet_cli.transfer.said import said
from videonet_cli.transfer.throttle import Throttle
from videonet_cli.transfer.tree import DIR_MODE, TreeWriter
from videonet_cli.transfer.worker import from_a_thread, in_thread
from videonet_protocol import protocol

_UMASK = os.umask(0o022)
os.umask(_UMASK)
# A piece at least this big is written at once, without a copy (a 1 MiB record's plaintext).
_DIRECT_BYTES = 256 << 10


def file_mode(mode: int) -> int:
    """The mode a received file gets from the header's: permission bits only (no setuid,
    setgid or sticky), always rw for its owner, within the umask."""
    return ((mode & 0o777) | 0o600) & ~_UMASK


def dir_mode() -> int:
    """A received directory's mode (tree.DIR_MODE within the umask, as mkdir gives)."""
    return DIR_MODE & ~_UMASK


def open_up(root: Path) -> None:
    """Give a verified tree's top (made 0700 while unverified) the directories' mode."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchmod(fd, dir_mode())
    finally:
        os.close(fd)


@dataclass
class Layout:
    """Where each file of the batch is written and where it ends up."""

    root: Path  # the directory the TreeWriter opens
    parts: list[str]  # each file's path under root while it is unverified
    finals: list[Path]  # each file's final path (for a directory: inside the final directory)
    shown: list[str]  # each file's name in outcomes
    final_dir: Path | None  # a directory batch: the hidden root is renamed to this


def layout_of(kind: str, name: str, paths: list[str], out_dir: Path) -> Layout:
    if kind == protocol.BatchKind.DIRECTORY:
        dir_name = safe_name(name).name
        final_dir = out_dir / dir_name
        return Layout(
            root=out_dir / f".{dir_name}{PART_SUFFIX}",
            parts=paths,
            finals=[final_dir / p for p in paths],
            shown=[f"{dir_name}/{p}" for p in paths],
            final_dir=final_dir,
        )
    names = [safe_name(p).name for p in paths]
    if len(set(names)) != len(names):
        raise CliError(said(N_("refusing the offered batch: two files would get the same name")))
    return Layout(
        root=out_dir,
        parts=[n + PART_SUFFIX for n in names],
        finals=[out_dir / n for n in names],
        shown=names,
        final_dir=None,
    )


def files_in_record(index: int, entries: list[protocol.ManifestEntry], shown: list[str]) -> str:
    """The files whose bytes lie (partly) in encrypted record ``index``, for the error line."""
    begin = index * protocol.E2E_RECORD_BYTES
    end = begin + protocol.E2E_RECORD_BYTES
    names, start = [], 0
    for entry, name in zip(entries, shown, strict=True):
        if start < end and start + entry["size"] > begin:
            names.append(name)
        start += entry["size"]
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return ", ".join(names[:3]) + more


def _exists_in(fd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return False
    return True


def land(layout: Layout) -> None:
    """Give the verified files their final names: the tree's top renamed once, or each of the
    loose files renamed within its directory (by name under one open directory: 1,000 renames
    took 25-29 ms through joined paths, 17 ms so; docs/performance.md, "Session 15")."""
    if layout.final_dir is not None:
        # The tree's top gets the directories' mode (0700 while it was unverified).
        open_up(layout.root)
        os.rename(layout.root, layout.final_dir)
        return
    with opened_directory(layout.root) as fd:
        for part, final in zip(layout.parts, layout.finals, strict=True):
            os.replace(part, final.name, src_dir_fd=fd, dst_dir_fd=fd)


def clash(layout: Layout, overwrite: bool) -> str:
    """Why the batch cannot land (an existing name), or ''."""
    if layout.final_dir is not None:
        if os.path.lexists(layout.final_dir):
            return said(
                N_("{path} exists (directories are never replaced; move it away)"),
                path=str(layout.final_dir),
            )
        return ""
    if overwrite:
        return ""
    try:  # names under one open directory: no path walked for each
        with opened_directory(layout.root) as fd:
            existing = [str(f) for f in layout.finals if _exists_in(fd, f.name)]
    except FileNotFoundError:  # --out went away: writing into it says so
        existing = []
    if existing:
        if len(existing) > 1:
            return said(
                N_("{path} and {more} more exist (use --overwrite to replace them)"),
                path=existing[0],
                more=len(existing) - 1,
            )
        return said(N_("{path} exists (use --overwrite to replace it)"), path=existing[0])
    return ""


def resume_point(
    writer: TreeWriter,
    layout: Layout,
    entries: list[protocol.ManifestEntry],
    checking: Callable[[int], None],
) -> tuple[list[hashlib._Hash], int, int]:
    """Hash what earlier runs left: (hashes so far, the first incomplete file, its bytes).
    Blocking (seconds per gigabyte): run it with `worker.reported_in_thread`; ``checking``
    hears the bytes of the batch hashed so far."""
    hashes: list[hashlib._Hash] = []
    start = 0
    for index, (part, entry) in enumerate(zip(layout.parts, entries, strict=True)):
        have = writer.size_of(part)
        if have > entry["size"]:
            have = 0

        def shown(done: int, start: int = start) -> None:
            checking(start + done)

        if have < entry["size"] or entry["size"] == 0:
            if have:
                hashes.append(hash_prefix(layout.root / part, have, shown))
            return hashes, index, have
        hashes.append(hash_prefix(layout.root / part, have, shown))
        start += entry["size"]
    return hashes, len(entries), 0


class Splitter:
    """Writes the stream into the files in order, hashing each; gathers small pieces, writes
    big ones at once (no copy)."""

    def __init__(
        self,
        writer: TreeWriter,
        parts: list[str],
        sizes: list[int],
        modes: list[int],
        hashes: list[hashlib._Hash],
        index: int,
    ) -> None:
        self._modes = modes
        self._release: ReleaseBehind | None = None
        self._writer = writer
        self._parts = parts
        self._sizes = sizes
        self._hashes = hashes
        self.index = index
        self.within = 0
        self._fd: int | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def _open(self) -> int:
        if self._fd is None:
            # A file after the resume point may hold stale bytes from an older attempt.
            if self.index == len(self._hashes):
                self._hashes.append(hashlib.sha256())
            truncate = self.within == 0
            mode = file_mode(self._modes[self.index])
            self._fd = self._writer.open(self._parts[self.index], truncate=truncate, mode=mode)
            # A big file would otherwise stay in the page cache whole (see ReleaseBehind).
            self._release = ReleaseBehind(self._fd, self.within)
            if not truncate:
                os.ftruncate(self._fd, self.within)
                os.lseek(self._fd, self.within, os.SEEK_SET)
        return self._fd

    def feed(self, chunk: bytes | memoryview) -> None:
        """Take the next piece; a view is used before this returns (not kept)."""
        view = memoryview(chunk)
        while view:
            self._skip_empty()
            if self.index >= len(self._parts):
                raise CliError(said(N_("the daemon sent more bytes than offered")))
            fd = self._open()
            take = min(len(view), self._sizes[self.index] - self.within)
            piece = view[:take]
            self._hashes[self.index].update(piece)
            if take >= _DIRECT_BYTES:
                self._flush(fd)
                while piece:
                    piece = piece[os.write(fd, piece) :]
            else:
                self._pending.append(bytes(piece))
                self._pending_bytes += take
            self.within += take
            view = view[take:]
            if self._release is not None:
                self._release.written_to(self.within)
            if self.within == self._sizes[self.index]:
                self._flush(fd)
                os.close(fd)
                self._fd = None
                self.index += 1
                self.within = 0
            elif self._pending_bytes >= CHUNK_BYTES or len(self._pending) >= Gathered.PIECES_MAX:
                self._flush(fd)

    def _skip_empty(self) -> None:
        """Create the empty files at the current point (they get no bytes to trigger them)."""
        while self.index < len(self._parts) and self._sizes[self.index] == 0:
            os.close(self._open())
            self._fd = None
            self.index += 1

    def _flush(self, fd: int) -> None:
        if not self._pending:
            return
        written = os.writev(fd, self._pending)
        if written < self._pending_bytes:  # a short write (rare): the rest the slow way
            view = memoryview(b"".join(self._pending))[written:]
            while view:
                view = view[os.write(fd, view) :]
        self._pending.clear()
        self._pending_bytes = 0

    def close(self) -> None:
        """Write what is gathered, create trailing empty files, close the open file."""
        if self._fd is not None:
            self._flush(self._fd)
            os.close(self._fd)
            self._fd = None
        if self.within == 0:
            self._skip_empty()


async def download(
    transfers: TransfersApi,
    transfer_id: str,
    offset: int,
    size: int,
    splitter: Splitter,
    throttle: Throttle,
    cipher: RecordCipher,
) -> int:
    """Stream the transfer from `offset` into the splitter; return the bytes it holds at the
    end. The records are opened as they come and only their verified plaintext is split.

    The bytes are read, opened, hashed and written by one worker thread (`api.blocking`); the
    event loop hears of the progress a few times a second. A cancelled download stops that
    thread and waits for it before the splitter is closed."""
    layout = StreamLayout(size)
    resume = Resume.for_download(layout, offset)
    body = transfers.download(transfer_id, resume.cipher_offset)
    received = offset
    stop = threading.Event()
    report = from_a_thread(throttle.update, at_once=False)

    def deliver(plaintext: memoryview) -> None:
        nonlocal received
        if received + len(plaintext) > size:
            raise CliError(said(N_("the daemon sent more bytes than offered")))
        splitter.feed(plaintext)
        received += len(plaintext)
        report(received)

    def work() -> None:
        try:
            body.open()
        except (OSError, http.client.HTTPException) as exc:
            raise transfers.unreachable(exc) from exc
        try:
            open_records(
                body, cipher, layout, resume, offset - resume.plain_offset, deliver, stop.is_set
            )
        except TimeoutError as exc:  # a stall: short, unless nothing came at all
            if received == offset:
                raise transfers.unreachable(exc) from exc
        except (OSError, http.client.HTTPException):
            pass  # a short stream: reported as incomplete, the .part files are kept
        finally:
            body.close()

    def abort() -> None:
        stop.set()
        body.abort()

    try:
        await in_thread(work, abort)
    finally:
        splitter.close()
    return received


def discard(layout: Layout) -> None:
    if layout.final_dir is not None:
        _remove_tree(layout.root)
        return
    for part in layout.parts:
        (layout.root / part).unlink(missing_ok=True)


def _remove_tree(root: Path) -> None:
    """Delete the hidden directory we made (links inside are removed, never followed)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            os.unlink(os.path.join(dirpath, name))
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                os.unlink(path)
            else:
                os.rmdir(path)
    os.rmdir(root)
