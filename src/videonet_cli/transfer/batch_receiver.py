"""Receiving a batch: one GET of the files' bytes, split by the manifest's sizes.

Loose files are written as NAME.part in --out; a directory's tree is written under a hidden
`.NAME.part/` in --out. Nothing appears under its final name before the daemon confirmed the
batch digest (every file's SHA-256 equal to the sender's); then the files are renamed, or the
hidden directory is renamed to NAME. A later run resumes: complete files are re-hashed, the first
incomplete one continues after its bytes. An end-to-end encrypted batch is one record stream:
only verified plaintext reaches the splitter (transfer/e2e_stream.py).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from videonet_cli.api import SocketClient
from videonet_cli.api.client import TransfersApi
from videonet_cli.crypto.stream import RecordCipher
from videonet_cli.errors import CliError, DaemonRefused, IntegrityError, TamperedError
from videonet_cli.identity.device import DeviceKey
from videonet_cli.reporting import Reporter
from videonet_cli.transfer.e2e_keys import receiver_file_key
from videonet_cli.transfer.e2e_stream import open_stream
from videonet_cli.transfer.files import (
    CHUNK_BYTES,
    FREE_SPACE_MARGIN,
    PART_SUFFIX,
    Gathered,
    UnsafeTarget,
    free_bytes,
    hash_prefix,
    safe_name,
)
from videonet_cli.transfer.outcomes import (
    ReceiveOptions,
    ReceiveOutcome,
    decline,
    moving_shares,
)
from videonet_cli.transfer.throttle import Throttle
from videonet_cli.transfer.tree import TreeWriter, check_manifest, sync_files
from videonet_protocol import protocol


@dataclass
class _Layout:
    """Where each file of the batch is written and where it ends up."""

    root: Path  # the directory the TreeWriter opens
    parts: list[str]  # each file's path under root while it is unverified
    finals: list[Path]  # each file's final path (for a directory: inside the final directory)
    shown: list[str]  # each file's name in outcomes
    final_dir: Path | None  # a directory batch: the hidden root is renamed to this


def _layout(kind: str, name: str, paths: list[str], out_dir: Path) -> _Layout:
    if kind == protocol.BatchKind.DIRECTORY:
        dir_name = safe_name(name).name
        final_dir = out_dir / dir_name
        return _Layout(
            root=out_dir / f".{dir_name}{PART_SUFFIX}",
            parts=paths,
            finals=[final_dir / p for p in paths],
            shown=[f"{dir_name}/{p}" for p in paths],
            final_dir=final_dir,
        )
    names = [safe_name(p).name for p in paths]
    if len(set(names)) != len(names):
        raise CliError("refusing the offered batch: two files would get the same name")
    return _Layout(
        root=out_dir,
        parts=[n + PART_SUFFIX for n in names],
        finals=[out_dir / n for n in names],
        shown=names,
        final_dir=None,
    )


async def receive_batch(
    transfers: TransfersApi,
    rt: SocketClient,
    device: DeviceKey,
    offer: dict[str, Any],
    options: ReceiveOptions,
    last: bool,
    report: Reporter,
) -> list[ReceiveOutcome]:
    """Take one batch offer; one outcome per file when verified, else one for the batch."""
    started = time.monotonic()
    transfer_id = str(offer["transfer_id"])
    e2e = offer.get("e2e")
    size = int(e2e["plain_size"]) if isinstance(e2e, dict) else int(offer["size"])
    sender = str(offer.get("sender_name", "?"))
    kind = str(offer.get("batch_kind"))
    manifest = await transfers.manifest(transfer_id)
    entries = manifest["files"]
    try:
        check_manifest(kind, entries)
        if sum(e["size"] for e in entries) != size:
            raise CliError("refusing the offered batch: its sizes do not add up to its size")
        layout = _layout(kind, str(offer["name"]), [e["path"] for e in entries], options.out_dir)
    except CliError as exc:  # the sender hears why, and other offers can still be taken
        await decline(rt, transfer_id, str(exc), last)
        name, where = str(offer["name"]), str(options.out_dir)
        return [ReceiveOutcome(name, where, size, "", sender, False, str(exc), 0.0, 0, batch=name)]
    label = layout.final_dir.name if layout.final_dir else str(offer["name"])
    # What a failure (or a decline) is called: the batch as a whole, not its first file.
    whole = f"{label}/" if layout.final_dir else label
    if not layout.final_dir and len(entries) > 1:
        whole = f"{label} and {len(entries) - 1} more files"
    moving = 0.0

    def failed(reason: str, offset: int = 0, declined: bool = False) -> list[ReceiveOutcome]:
        where = layout.final_dir or options.out_dir
        return [
            ReceiveOutcome(
                whole, str(where), size, "", sender, False, reason,
                time.monotonic() - started, offset, moving, declined, label,
            )
        ]  # fmt: skip

    clash = _clash(layout, options.overwrite)
    if clash:
        await decline(rt, transfer_id, clash, last)
        return failed(clash)
    if options.ask is not None and not await options.ask(offer):
        await decline(rt, transfer_id, "declined", last)
        return failed("declined", declined=True)
    cipher: RecordCipher | None = None
    if isinstance(e2e, dict):
        if options.file_key is not None:
            file_key = await options.file_key(offer)
        else:
            file_key = await receiver_file_key(rt, device, offer)
        cipher = RecordCipher(file_key, str(e2e["stream_id"]))
    if layout.final_dir is not None:
        layout.root.mkdir(mode=0o700, exist_ok=True)
    # A link or a file planted in the tree's way (nothing is followed): declined with the
    # reason, so the sender hears it at once, then the receive fails.
    try:
        writer = TreeWriter(layout.root)
        try:
            checking = Throttle(report, label, size, "checking")  # re-hashing is not moving
            hashes, index, within = _resume(writer, layout, entries, checking)
            offset = sum(e["size"] for e in entries[:index]) + within
            if free_bytes(options.out_dir) < size - offset + FREE_SPACE_MARGIN:
                reason = f"not enough free space in {options.out_dir} for {label} ({size} bytes)"
                await decline(rt, transfer_id, reason, last)
                return failed(reason)
            await rt.call(protocol.EV_TRANSFER_ACCEPT, {"transfer_id": transfer_id})
            report(
                {
                    "event": "offer",
                    "name": label,
                    "bytes": size,
                    "files": len(entries),
                    "kind": kind,
                    "sender": sender,
                    "transfer_id": transfer_id,
                    "resumed_from": offset,
                    "encrypted": cipher is not None,
                }
            )
            throttle = Throttle(report, label, size)
            splitter = _Splitter(writer, layout.parts, [e["size"] for e in entries], hashes, index)
            splitter.within = within
            began = time.monotonic()
            try:
                received = await _download(
                    transfers, transfer_id, offset, size, splitter, throttle, cipher
                )
            except IntegrityError as exc:
                if isinstance(exc, TamperedError):
                    exc = TamperedError(
                        exc.index, _files_in_record(exc.index, entries, layout.shown)
                    )
                reason = f"{exc.message}; nothing was kept"
                writer.close()
                _discard(layout)
                await decline(rt, transfer_id, reason, last)
                return failed(reason, offset)
            moving = time.monotonic() - began
            throttle.update(received, force=True)
        finally:
            writer.close()
    except UnsafeTarget as exc:
        await decline(rt, transfer_id, str(exc), last)
        raise CliError(str(exc)) from exc
    if received < size:
        where = layout.root.name if layout.final_dir else "the .part files"
        return failed(
            f"incomplete: {received} of {size} bytes arrived (kept in {where}; "
            "run receive again to resume)",
            offset,
        )
    sync_files(layout.root, layout.parts)
    digests = [h.hexdigest() for h in hashes]
    sha256 = protocol.batch_digest(digests)
    reply = await rt.call(
        protocol.EV_TRANSFER_VERDICT, {"transfer_id": transfer_id, "sha256": sha256, "done": last}
    )
    if not reply.get("match") or reply.get("expected") != sha256:
        bad = await _mismatched(transfers, transfer_id, digests, layout.shown)
        _discard(layout)
        return failed(f"SHA-256 mismatch in {bad}; the received bytes were discarded", offset)
    clash = _clash(layout, options.overwrite)
    if clash:  # appeared while we were downloading
        return failed(f"{clash}; kept the .part files", offset)
    if layout.final_dir is not None:
        os.rename(layout.root, layout.final_dir)
    else:
        for part, final in zip(layout.parts, layout.finals, strict=True):
            os.replace(layout.root / part, final)
    seconds = time.monotonic() - started
    resumed = []
    start = 0
    for entry in entries:
        resumed.append(min(max(offset - start, 0), entry["size"]))
        start += entry["size"]
    shares = moving_shares(moving, [e["size"] - r for e, r in zip(entries, resumed, strict=True)])
    return [
        ReceiveOutcome(
            name=shown,
            path=str(final),
            size=entry["size"],
            sha256=digest,
            sender=sender,
            ok=True,
            reason="",
            seconds=seconds,
            resumed_from=done,
            moving_seconds=share,
            batch=label,
        )
        for entry, final, shown, digest, done, share in zip(
            entries, layout.finals, layout.shown, digests, resumed, shares, strict=True
        )
    ]


def _files_in_record(index: int, entries: list[protocol.ManifestEntry], shown: list[str]) -> str:
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


def _clash(layout: _Layout, overwrite: bool) -> str:
    """Why the batch cannot land (an existing name), or ''."""
    if layout.final_dir is not None:
        if os.path.lexists(layout.final_dir):
            return f"{layout.final_dir} exists (directories are never replaced; move it away)"
        return ""
    if overwrite:
        return ""
    existing = [str(f) for f in layout.finals if os.path.lexists(f)]
    if existing:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        return f"{existing[0]}{more} exists (use --overwrite to replace)"
    return ""


def _resume(
    writer: TreeWriter, layout: _Layout, entries: list[protocol.ManifestEntry], checking: Throttle
) -> tuple[list[hashlib._Hash], int, int]:
    """Hash what earlier runs left: (hashes so far, the first incomplete file, its bytes)."""
    hashes: list[hashlib._Hash] = []
    start = 0
    for index, (part, entry) in enumerate(zip(layout.parts, entries, strict=True)):
        have = writer.size_of(part)
        if have > entry["size"]:
            have = 0

        def shown(done: int, start: int = start) -> None:
            checking.update(start + done)

        if have < entry["size"] or entry["size"] == 0:
            if have:
                hashes.append(hash_prefix(layout.root / part, have, shown))
            return hashes, index, have
        hashes.append(hash_prefix(layout.root / part, have, shown))
        start += entry["size"]
    return hashes, len(entries), 0


class _Splitter:
    """Writes the stream into the batch's files in order, hashing each; gathers small reads."""

    def __init__(
        self,
        writer: TreeWriter,
        parts: list[str],
        sizes: list[int],
        hashes: list[hashlib._Hash],
        index: int,
    ) -> None:
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
            self._fd = self._writer.open(self._parts[self.index], truncate=truncate)
            if not truncate:
                os.ftruncate(self._fd, self.within)
                os.lseek(self._fd, self.within, os.SEEK_SET)
        return self._fd

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            self._skip_empty()
            if self.index >= len(self._parts):
                raise CliError("the daemon sent more bytes than offered")
            fd = self._open()
            take = min(len(view), self._sizes[self.index] - self.within)
            piece = view[:take]
            self._hashes[self.index].update(piece)
            self._pending.append(chunk if take == len(chunk) else bytes(piece))
            self._pending_bytes += take
            self.within += take
            view = view[take:]
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


