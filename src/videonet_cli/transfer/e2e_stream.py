"""The data path of an encrypted transfer: plaintext pieces in, records out, and back.

Offsets: the daemon counts ciphertext bytes (its spool holds records), the files count
plaintext bytes. A transfer resumes at a record boundary: the sender re-reads the plaintext from
the record the daemon's copy ends in and drops the ciphertext bytes the daemon already has (the
same key, index and plaintext seal to the same bytes); a receiver fetches from the record its
verified plaintext ends in and drops the plaintext it already has.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from videonet_cli.api.client import TransfersApi
from videonet_cli.crypto.stream import RecordCipher, StreamEncryptor, StreamLayout
from videonet_cli.errors import TamperedError, TruncatedError
from videonet_protocol import protocol


@dataclass(frozen=True)
class Resume:
    """Where an upload or download of an encrypted transfer continues."""

    record: int  # the first record to seal or open
    plain_offset: int  # where that record starts in the plaintext
    cipher_offset: int  # where that record starts in the ciphertext

    @classmethod
    def for_upload(cls, layout: StreamLayout, daemon_has: int) -> Resume:
        full = layout.record_size + protocol.E2E_TAG_BYTES
        record = min(daemon_has // full, layout.last)
        return cls(record, record * layout.record_size, layout.ciphertext_offset(record))

    @classmethod
    def for_download(cls, layout: StreamLayout, verified: int) -> Resume:
        record = layout.resume_record(verified)
        return cls(record, record * layout.record_size, layout.ciphertext_offset(record))


async def seal_stream(
    plaintext: AsyncIterable[bytes] | AsyncIterable[memoryview],
    cipher: RecordCipher,
    layout: StreamLayout,
    resume: Resume,
    skip: int,
) -> AsyncIterator[bytes]:
    """The records of ``plaintext`` (which starts at ``resume.plain_offset``), without their
    first ``skip`` bytes (the part of the first record the daemon already has)."""
    encryptor = StreamEncryptor(cipher, layout.plaintext_size, resume.record)
    async for piece in plaintext:
        for record in encryptor.feed(piece):
            if skip:
                cut, skip = min(skip, len(record)), skip - min(skip, len(record))
                record = record[cut:]
            if record:
                yield record
    for record in encryptor.finish():
        yield record[skip:] if skip else record
        skip = 0


class RecordReader:
    """Ciphertext pieces in, verified plaintext records out, through two buffers reused for
    every record (a record that arrives whole in one piece is not copied at all). Each record
    yielded is a view of the output buffer, valid until the next one is asked for."""

    def __init__(self, cipher: RecordCipher, layout: StreamLayout, start_record: int) -> None:
        self._cipher = cipher
        self._layout = layout
        self._index = start_record
        self._in = bytearray(layout.record_size + protocol.E2E_TAG_BYTES)
        self._have = 0
        self._out = bytearray(layout.record_size)

    @property
    def complete(self) -> bool:
        return self._index > self._layout.last

    def feed(self, chunk: bytes) -> Iterator[memoryview]:
        view = memoryview(chunk)
        pos = 0
        while pos < len(view):
            if self.complete:
                raise TamperedError(self._index)  # bytes after the final record
            want = self._layout.plaintext_length(self._index) + protocol.E2E_TAG_BYTES
            if not self._have and len(view) - pos >= want:
                record = view[pos : pos + want]
                pos += want
            else:
                take = min(want - self._have, len(view) - pos)
                self._in[self._have : self._have + take] = view[pos : pos + take]
                self._have += take
                pos += take
                if self._have < want:
                    return
                record = memoryview(self._in)[:want]
                self._have = 0
            final = self._index == self._layout.last
            size = self._cipher.decrypt_record_into(self._index, record, final, self._out)
            self._index += 1
            yield memoryview(self._out)[:size]

    def finish(self) -> None:
        if not self.complete:
            raise TruncatedError()


@asynccontextmanager
async def open_stream(
    transfers: TransfersApi,
    transfer_id: str,
    cipher: RecordCipher,
    plain_size: int,
    plain_offset: int,
) -> AsyncIterator[AsyncIterator[memoryview]]:
    """Verified plaintext from ``plain_offset`` on, record by record, as the ciphertext arrives
    (each piece a view valid until the next: write or copy it before asking for more).

    Nothing unverified comes out: a changed, moved or dropped record raises `TamperedError`;
    the stream ending cleanly before the final record raises `TruncatedError`; a broken
    connection raises what aiohttp raises (the caller keeps what it has, for a resume)."""
    layout = StreamLayout(plain_size)
    resume = Resume.for_download(layout, plain_offset)
    reader = RecordReader(cipher, layout, resume.record)

    async with transfers.download(transfer_id, resume.cipher_offset) as chunks:

        async def plaintext() -> AsyncIterator[memoryview]:
            skip = plain_offset - resume.plain_offset
            async for chunk in chunks:
                for record in reader.feed(chunk):
                    if skip:
                        cut = min(skip, len(record))
                        skip -= cut
                        record = record[cut:]
                    if record:
                        yield record
            reader.finish()

        yield plaintext()
