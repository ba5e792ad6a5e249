"""Chunked authenticated encryption of one file: the STREAM construction (pure, no I/O).

The plaintext is cut into records of `RECORD_SIZE` bytes; the last record holds the rest and
may be shorter, even empty (an empty file is one empty final record). Each record is sealed
with AES-256-GCM (16-byte tag) under a key derived from the file key with HKDF-SHA256 and the
header hash (crypto/header.py: key commitment). The 12-byte nonce is the record index as 11
big-endian bytes, then 0x01 for the final record and 0x00 for any other, as in age and Tink
(Hoang, Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption and its
Nonce-Reuse Misuse-Resistance", 2015). The
associated data is a label and the header hash.

What that buys the receiver, record by record:

- a changed byte fails that record's tag;
- a record moved to another place (swapped, reordered, dropped with the rest shifted) was sealed
  with another index in its nonce, so it fails;
- the stream cut at a record boundary ends in a record sealed as "not final": it fails when it
  is opened as the last one (or the declared size says more records must come: `TruncatedError`);
- records from another transfer, or under another key, fail (the header hash is in the key and
  the associated data).

Each record opens on its own (`RecordCipher.decrypt_record`), so resume and HTTP Range work at
record boundaries (`StreamLayout` has the offsets). A key must never seal two different
plaintexts at one index (GCM's nonce rule): a resumed upload re-seals the same bytes, and a
changed file needs a new transfer and a new file key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from videonet_cli.crypto.wrap import FILE_KEY_BYTES
from videonet_cli.errors import CliError, TamperedError, TruncatedError
from videonet_cli.i18n import N_
from videonet_cli.transfer.said import said

# What the record functions take: a whole bytes object or a view of part of one (no copy).
Bytes = bytes | bytearray | memoryview

RECORD_SIZE = 1 << 20  # plaintext bytes per record (the last one may hold fewer)
TAG_BYTES = 16
INDEX_BYTES = 11
MAX_RECORDS = 1 << (8 * INDEX_BYTES)
_KEY_LABEL = b"videonet/stream-key/v2"
_AAD_LABEL = b"videonet/stream-record/v2"


def record_nonce(index: int, final: bool) -> bytes:
    """The 12-byte nonce of record ``index``: the index (11 bytes, big-endian), the final flag."""
    if not 0 <= index < MAX_RECORDS:
        raise ValueError("record index out of range")
    return index.to_bytes(INDEX_BYTES, "big") + (b"\x01" if final else b"\x00")


def _bound(label: bytes, transfer_id: str) -> bytes:
    raw = transfer_id.encode("utf-8")
    return label + len(raw).to_bytes(2, "big") + raw


@dataclass(frozen=True)
class StreamLayout:
    """Where each record lies, from the plaintext size (the declared size of the transfer)."""

    plaintext_size: int
    record_size: int = RECORD_SIZE

    def __post_init__(self) -> None:
        if self.plaintext_size < 0 or self.record_size < 1:
            raise ValueError("sizes must be positive")
        if self.records > MAX_RECORDS:
            raise ValueError("too many records")

    @property
    def records(self) -> int:
        return max(1, -(-self.plaintext_size // self.record_size))

    @property
    def last(self) -> int:
        return self.records - 1

    @property
    def ciphertext_size(self) -> int:
        return self.plaintext_size + self.records * TAG_BYTES

    def plaintext_length(self, index: int) -> int:
        if not 0 <= index <= self.last:
            raise ValueError(f"no record {index}")
        if index < self.last:
            return self.record_size
        return self.plaintext_size - self.last * self.record_size

    def ciphertext_offset(self, index: int) -> int:
        """Where record ``index`` starts in the ciphertext (a Range request starts here)."""
        if not 0 <= index <= self.records:
            raise ValueError(f"no record {index}")
        return index * (self.record_size + TAG_BYTES)

    def resume_record(self, plaintext_verified: int) -> int:
        """The first record to fetch again when this much plaintext is already verified."""
        return min(max(0, plaintext_verified) // self.record_size, self.last)

    @classmethod
    def from_ciphertext_size(
        cls, ciphertext_size: int, record_size: int = RECORD_SIZE
    ) -> StreamLayout:
        """The layout whose ciphertext is this long, or `TruncatedError` if none is."""
        full = record_size + TAG_BYTES
        records = max(1, -(-ciphertext_size // full))
        plaintext = ciphertext_size - records * TAG_BYTES
        if plaintext < 0 or cls(plaintext, record_size).records != records:
            raise TruncatedError(said(N_("the encrypted data is not a whole number of records")))
        return cls(plaintext, record_size)


class RecordCipher:
    """Seals and opens single records of one transfer (any record, in any order)."""

    def __init__(self, file_key: bytes, binding: str, record_size: int = RECORD_SIZE) -> None:
        # binding: the transfer's header hash (`header.record_binding`), so the record key
        # commits to one header: its manifest, sender, recipients and source.
        if len(file_key) != FILE_KEY_BYTES:
            raise ValueError(f"a file key is {FILE_KEY_BYTES} bytes")
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=_bound(_KEY_LABEL, binding),
        ).derive(file_key)
        self._aead = AESGCM(key)
        self._aad = _bound(_AAD_LABEL, binding)
        self.record_size = record_size

    def encrypt_record(self, index: int, plaintext: Bytes, final: bool) -> bytes:
        """Record ``index``: every record but the final one holds exactly `record_size` bytes."""
        size = len(plaintext)
        if size > self.record_size or (not final and size != self.record_size):
            raise ValueError("only the final record may be shorter than the record size")
        return self._aead.encrypt(record_nonce(index, final), plaintext, self._aad)

    def decrypt_record(self, index: int, record: Bytes, final: bool) -> bytes:
        """The plaintext of record ``index``, or `TamperedError` if it does not verify there."""
        size = len(record)
        expected_ok = size == self.record_size + TAG_BYTES or (
            final and TAG_BYTES <= size <= self.record_size + TAG_BYTES
        )
        if not expected_ok:
            raise TamperedError(index)
        try:
            return self._aead.decrypt(record_nonce(index, final), record, self._aad)
        except InvalidTag as exc:
            raise TamperedError(index) from exc

    def decrypt_record_into(self, index: int, record: Bytes, final: bool, out: bytearray) -> int:
        """`decrypt_record` into ``out`` (at least the record's plaintext long): no allocation
        per record, which on this VM costs more than GCM itself. Returns the plaintext length."""
        size = len(record)
        expected_ok = size == self.record_size + TAG_BYTES or (
            final and TAG_BYTES <= size <= self.record_size + TAG_BYTES
        )
        if not expected_ok:
            raise TamperedError(index)
        try:
            return int(
                self._aead.decrypt_into(
                    record_nonce(index, final),
                    record,
                    self._aad,
                    memoryview(out)[: size - TAG_BYTES],
                )
            )
        except InvalidTag as exc:
            raise TamperedError(index) from exc


class _Framer:
    """Cuts a byte stream into the layout's records without copying whole ones: a record that
    arrives in one piece is passed on as a view of that piece; only one split across two
    pieces is gathered in a buffer (measured: every extra 1 MiB copy costs more than GCM)."""

    def __init__(self, layout: StreamLayout, start_record: int, overhead: int) -> None:
        if not 0 <= start_record <= layout.last:
            raise ValueError(f"no record {start_record}")
        self.layout = layout
        self._overhead = overhead
        self._index = start_record
        self._buffer = bytearray()

    @property
    def next_record(self) -> int:
        """The index of the next record to come (``layout.records`` once the final one came)."""
        return self._index

    @property
    def complete(self) -> bool:
        return self._index > self.layout.last

    def _whole_records(self, data: Bytes) -> Iterator[tuple[int, Bytes]]:
        view = memoryview(data)
        pos = 0
        if self._buffer and not self.complete:
            missing = self.layout.plaintext_length(self._index) + self._overhead
            missing -= len(self._buffer)
            self._buffer += view[:missing]
            pos = min(missing, len(view))
            if pos < missing:
                return
            record, self._buffer = self._buffer, bytearray()
            yield self._take(), record
        while not self.complete:
            size = self.layout.plaintext_length(self._index) + self._overhead
            if len(view) - pos < size:
                break
            yield self._take(), view[pos : pos + size]
            pos += size
        if pos < len(view):
            if self.complete:
                self._past_the_end()
            self._buffer += view[pos:]

    def _take(self) -> int:
        index = self._index
        self._index += 1
        return index

    def _past_the_end(self) -> None:
        raise NotImplementedError


class StreamEncryptor(_Framer):
    """Plaintext in, in pieces of any size; sealed records out as soon as each is whole."""

    def __init__(self, cipher: RecordCipher, plaintext_size: int, start_record: int = 0) -> None:
        super().__init__(StreamLayout(plaintext_size, cipher.record_size), start_record, 0)
        self._cipher = cipher

    def feed(self, data: Bytes) -> list[bytes]:
        """The records sealed by this piece (none while a record is still incomplete)."""
        last = self.layout.last
        return [
            self._cipher.encrypt_record(i, piece, i == last)
            for i, piece in self._whole_records(data)
        ]

    def finish(self) -> list[bytes]:
        """The last sealed records (an empty file's one record); the whole size must have come."""
        out = self.feed(b"")
        if not self.complete:
            raise CliError(said(N_("the file shrank while it was read; send it again")))
        return out

    def _past_the_end(self) -> None:
        raise CliError(said(N_("the file grew while it was read; send it again")))


class StreamDecryptor(_Framer):
    """Ciphertext in, in pieces of any size; only verified plaintext out, record by record.

    `feed` returns the plaintext of the records this piece completed, each verified, or raises
    (then nothing of that piece is returned). `finish` raises `TruncatedError` unless the final
    record came and verified; a byte after it is `TamperedError`. A caller writes what `feed`
    returns to a temporary file and gives it its real name only after `finish`.
    """

    def __init__(self, cipher: RecordCipher, plaintext_size: int, start_record: int = 0) -> None:
        super().__init__(StreamLayout(plaintext_size, cipher.record_size), start_record, TAG_BYTES)
        self._cipher = cipher

    def feed(self, data: Bytes) -> list[bytes]:
        last = self.layout.last
        return [
            self._cipher.decrypt_record(i, piece, i == last)
            for i, piece in self._whole_records(data)
        ]

    def finish(self) -> None:
        self.feed(b"")
        if not self.complete:
            raise TruncatedError()

    def _past_the_end(self) -> None:
        raise TamperedError(self.next_record)  # bytes after the final record
