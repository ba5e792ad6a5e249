"""Sending a batch: many files, or a directory tree, as one offer and one upload.

Per-file round trips (offer, PUT, seal, verdict) cost more than the bytes of a small file, so a
batch has one of each: the offer carries the manifest, the PUT body is the files' bytes one after
the other in manifest order, and the seal carries each file's SHA-256 (and their batch digest).
The concatenation is end-to-end encrypted as one record stream (transfer/e2e_stream.py); the
manifest (paths and sizes) is not. A resumed upload first hashes the plaintext of the records
the daemon already holds, file by file.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable

import aiohttp

from videonet_cli.api import SocketClient
from videonet_cli.api.client import TransfersApi
from videonet_cli.crypto.stream import RecordCipher, StreamLayout
from videonet_cli.errors import CliError
from videonet_cli.reporting import Reporter
from videonet_cli.transfer.e2e_keys import SenderKeys
from videonet_cli.transfer.e2e_stream import Resume, seal_stream, source_id
from videonet_cli.transfer.files import CHUNK_BYTES, hash_prefix
from videonet_cli.transfer.outcomes import (
    Inbox,
    SendOptions,
    SendOutcome,
    moving_shares,
    upload_failed,
)
from videonet_cli.transfer.throttle import Throttle
from videonet_cli.transfer.tree import BatchSource
from videonet_protocol import protocol


async def send_batch(
    transfers: TransfersApi,
    rt: SocketClient,
    inbox: Inbox,
    keys: SenderKeys,
    room_id: str,
    batch: BatchSource,
    options: SendOptions,
    report: Reporter,
) -> list[SendOutcome]:
    """Offer, upload and seal one batch; one outcome per file, all with the batch's verdicts."""
    started = time.monotonic()
    request: protocol.BatchRequest = {"kind": batch.kind, "files": batch.entries}
    body: dict[str, object] = {"room_id": room_id, "name": batch.name, "batch": request}
    if options.to:
        body["to"] = options.to
    source = source_id(keys.device, batch.paths)
    reply, file_key = await keys.offer(body, batch.size, source, options.to)
    offer = reply["transfer"]
    transfer_id = str(offer["transfer_id"])
    layout = StreamLayout(batch.size)
    daemon_has = int(reply["offset"])
    resume = Resume.for_upload(layout, daemon_has)
    offset = resume.plain_offset
    listeners, expected = inbox.expected(reply, options.to)
    report(
        {
            "event": "offer",
            "name": batch.name,
            "bytes": batch.size,
            "files": len(batch.entries),
            "kind": batch.kind,
            "transfer_id": transfer_id,
            "resumed_from": offset,
            "listeners": listeners,
        }
    )
    throttle = Throttle(report, batch.name, batch.size)
    checking = Throttle(report, batch.name, batch.size, "checking")
    upload = daemon_has < layout.ciphertext_size or (
        offer["state"] != protocol.TransferState.UPLOADED
    )
    reader = _BatchReader(batch, offset if upload else batch.size, throttle, checking)
    began = time.monotonic()
    if upload:
        cipher = RecordCipher(file_key.key, file_key.stream_id)
        records = seal_stream(
            reader.body(options.rate_limit),
            cipher,
            layout,
            resume,
            daemon_has - resume.cipher_offset,
        )
        try:
            await transfers.upload(
                transfer_id, daemon_has, layout.ciphertext_size - daemon_has, records
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise upload_failed(transfers, exc) from exc
    moving = time.monotonic() - began
    throttle.update(batch.size, force=True)
    digests = reader.digests()
    sha256 = protocol.batch_digest(digests)
    sealed = await rt.call(
        protocol.EV_TRANSFER_SEAL,
        {"transfer_id": transfer_id, "sha256": sha256, "files_sha256": digests},
    )
    until = str(sealed.get("available_until", ""))
    report(
        {
            "event": "uploaded",
            "name": batch.name,
            "sha256": sha256,
            "listeners": listeners,
            "available_until": until,
            "wait": options.wait,
        }
    )
    got, missing = await inbox.verdicts(
        transfer_id, expected, options.timeout if options.wait else 0
    )
    seconds = time.monotonic() - started
    prefix = batch.name + "/" if batch.kind == protocol.BatchKind.DIRECTORY else ""
    resumed = []
    start = 0
    for entry in batch.entries:
        resumed.append(min(max(offset - start, 0), entry["size"]))
        start += entry["size"]
    shares = moving_shares(
        moving, [e["size"] - r for e, r in zip(batch.entries, resumed, strict=True)]
    )
    return [
        SendOutcome(
            path=str(path),
            name=prefix + entry["path"],
            size=entry["size"],
            sha256=digest,
            transfer_id=transfer_id,
            seconds=seconds,
            resumed_from=done,
            verdicts=got,
            missing=missing if options.wait else [],
            moving_seconds=share,
            available_until=until,
            waited=options.wait,
            batch=batch.name,
        )
        for path, entry, digest, done, share in zip(
            batch.paths, batch.entries, digests, resumed, shares, strict=True
        )
    ]


class _BatchReader:
    """Reads the batch's files in order from a byte offset of their concatenation, hashing each."""

    def __init__(
        self, batch: BatchSource, offset: int, throttle: Throttle, checking: Throttle
    ) -> None:
        self._batch = batch
        self._throttle = throttle
        self._offset = offset
        self._hashes: list[hashlib._Hash] = []
        # Files wholly before the offset are hashed from disk now; the one it falls in is
        # hashed up to it and continued by the upload. (Re-hashing is shown, as `checking`.)
        start = 0
        for path, entry in zip(batch.paths, batch.entries, strict=True):
            shown = _progress_from(checking, start)
            if start + entry["size"] <= offset:
                self._hashes.append(hash_prefix(path, entry["size"], shown))
                start += entry["size"]
                continue
            if start < offset:
                self._hashes.append(hash_prefix(path, offset - start, shown))
            break

    def digests(self) -> list[str]:
        return [h.hexdigest() for h in self._hashes]

    async def body(self, rate_limit: int | None) -> AsyncIterator[bytes]:
        """The bytes from the offset on, gathered into pieces of about CHUNK_BYTES."""
        chunk_bytes = (
            min(CHUNK_BYTES, max(16 << 10, rate_limit // 8)) if rate_limit else CHUNK_BYTES
        )
        sent = self._offset
        began = time.monotonic()
        pending: list[bytes] = []
        pending_bytes = 0
        start = 0
        for index, (path, entry) in enumerate(
            zip(self._batch.paths, self._batch.entries, strict=True)
        ):
            size = entry["size"]
            if start + size <= self._offset and index < len(self._hashes):
                start += size
                continue
            if index == len(self._hashes):
                self._hashes.append(hashlib.sha256())
            digest = self._hashes[index]
            done = max(self._offset - start, 0)
            fd = os.open(path, os.O_RDONLY)
            try:
                if done:
                    os.lseek(fd, done, os.SEEK_SET)
                while done < size:
                    chunk = os.read(fd, min(chunk_bytes, size - done))
                    if not chunk:
                        raise CliError(f"{path} shrank while it was being sent")
                    digest.update(chunk)
                    done += len(chunk)
                    pending.append(chunk)
                    pending_bytes += len(chunk)
                    if pending_bytes >= chunk_bytes:
                        sent += pending_bytes
                        yield pending[0] if len(pending) == 1 else b"".join(pending)
                        pending.clear()
                        pending_bytes = 0
                        self._throttle.update(sent)
                        if rate_limit:
                            ahead = (sent - self._offset) / rate_limit - (time.monotonic() - began)
                            if ahead > 0:
                                await asyncio.sleep(ahead)
            finally:
                os.close(fd)
            start += size
        if pending:
            yield b"".join(pending)


def _progress_from(throttle: Throttle, start: int) -> Callable[[int], None]:
    """Bytes hashed within one file, reported as bytes of the whole batch."""
    return lambda done: throttle.update(start + done)
