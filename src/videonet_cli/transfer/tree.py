"""Batches on disk: what a sender collects from its arguments, where a receiver may write.

Sender: each directory argument becomes one directory batch (its regular files, walked in sorted
order); symbolic links and special files (fifos, sockets, devices) are skipped with a warning,
so nothing outside the tree is ever read and nothing blocks on a fifo.

Receiver: every manifest path is checked again here (the daemon's checks are not trusted), and
files are opened through directory descriptors without following symbolic links, so a path can
never lead out of the batch's directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from videonet_cli.errors import CliError, NotFoundError, UsageError
from videonet_cli.i18n import N_
from videonet_cli.transfer.files import UnsafeTarget, opened_directory, sendable
from videonet_cli.transfer.said import said
from videonet_protocol import protocol

_UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


@dataclass
class BatchSource:
    """The files of one batch on the sender's disk, in the order their bytes are sent."""

    kind: protocol.BatchKind
    name: str
    paths: list[Path]  # on disk
    entries: list[protocol.ManifestEntry]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    # Each file's stat as it was found: the header's modes and the resume journal's fingerprint
    # come from it (a second and third stat per file were a tenth of a 1,000-file send's work).
    stats: list[os.stat_result] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(e["size"] for e in self.entries)


def loose_files(paths: list[Path], found: list[os.stat_result | None] | None = None) -> BatchSource:
    """The files named, each checked (``found``: their stats, where already taken)."""
    stats = [sendable(p, st) for p, st in zip(paths, found or [None] * len(paths), strict=True)]
    entries: list[protocol.ManifestEntry] = [
        {"path": p.name, "size": st.st_size} for p, st in zip(paths, stats, strict=True)
    ]
    return BatchSource(protocol.BatchKind.FILES, paths[0].name, list(paths), entries, stats=stats)


def directory(root: Path) -> BatchSource:
    """The regular files under `root`, with relative paths; links and special files skipped."""
    name = root.resolve().name
    if not name:
        raise UsageError(
            said(N_("{path}: cannot send the file system's root as a directory"), path=str(root))
        )
    source = BatchSource(protocol.BatchKind.DIRECTORY, name, [], [])
    _walk(root, "", source)
    if not source.entries:
        raise UsageError(said(N_("{path} holds no regular files to send"), path=str(root)))
    if len(source.entries) > protocol.TRANSFER_BATCH_MAX_FILES:
        raise UsageError(
            said(
                N_(
                    "{path} holds {n} files; one send takes at most {limit} (send its "
                    "subdirectories separately)"
                ),
                path=str(root),
                n=len(source.entries),
                limit=protocol.TRANSFER_BATCH_MAX_FILES,
            )
        )
    return source


def _walk(directory_path: Path, prefix: str, source: BatchSource) -> None:
    try:
        entries = sorted(os.scandir(directory_path), key=lambda e: e.name)
    except OSError as exc:
        raise UsageError(
            said(N_("cannot read {path}: {error}"), path=str(directory_path), error=exc.strerror)
        ) from exc
    for entry in entries:
        rel = prefix + entry.name
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            raise UsageError(
                said(N_("cannot read {path}: {error}"), path=entry.path, error=exc.strerror)
            ) from exc
        if stat.S_ISLNK(st.st_mode):
            source.skipped.append((rel, said(N_("symbolic link"))))
        elif stat.S_ISDIR(st.st_mode):
            _walk(Path(entry.path), rel + "/", source)
        elif stat.S_ISREG(st.st_mode):
            problem = path_problem(rel)
            if problem:
                raise UsageError(
                    said(
                        N_("{path}: {problem}; rename it or leave it out"),
                        path=entry.path,
                        problem=problem,
                    )
                )
            if not os.access(entry.path, os.R_OK):
                raise UsageError(said(N_("cannot read {path}: permission denied"), path=entry.path))
            source.paths.append(Path(entry.path))
            source.entries.append({"path": rel, "size": st.st_size})
            source.stats.append(st)
        else:
            source.skipped.append((rel, said(N_("not a regular file"))))


def path_problem(path: str) -> str | None:
    """Why a relative manifest path must not be written, or None if it is safe."""
    if not path or len(path.encode("utf-8", "surrogatepass")) > protocol.TRANSFER_PATH_MAX_BYTES:
        return said(N_("empty or too long a path"))
    if path.startswith("/"):
        return said(N_("an absolute path"))
    parts = path.split("/")
    if len(parts) > protocol.TRANSFER_PATH_MAX_DEPTH:
        return said(N_("too deep a path"))
    for part in parts:
        if part in ("", ".", ".."):
            return said(N_("an empty, '.' or '..' component"))
        # Printable ASCII (most names) holds none of the unsafe categories: no look-up per
        # character for it (1,000 names: 5 ms less here).
        plain = part.isascii() and part.isprintable()
        unsafe = not plain and any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in part)
        if "\\" in part or unsafe:
            return said(N_("a backslash or control character in a name"))
        if len(part.encode("utf-8", "surrogatepass")) > protocol.TRANSFER_NAME_MAX_BYTES:
            return said(N_("a name longer than 255 bytes"))
    return None


