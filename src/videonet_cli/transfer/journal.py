"""The local resume journal: the CLI, not the daemon, decides when a file key is used again.

A sender writes an entry before its first byte leaves: the transfer id, the stream id, the file
key, the signed header and the keyed fingerprint of its source (each file's path, device, inode,
size, mtime and ctime, with the room and the recipient). A later `send` resumes only the transfer
its journal names for the very same source fingerprint, re-sealing the same plaintext under the
same key and header (so the same nonces seal the same bytes); whatever the daemon answers about
"resumed" and offsets is a hint checked against this. A changed file has another fingerprint, so
another header, so another record key: it is never sealed under an old key. The entry goes once
the transfer is sealed.

A receiver writes an entry (the header hash and where its `.part` files are) before it writes a
byte; a `.part` is reused as a verified prefix only when the entry for that very header names
it, so a `.part` left by another transfer (or by the plaintext protocol) is never reused.

The journal is one JSON file in the data dir, mode 0600 (it holds file keys), rewritten whole
under an exclusive lock (not fsynced: see `_locked`); entries older than `MAX_AGE_SECONDS` are
dropped.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videonet_cli.config import data_dir
from videonet_cli.errors import CliError
from videonet_cli.i18n import N_
from videonet_cli.transfer.said import said

JOURNAL_FILE = "transfer-journal.json"
MAX_AGE_SECONDS = 7 * 24 * 3600
_SOURCE_LABEL = b"videonet/source-fingerprint/v2"


def journal_path() -> Path:
    return data_dir() / JOURNAL_FILE


def source_fingerprint(
    secret: bytes,
    room_id: str,
    to: str | None,
    kind: str,
    name: str,
    paths: list[Path],
    stats: list[os.stat_result],
) -> bytes:
    """32 bytes standing for exactly these files as they were found (``stats``: the send's
    own walk, moments before), keyed with this device's secret so that the daemon and receivers
    learn nothing from it. Any write to a file changes its ctime (and a replaced file its
    inode), so equal fingerprints mean unchanged bytes."""
    key = hashlib.sha256(_SOURCE_LABEL + secret).digest()
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(repr((room_id, to, kind, name)).encode("utf-8", "surrogateescape") + b"\n")
    # Each directory resolved once (a path's every component is an lstat: for 1,000 files
    # in one directory that was most of the sender's own work). The file itself is told by
    # its device and inode; the path only names where it was sent from.
    parents: dict[str, str] = {}
    for path, st in zip(paths, stats, strict=True):
        head, tail = os.path.split(os.fspath(path))
        parent = parents.get(head)
        if parent is None:
            parent = parents[head] = str(Path(head).resolve())
        fields = (os.path.join(parent, tail), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        mac.update(repr((*fields, st.st_ctime_ns)).encode("utf-8", "surrogateescape") + b"\n")
    return mac.digest()


@dataclass(frozen=True)
class SendEntry:
    transfer_id: str
    stream_id: str
    file_key: bytes
    header: bytes  # the signed header blob, re-sent as it is on a resume


@contextlib.contextmanager
def _locked() -> Iterator[dict[str, Any]]:
    """The journal's contents, under an exclusive lock; written back when the block ends."""
    path = journal_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        st = os.fstat(fd)
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise CliError(
                said(
                    N_("{path} is readable by other users (mode {mode}): run `chmod 600 {path}`"),
                    path=str(path),
                    mode=f"{stat.S_IMODE(st.st_mode):o}",
                )
            )
        raw = b""
        while chunk := os.read(fd, 1 << 16):
            raw += chunk
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}  # a torn journal only costs a resume
        if not isinstance(data, dict):
            data = {}
        data.setdefault("send", {})
        data.setdefault("receive", {})
        before = json.dumps(data, sort_keys=True)
        yield data
        now = time.time()
        for table in ("send", "receive"):
            data[table] = {
                k: v
                for k, v in data[table].items()
                if isinstance(v, dict) and now - float(v.get("at", 0)) < MAX_AGE_SECONDS
            }
        after = json.dumps(data, sort_keys=True)
        if after != before:
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            view = memoryview(after.encode("utf-8"))
            while view:
                view = view[os.write(fd, view) :]
            # No fsync: an entry lost in a crash only costs a resume (the next send is a new
            # transfer with a new key); an entry that outlives its transfer is refused by the
            # daemon ("already used") and dropped. Neither can seal other bytes under a key.
    finally:
        os.close(fd)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def find_send(source: bytes) -> SendEntry | None:
    """The unfinished transfer of exactly this source, if this device began one."""
    with _locked() as data:
        found = data["send"].get(source.hex())
    if not isinstance(found, dict):
        return None
    try:
        return SendEntry(
            str(found["transfer_id"]),
            str(found["stream_id"]),
            base64.b64decode(found["file_key"], validate=True),
            base64.b64decode(found["header"], validate=True),
        )
    except (KeyError, ValueError, TypeError):
        return None


def record_send(source: bytes, entry: SendEntry) -> None:
    with _locked() as data:
        data["send"][source.hex()] = {
            "transfer_id": entry.transfer_id,
            "stream_id": entry.stream_id,
            "file_key": _b64(entry.file_key),
            "header": _b64(entry.header),
            "at": time.time(),
        }


def forget_send(source: bytes) -> None:
    with _locked() as data:
        data["send"].pop(source.hex(), None)


def receiving(header_hash: bytes, root: Path) -> bool:
    """Whether the `.part` files under ``root`` were written for exactly this header (then
    they may be reused as a verified prefix); records that they are, from now on."""
    key = header_hash.hex()
    with _locked() as data:
        found = data["receive"].get(key)
        ours = isinstance(found, dict) and found.get("root") == str(root)
        data["receive"][key] = {"root": str(root), "at": time.time()}
    return ours


def received(header_hash: bytes) -> None:
    with _locked() as data:
        data["receive"].pop(header_hash.hex(), None)