async def _download(
    transfers: TransfersApi,
    transfer_id: str,
    offset: int,
    size: int,
    splitter: _Splitter,
    throttle: Throttle,
    cipher: RecordCipher | None,
) -> int:
    """Stream the batch from `offset` into the splitter; return the bytes it holds at the end.
    With a cipher, the records are opened and only their verified plaintext is split."""
    received = offset
    try:
        stream = (
            transfers.download(transfer_id, offset)
            if cipher is None
            else open_stream(transfers, transfer_id, cipher, size, offset)
        )
        async with stream as chunks:
            async for chunk in chunks:
                if received + len(chunk) > size:
                    raise CliError("the daemon sent more bytes than offered")
                # An encrypted stream's pieces are views of a reused buffer; the splitter may
                # keep a piece for a gathered write, so it gets its own copy.
                splitter.feed(chunk if isinstance(chunk, bytes) else bytes(chunk))
                received += len(chunk)
                throttle.update(received)
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError):
        pass  # a short stream: reported as incomplete, the .part files are kept
    except (aiohttp.ClientError, TimeoutError) as exc:
        if received == offset:
            raise transfers.unreachable(exc) from exc
    finally:
        splitter.close()
    return received


async def _mismatched(
    transfers: TransfersApi, transfer_id: str, digests: list[str], shown: list[str]
) -> str:
    """Which files differ from the sender's hashes (as far as the daemon can say)."""
    try:
        expected = (await transfers.manifest(transfer_id))["files_sha256"] or []
    except (DaemonRefused, aiohttp.ClientError):
        return "the batch"
    bad = [name for name, got, want in zip(shown, digests, expected, strict=False) if got != want]
    if not bad:
        return "the batch"
    return ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")


def _discard(layout: _Layout) -> None:
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
