"""The sender's data path: the files read once, in manifest order, hashed and sealed as they go.

The files' bytes are one plaintext stream (their concatenation), sealed as one record stream
under the header's record key (crypto/stream.py, transfer/e2e_stream.py) and PUT in one request.
Each file is hashed while it is read for the upload (one read); a resumed upload first hashes
the plaintext before the record the daemon's copy ends in, file by file (shown as `checking`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable

from videonet_cli.api.client import TransfersApi
from videonet_cli.crypto.stream import RecordCipher, StreamLayout
from videonet_cli.errors import CliError
from videonet_cli.i18n import N_
from videonet_cli.transfer.e2e_stream import Resume, seal_stream
from videonet_cli.transfer.files import CHUNK_BYTES, hash_prefix
from videonet_cli.transfer.outcomes import upload_failed
from videonet_cli.transfer.said import said
from videonet_cli.transfer.throttle import Throttle
from videonet_cli.transfer.tree import BatchSource
from videonet_cli.transfer.worker import reported_in_thread


class Reader:
    """Reads the batch's files in order from a byte offset of their concatenation, hashing each.

    The bytes before the offset are hashed first (`hash_before_offset`) from the disk."""

    def __init__(self, batch: BatchSource, offset: int, throttle: Throttle) -> None:
        self._batch = batch
        self._throttle = throttle
        self._offset = offset
        self._hashes: list[hashlib._Hash] = []

    async def hash_before_offset(self, checking: Throttle) -> None:
        """Hash the files wholly before the offset, and the one it falls in up to it (the
        upload continues that one). Off the event loop: a resume of a large file hashes for
        seconds per gigabyte, and the loop keeps answering the daemon's pings meanwhile."""
        if self._offset:
            self._hashes = await reported_in_thread(self._hash_prefix, checking.update)

    def _hash_prefix(self, report: Callable[[int], None]) -> list[hashlib._Hash]:
        hashes = []
        start = 0
        for path, entry in zip(self._batch.paths, self._batch.entries, strict=True):
            shown = _progress_from(report, start)
            if start + entry["size"] <= self._offset:
                hashes.append(hash_prefix(path, entry["size"], shown))
                start += entry["size"]
                continue
            if start < self._offset:
                hashes.append(hash_prefix(path, self._offset - start, shown))
            break
        return hashes

    def digests(self) -> list[bytes]:
        return [h.digest() for h in self._hashes]

    async def body(self, rate_limit: int | None) -> AsyncIterator[memoryview]:
        """The plaintext from the offset on. Each piece is a view of one reused buffer, valid
        until the next is asked for: the record encryptor seals it (or copies a partial record)
        at once, and a buffer read into again costs less than fresh memory for every MiB."""
        chunk_bytes = (
            min(CHUNK_BYTES, max(16 << 10, rate_limit // 8)) if rate_limit else CHUNK_BYTES
        )
        buffer = memoryview(bytearray(chunk_bytes))
        sent = self._offset
        began = time.monotonic()
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
                    chunk = buffer[: os.readv(fd, [buffer[: min(chunk_bytes, size - done)]])]
                    if not chunk:
                        raise CliError(
                            said(N_("{path} shrank while it was being sent"), path=str(path))
                        )
                    digest.update(chunk)
                    done += len(chunk)
                    sent += len(chunk)
                    self._throttle.update(sent)
                    yield chunk
                    if rate_limit:
                        ahead = (sent - self._offset) / rate_limit - (time.monotonic() - began)
                        if ahead > 0:
                            await asyncio.sleep(ahead)
            finally:
                os.close(fd)
            start += size


def _progress_from(report: Callable[[int], None], start: int) -> Callable[[int], None]:
    """Bytes hashed within one file, reported as bytes of the whole batch."""
    return lambda done: report(start + done)


async def upload(
    transfers: TransfersApi,
    transfer_id: str,
    reader: Reader,
    cipher: RecordCipher,
    layout: StreamLayout,
    daemon_has: int,
    rate_limit: int | None,
) -> None:
    """Seal the plaintext from the record the daemon's copy ends in and PUT the records the
    daemon does not have yet."""
    resume = Resume.for_upload(layout, daemon_has)
    records = seal_stream(
        reader.body(rate_limit), cipher, layout, resume, daemon_has - resume.cipher_offset
    )
    try:
        await transfers.upload(
            transfer_id, daemon_has, layout.ciphertext_size - daemon_has, records
        )
    except (OSError, TimeoutError) as exc:
        raise upload_failed(transfers, exc) from exc
