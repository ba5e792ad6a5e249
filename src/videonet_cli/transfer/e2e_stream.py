"""The data path of an encrypted transfer: plaintext pieces in, records out, and back.

Offsets: the daemon counts ciphertext bytes (its spool holds records), the files count
plaintext bytes. A transfer resumes at a record boundary: the sender re-reads the plaintext from
the record the daemon's copy ends in and drops the ciphertext bytes the daemon already has (the
same key, index and plaintext seal to the same bytes); a receiver fetches from the record its
verified plaintext ends in and drops the plaintext it already has.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

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


class Readable(Protocol):
    """A body read from a worker thread (`api.blocking.BodyReader`)."""

    @property
    def cut_short(self) -> bool: ...

    def readinto(self, view: memoryview) -> int: ...


def open_records(
    body: Readable,
    cipher: RecordCipher,
    layout: StreamLayout,
    resume: Resume,
    skip: int,
    deliver: Callable[[memoryview], None],
    stopped: Callable[[], bool],
) -> None:
    """Blocking (a worker thread): read ``body``, the ciphertext from ``resume.record`` on,
    record by record into one buffer, open each into another and give its verified plaintext to
    ``deliver`` (a view, valid until it returns), without its first ``skip`` bytes.

    Nothing unverified comes out: a changed, moved or dropped record raises `TamperedError`,
    and so does a byte after the final record; the body ending cleanly before the final record
    raises `TruncatedError`. A body cut short (a lost connection) or ``stopped()`` returns:
    the caller keeps what was delivered, for a resume."""
    encrypted = bytearray(layout.record_size + protocol.E2E_TAG_BYTES)
    plain = bytearray(layout.record_size)
    index = resume.record
    while index <= layout.last:
        want = layout.plaintext_length(index) + protocol.E2E_TAG_BYTES
        record = memoryview(encrypted)[:want]
        if body.readinto(record) < want:
            if body.cut_short or stopped():
                return
            raise TruncatedError()
        size = cipher.decrypt_record_into(index, record, index == layout.last, plain)
        index += 1
        opened = memoryview(plain)[:size]
        if skip:
            cut = min(skip, size)
            skip -= cut
            opened = opened[cut:]
        if opened:
            deliver(opened)
        if stopped():
            return
    if body.readinto(memoryview(encrypted)[:1]):
        raise TamperedError(index)  # bytes after the final record