def check_manifest(kind: str, entries: list[protocol.ManifestEntry]) -> None:
    """Refuse a manifest the receiver must not write (checked here whatever the daemon said)."""
    if len(entries) > protocol.TRANSFER_BATCH_MAX_FILES:
        raise CliError(
            said(N_("refusing a batch of {n} files (more than the limit)"), n=len(entries))
        )
    seen: set[str] = set()
    for entry in entries:
        path = entry["path"]
        problem = path_problem(path) if isinstance(path, str) else said(N_("not a path"))
        if problem is None and kind == protocol.BatchKind.FILES and "/" in path:
            problem = said(N_("a directory in a loose file's name"))
        if problem is None and path in seen:
            problem = said(N_("a duplicate"))
        if problem:
            raise CliError(
                said(
                    N_("refusing the offered batch: {path} is {problem}"),
                    path=repr(path),
                    problem=problem,
                )
            )
        seen.add(path)
    for path in seen:
        head = path.rpartition("/")[0]
        while head:
            if head in seen:
                raise CliError(
                    said(
                        N_("refusing the offered batch: {path} is a file and a directory"),
                        path=repr(head),
                    )
                )
            head = head.rpartition("/")[0]


# Every directory of a received tree, its top included: 0755 within the umask (the header
# carries files' modes only; never setgid or sticky, never writable by others).
DIR_MODE = 0o755

FSYNC_FILES_MAX = 8  # up to this many received files are fsynced one by one


def sync_files(root: Path, paths: list[str]) -> None:
    """Make the files under `root` durable before they are renamed into place.

    One fsync per file costs a journal commit each (about 4 s for 1,000 small files on the
    benchmark's VM, docs/performance.md), so on Linux one syncfs(2) of the file system holding
    `root` flushes many at once; elsewhere, and for a few files (where syncfs would also wait
    for everything else written to that file system), each file is fsynced.
    """
    if len(paths) > FSYNC_FILES_MAX and _syncfs(root):
        return
    for path in paths:
        fd = os.open(root / path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _syncfs(root: Path) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # only here: a batch's end on Linux

    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    with opened_directory(root) as fd:
        return bool(syncfs(fd) == 0)


class TreeWriter:
    """Opens files at relative paths under one root directory, never following a link."""

    def __init__(self, root: Path) -> None:
        try:
            self._root = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except FileNotFoundError as exc:
            raise NotFoundError(said(N_("{path} disappeared"), path=str(root))) from exc
        except OSError as exc:
            raise UnsafeTarget(
                said(N_("cannot write into {path}: {error}"), path=str(root), error=exc.strerror)
            ) from exc
        self._root_path = root
        self._dirs: dict[str, int] = {"": self._root}

    def _dir(self, rel: str) -> int:
        found = self._dirs.get(rel)
        if found is not None:
            return found
        parent, _, name = rel.rpartition("/")
        parent_fd = self._dir(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, DIR_MODE, dir_fd=parent_fd)
        # O_NOFOLLOW: a link planted where a directory should be is an error, not a way out.
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
        self._dirs[rel] = fd
        return fd

    def open(self, path: str, truncate: bool, mode: int | None = None) -> int:
        """A descriptor for writing `path` (created if missing), positioned at its end; with
        ``mode``, the file has exactly that mode (permission bits, already within the umask)."""
        parent, _, name = path.rpartition("/")
        try:
            dir_fd = self._dir(parent)
        except OSError as exc:
            raise self._unsafe(path, exc) from exc
        if truncate and mode is not None:
            # The usual case, a new file: one exclusive create makes it regular, empty and of
            # this mode, where the general way below takes six more calls per file (1,000
            # small files: 6,000 syscalls fewer for the receiver). Anything already under the
            # name (a .part left before, a planted link or fifo) takes the general way.
            exclusive = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            try:
                return os.open(name, exclusive, mode, dir_fd=dir_fd)
            except FileExistsError:
                pass
            except OSError as exc:
                raise self._unsafe(path, exc) from exc
        # O_NONBLOCK: a fifo planted under the name fails at once (ENXIO) instead of blocking.
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
        except OSError as exc:
            raise self._unsafe(path, exc) from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UnsafeTarget(
                said(
                    N_("refusing to write {path}: it is not a regular file"),
                    path=str(self._root_path / path),
                )
            )
        os.set_blocking(fd, True)
        if truncate:
            os.ftruncate(fd, 0)
        if mode is not None:
            os.fchmod(fd, mode)
        os.lseek(fd, 0, os.SEEK_END)
        return fd

    def _unsafe(self, path: str, exc: OSError) -> UnsafeTarget:
        if exc.errno in (errno.ELOOP, errno.ENXIO):  # a link or a fifo under the name
            return UnsafeTarget(
                said(
                    N_("refusing to write {path}: it is not a regular file"),
                    path=str(self._root_path / path),
                )
            )
        # ENOTDIR: a file in the way.
        return UnsafeTarget(
            said(
                N_("cannot write {path}: {error}"),
                path=str(self._root_path / path),
                error=exc.strerror,
            )
        )

    def size_of(self, path: str) -> int:
        """Bytes already in `path` (0 if it is not there or not a regular file)."""
        parent, _, name = path.rpartition("/")
        try:
            st = os.stat(name, dir_fd=self._dir(parent), follow_symlinks=False)
        except OSError:
            return 0
        return st.st_size if stat.S_ISREG(st.st_mode) else 0

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
