"""Local file work for transfers: safe names, hashing, free space, the NAME.part convention."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from videonet_cli.errors import NotFoundError, UsageError
from videonet_cli.i18n import N_, _
from videonet_cli.transfer.said import said
from videonet_protocol import protocol

CHUNK_BYTES = 1 << 20
PART_SUFFIX = ".part"
# Leave this much free after a receive so the disk is not filled to the last byte.
FREE_SPACE_MARGIN = 16 << 20
# A received file is dropped from the page cache behind the writer in steps of this size (the
# same measured choice as the daemon's spool).
RELEASE_STEP_BYTES = 8 << 20


@dataclass(frozen=True)
class SafeName:
    name: str
    changed: bool
    original: str


def safe_name(offered: str) -> SafeName:
    """A plain file name for what a sender offered: never a path, never hidden control bytes.

    Directories are dropped (last component only), control characters removed, and the name is
    shortened to fit 255 bytes with the `.part` suffix. Empty, "." and ".." are refused.
    """
    name = offered.replace("\\", "/").rsplit("/", 1)[-1]
    # Cs: a lone surrogate (JSON can carry one) cannot be a file name on any file system.
    dropped = ("Cc", "Cf", "Cs", "Zl", "Zp")
    if not (name.isascii() and name.isprintable()):  # printable ASCII has none of them
        name = "".join(ch for ch in name if unicodedata.category(ch) not in dropped)
    name = name.strip()
    if name in ("", ".", ".."):
        raise UsageError(
            said(N_("refusing an offered file with an unusable name: {name}"), name=repr(offered))
        )
    limit = protocol.TRANSFER_NAME_MAX_BYTES - len(PART_SUFFIX)
    if len(name.encode("utf-8")) > limit:
        stem, dot, ext = name.rpartition(".")
        keep_ext = dot and 0 < len(ext.encode()) <= 16
        tail = f".{ext}" if keep_ext else ""
        head = stem if keep_ext else name
        budget = limit - len(tail.encode())
        head = head.encode("utf-8")[:budget].decode("utf-8", "ignore")
        name = head + tail
    return SafeName(name=name, changed=name != offered, original=offered)


def check_sendable(path: Path) -> int:
    """The size of a file we can send, or a one-line error for what is wrong with it."""
    return sendable(path).st_size


def sendable(path: Path, found: os.stat_result | None = None) -> os.stat_result:
    """The stat of a file we can send, or a one-line error for what is wrong with it
    (``found``: its stat taken a moment ago, not taken again)."""
    try:
        st = found if found is not None else path.stat()
    except FileNotFoundError as exc:
        raise NotFoundError(said(N_("no such file: {path}"), path=str(path))) from exc
    except OSError as exc:
        raise UsageError(
            said(N_("cannot read {path}: {error}"), path=str(path), error=exc.strerror)
        ) from exc
    # From the one stat (is_dir/is_file would stat again: three calls a file for 1,000 files)
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(
            said(N_("{path} is a directory: send its files, or archive it first"), path=str(path))
        )
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(said(N_("{path} is not a regular file"), path=str(path)))
    if not os.access(path, os.R_OK):
        raise UsageError(said(N_("cannot read {path}: permission denied"), path=str(path)))
    return st


def hash_prefix(
    path: Path, length: int, progress: Callable[[int], None] | None = None
) -> hashlib._Hash:
    """SHA-256 state after the first `length` bytes of `path` (for resuming)."""
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as fh:
        while done < length:
            chunk = fh.read(min(CHUNK_BYTES, length - done))
            if not chunk:
                break
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done)
    return digest


def sha256_file(path: Path) -> tuple[int, str]:
    size = path.stat().st_size
    return size, hash_prefix(path, size).hexdigest()


def free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free


class ReleaseBehind:
    """Drops what has been written to a file from the page cache, one step behind the writer.

    A received file would otherwise stay cached in full, and on a VM fresh page-cache pages cost
    several times the system time of recycled ones (docs/performance.md, issue 13): dropping the
    pages behind lets the next writes reuse them, and writes the file back during the download,
    so the final fsync has little left to do. POSIX_FADV_DONTNEED starts writeback of dirty pages
    but drops only clean ones, so each range is advised twice, one step apart.
    """

    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self._released = offset
        self._release_from = offset

    def written_to(self, offset: int) -> None:
        if offset - self._released < RELEASE_STEP_BYTES or not hasattr(os, "posix_fadvise"):
            return
        with contextlib.suppress(OSError):
            os.posix_fadvise(
                self._fd, self._release_from, offset - self._release_from, os.POSIX_FADV_DONTNEED
            )
        self._release_from, self._released = self._released, offset


class Gathered:
    """Socket reads kept as they came, written with one writev once about CHUNK_BYTES are in.

    Gathering avoids many small writes; keeping the pieces in a list (not one growing buffer)
    avoids copying every byte once more before it is written.
    """

    PIECES_MAX = 512  # writev takes at most IOV_MAX (1024 on Linux) buffers

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self.nbytes = 0

    def add(self, chunk: bytes) -> bool:
        """Keep `chunk`; True when it is time to write."""
        self._pieces.append(chunk)
        self.nbytes += len(chunk)
        return self.nbytes >= CHUNK_BYTES or len(self._pieces) >= self.PIECES_MAX

    def write_to(self, fd: int) -> int:
        """Write and forget what is gathered; return how many bytes that was."""
        total = self.nbytes
        if total:
            written = os.writev(fd, self._pieces)
            if written < total:  # a short write (rare): the rest the slow way
                view = memoryview(b"".join(self._pieces))[written:]
                while view:
                    view = view[os.write(fd, view) :]
        self._pieces.clear()
        self.nbytes = 0
        return total


def part_path(out_dir: Path, name: str) -> Path:
    return out_dir / (name + PART_SUFFIX)


def local_clock(iso: str) -> str:
    """'14:05' for a time today, '2026-12-01 09:30' otherwise (local time)."""
    try:
        when = datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return iso or _("the daemon's retention time")
    if when.date() == datetime.now().astimezone().date():
        return when.strftime("%H:%M")
    return when.strftime("%Y-%m-%d %H:%M")


def shown_wait(seconds: float) -> str:
    """'10 min', '90 s', '2 h 30 min': a wait for people."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")


