"""The data path of an encrypted transfer: plaintext pieces in, records out, and back.

Offsets: the daemon counts ciphertext bytes (its spool holds records), the files count
plaintext bytes. A transfer resumes at a record boundary: the sender re-reads the plaintext from
the record the daemon's copy ends in and drops the ciphertext bytes the daemon already has (the
same key, index and plaintext seal to the same bytes); a receiver fetches from the record its
verified plaintext ends in and drops the plaintext it already has.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from videonet_cli.api.client import TransfersApi
from videonet_cli.crypto.stream import RecordCipher, StreamDecryptor, StreamEncryptor, StreamLayout
from videonet_cli.identity.device import DeviceKey
from videonet_daemon import protocol

_SOURCE_LABEL = b"videonet/source-id/v1"


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


def source_id(device: DeviceKey, paths: list[Path]) -> str:
    """A fingerprint of the plaintext about to be sent, keyed so the daemon learns nothing from
    it: each file's path, size, inode and change times. Any write to a file changes its ctime,
    so an unfinished transfer is resumed (its records sealed again under the same key and
    indices) only when the bytes cannot have changed; otherwise it is a new transfer."""
    secret = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SOURCE_LABEL).derive(
        device.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    )
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for path in paths:
        st = os.stat(path)
        fields = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        mac.update(repr((*fields, st.st_ctime_ns)).encode("utf-8", "surrogateescape") + b"\n")
    return mac.hexdigest()


async def seal_stream(
    plaintext: AsyncIterable[bytes],
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


@asynccontextmanager
async def open_stream(
    transfers: TransfersApi,
    transfer_id: str,
    cipher: RecordCipher,
    plain_size: int,
    plain_offset: int,
) -> AsyncIterator[AsyncIterator[bytes]]:
    """Verified plaintext from ``plain_offset`` on, record by record, as the ciphertext arrives.

    Nothing unverified comes out: a changed, moved or dropped record raises `TamperedError`;
    the stream ending cleanly before the final record raises `TruncatedError`; a broken
    connection raises what aiohttp raises (the caller keeps what it has, for a resume)."""
    layout = StreamLayout(plain_size)
    resume = Resume.for_download(layout, plain_offset)
    decryptor = StreamDecryptor(cipher, plain_size, resume.record)

    async with transfers.download(transfer_id, resume.cipher_offset) as chunks:

        async def plaintext() -> AsyncIterator[bytes]:
            skip = plain_offset - resume.plain_offset
            async for chunk in chunks:
                for record in decryptor.feed(chunk):
                    if skip:
                        cut = min(skip, len(record))
                        skip -= cut
                        record = record[cut:]
                    if record:
                        yield record
            decryptor.finish()

        yield plaintext()
