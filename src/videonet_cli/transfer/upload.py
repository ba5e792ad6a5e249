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

import aiohttp

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


class Reader:
    """Reads the batch's files in order from a byte offset of their concatenation, hashing each."""

    def __init__(
        self, batch: BatchSource, offset: int, throttle: Throttle, checking: Throttle
    ) -> None:
        self._batch = batch
        self._throttle = throttle
        self._offset = offset
        self._hashes: list[hashlib._Hash] = []
        # Files wholly before the offset are hashed from disk now; the one it falls in is
        # hashed up to it and continued by the upload.
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


def _progress_from(throttle: Throttle, start: int) -> Callable[[int], None]:
    """Bytes hashed within one file, reported as bytes of the whole batch."""
    return lambda done: throttle.update(start + done)


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
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise upload_failed(transfers, exc) from exc