class UnsafeTarget(Exception):
    """A name in the output directory that is not a regular file; nothing is written to it."""


# Never through a link (O_NOFOLLOW); O_NONBLOCK so a planted FIFO fails at once instead of
# blocking the open. Mode 0o666: the user's umask decides what others may read.
_PART_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_PART_MODE = 0o666


@contextlib.contextmanager
def opened_directory(path: Path) -> Iterator[int]:
    """A descriptor of the directory ``path``, closed after: names under it are then used
    relative to it (no path walked again for each, none redirected meanwhile)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def existing_part_size(out_dir: Path, name: str) -> int:
    """The size of NAME.part in `out_dir` (0 if there is none), looked at without following
    links; anything there that is not a regular file is refused."""
    with opened_directory(out_dir) as dir_fd:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return 0
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeTarget(
            said(N_("refusing to write {path}: it is not a regular file"), path=str(out_dir / name))
        )
    return st.st_size


def open_part(out_dir: Path, name: str) -> int:
    """NAME.part opened for writing inside `out_dir` itself (relative to its descriptor, so a
    renamed or replaced path cannot redirect it), never through a symbolic link."""
    with opened_directory(out_dir) as dir_fd:
        try:
            fd = os.open(name, _PART_FLAGS, _PART_MODE, dir_fd=dir_fd)
        except OSError as exc:  # ELOOP: a symlink; ENXIO: a FIFO; EISDIR: a directory
            raise UnsafeTarget(
                said(
                    N_("refusing to write {path}: {error}"),
                    path=str(out_dir / name),
                    error=exc.strerror,
                )
            ) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeTarget(
            said(N_("refusing to write {path}: it is not a regular file"), path=str(out_dir / name))
        )
    os.set_blocking(fd, True)
    return fd
