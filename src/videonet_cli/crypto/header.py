"""The signed header of a transfer, its seal and the receivers' verdicts (pure, no I/O).

Every transfer starts with a header the sender's device signs, as age's header does and more:
the version, the transfer and room ids, who sends it (user id, name, device id), the recipient
devices (user id, device id, key fingerprint), the manifest (each file's path, size and mode),
the record size, the stream id and a keyed fingerprint of the source. It is encoded in one
canonical, versioned, size-limited binary form (`encode_header`); `parse_header` accepts exactly
that form and nothing else. The blob is::

    body || MAC (32 bytes) || signature (64 bytes)

- MAC: HMAC-SHA256 of the body under HKDF(file key, "header"): only a holder of the file key made
  it, and it commits the file key to this header (AES-GCM alone is not key-committing).
- signature: Ed25519 by the sender device (`videonet_cli.identity.trust.sign`) over a label and
  the body: the receiver checks it against the sender's pinned identity.
- the header hash, SHA-256 of the body, goes into the record key (`record_binding`): records
  sealed for one header do not open under another.

The per-file SHA-256s come at the end, in the **seal** (``SEAL_MAGIC``, the header hash, one
digest per file; MAC'd under the file key and the header hash, and signed), because the sender
hashes while it uploads (one read of each file; see docs/transfer.md). A receiver's verdict
travels as an HMAC under a key derived from the file key and the header hash (`verdict_mac`).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from videonet_cli.i18n import N_
from videonet_cli.transfer.said import said
from videonet_protocol import protocol

HEADER_MAGIC = b"VNTH"
SEAL_MAGIC = b"VNTS"
VERSION = protocol.TRANSFER_PROTOCOL_VERSION
MAC_BYTES = 32
SIGNATURE_BYTES = 64
HASH_BYTES = 32
SOURCE_BYTES = 32
MAX_BYTES = protocol.TRANSFER_HEADER_MAX_BYTES
SEAL_MAX_BYTES = protocol.TRANSFER_SEAL_MAX_BYTES
RECIPIENTS_MAX = protocol.E2E_MAX_KEYS_PER_TRANSFER
MODE_MASK = 0o7777

HEADER_SIGNATURE_LABEL = b"videonet/transfer-header/v2\x00"
SEAL_SIGNATURE_LABEL = b"videonet/transfer-seal/v2\x00"
_HEADER_MAC_INFO = b"videonet/header-mac/v2"
_SEAL_MAC_INFO = b"videonet/seal-mac/v2"
_VERDICT_MAC_INFO = b"videonet/verdict-mac/v2"
_KINDS = (protocol.BatchKind.FILES, protocol.BatchKind.DIRECTORY)


class HeaderError(ValueError):
    """A header, seal or verdict that is malformed or does not verify (one line, for people)."""


@dataclass(frozen=True)
class Recipient:
    user_id: int
    device_id: str
    fingerprint: str


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative, "/"-separated; a plain name for loose files
    size: int
    mode: int  # permission bits (st_mode & 0o7777)


@dataclass(frozen=True)
class Header:
    transfer_id: str
    room_id: str
    sender_user_id: int
    sender_username: str
    sender_device_id: str
    recipients: tuple[Recipient, ...]
    kind: str  # protocol.BatchKind
    name: str  # the batch's name: the directory's, or the first loose file's
    record_size: int
    stream_id: str
    source: bytes  # SOURCE_BYTES: the sender's keyed fingerprint of what it sends
    files: tuple[FileEntry, ...]
    version: int = VERSION

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class SignedHeader:
    """A parsed header blob: its fields, the exact body bytes, the MAC and the signature."""

    header: Header
    body: bytes
    mac: bytes
    signature: bytes
    hash: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hash", hashlib.sha256(self.body).digest())

    @property
    def blob(self) -> bytes:
        return self.body + self.mac + self.signature


# --- key derivation -----------------------------------------------------------------------------
def _derive(file_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(file_key)


def header_mac(file_key: bytes, body: bytes) -> bytes:
    return hmac.new(_derive(file_key, _HEADER_MAC_INFO), body, hashlib.sha256).digest()


def record_binding(header_hash: bytes) -> str:
    """What the record key and each record's associated data are bound to: the header hash
    (`RecordCipher`'s binding). Records belong to exactly one header, hence one manifest."""
    return "header:" + header_hash.hex()


# --- encoding -------------------------------------------------------------------------------
def _str(value: str, width: int) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) >= 1 << (8 * width):
        raise HeaderError(said(N_("a header field is too long")))
    return len(raw).to_bytes(width, "big") + raw


def encode_body(h: Header) -> bytes:
    """The canonical body of ``h`` (equal headers encode to equal bytes)."""
    if h.kind not in _KINDS:
        raise HeaderError(said(N_("unknown batch kind {kind}"), kind=repr(h.kind)))
    if len(h.source) != SOURCE_BYTES:
        raise HeaderError(said(N_("the source fingerprint is 32 bytes")))
    out = [HEADER_MAGIC, bytes([h.version])]
    out += [_str(h.transfer_id, 1), _str(h.room_id, 1)]
    out += [struct.pack(">Q", h.sender_user_id), _str(h.sender_username, 1)]
    out += [_str(h.sender_device_id, 1), struct.pack(">H", len(h.recipients))]
    for r in h.recipients:
        out += [struct.pack(">Q", r.user_id), _str(r.device_id, 1), _str(r.fingerprint, 1)]
    out += [bytes([_KINDS.index(protocol.BatchKind(h.kind))]), _str(h.name, 2)]
    out += [struct.pack(">I", h.record_size), _str(h.stream_id, 1), h.source]
    out += [struct.pack(">QI", h.total_size, len(h.files))]
    for f in h.files:
        out += [_str(f.path, 2), struct.pack(">QH", f.size, f.mode & MODE_MASK)]
    body = b"".join(out)
    if len(body) + MAC_BYTES + SIGNATURE_BYTES > MAX_BYTES:
        raise HeaderError(
            said(
                N_("the manifest is too large for one transfer (over {limit} bytes of header)"),
                limit=MAX_BYTES,
            )
        )
    return body


Signer = Callable[[bytes, bytes], bytes]  # (label, message) -> Ed25519 signature


def seal_header(h: Header, file_key: bytes, sign: Signer) -> SignedHeader:
    """``h`` encoded, MAC'd under the file key and signed by the sender device."""
    body = encode_body(h)
    signature = sign(HEADER_SIGNATURE_LABEL, body)
    if len(signature) != SIGNATURE_BYTES:
        raise HeaderError(said(N_("an Ed25519 signature is 64 bytes")))
    return SignedHeader(h, body, header_mac(file_key, body), signature)


# --- parsing --------------------------------------------------------------------------------
class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self._data):
            raise HeaderError(said(N_("the header is truncated")))
        out = bytes(self._data[self.pos : self.pos + n])
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def text(self, width: int) -> str:
        size = int.from_bytes(self.take(width), "big")
        try:
            return self.take(size).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HeaderError(said(N_("a header field is not UTF-8"))) from exc


PathCheck = Callable[[str, list[FileEntry]], None]


def parse_header(blob: bytes, check_paths: PathCheck | None = None) -> SignedHeader:
    """The header in ``blob``, checked for form and consistency (not yet for MAC or signature:
    `verify_header`). ``check_paths(kind, files)`` refuses paths a receiver must not write."""
    if not isinstance(blob, bytes | bytearray):
        raise HeaderError(said(N_("the header is not bytes")))
    if len(blob) > MAX_BYTES:
        raise HeaderError(said(N_("the header is larger than {limit} bytes"), limit=MAX_BYTES))
    if len(blob) < len(HEADER_MAGIC) + 1 + MAC_BYTES + SIGNATURE_BYTES:
        raise HeaderError(said(N_("the header is truncated")))
    r = _Reader(bytes(blob[: len(blob) - MAC_BYTES - SIGNATURE_BYTES]))
    if r.take(4) != HEADER_MAGIC:
        raise HeaderError(said(N_("not a transfer header")))
    (version,) = r.unpack(">B")
    if version != VERSION:
        raise HeaderError(
            said(
                N_(
                    "transfer header version {version}: this videonet speaks transfer "
                    "protocol {ours}"
                ),
                version=version,
                ours=VERSION,
            )
        )
    transfer_id, room_id = r.text(1), r.text(1)
    (sender_user_id,) = r.unpack(">Q")
    sender_username, sender_device_id = r.text(1), r.text(1)
    (count,) = r.unpack(">H")
    if count > RECIPIENTS_MAX:
        raise HeaderError(said(N_("too many recipients in the header")))
    recipients = []
    for _ in range(count):
        (user_id,) = r.unpack(">Q")
        recipients.append(Recipient(user_id, r.text(1), r.text(1)))
    (kind_index,) = r.unpack(">B")
    if kind_index >= len(_KINDS):
        raise HeaderError(said(N_("unknown batch kind in the header")))
    kind = str(_KINDS[kind_index])
    name = r.text(2)
    (record_size,) = r.unpack(">I")
    if record_size != protocol.E2E_RECORD_BYTES:
        raise HeaderError(
            said(
                N_("record size {size} is not {expected}"),
                size=record_size,
                expected=protocol.E2E_RECORD_BYTES,
            )
        )
    stream_id = r.text(1)
    source = r.take(SOURCE_BYTES)
    total, file_count = r.unpack(">QI")
    if not 1 <= file_count <= protocol.TRANSFER_BATCH_MAX_FILES:
        raise HeaderError(
            said(N_("a transfer holds 1 to {limit} files"), limit=protocol.TRANSFER_BATCH_MAX_FILES)
        )
    files = []
    for _ in range(file_count):
        path = r.text(2)
        size, mode = r.unpack(">QH")
        files.append(FileEntry(path, size, mode))
    if r.pos != len(r._data):
        raise HeaderError(said(N_("bytes after the header's last field")))
    if sum(f.size for f in files) != total:
        raise HeaderError(said(N_("the sizes in the header do not add up to its total")))
    if len({f.path for f in files}) != len(files):
        raise HeaderError(said(N_("a path appears twice in the header")))
    if not name or "/" in name or name in (".", ".."):
        raise HeaderError(said(N_("the transfer's name is not a plain name")))
    if check_paths is not None:
        check_paths(kind, files)
    header = Header(
        transfer_id,
        room_id,
        sender_user_id,
        sender_username,
        sender_device_id,
        tuple(recipients),
        kind,
        name,
        record_size,
        stream_id,
        source,
        tuple(files),
        version,
    )
    body = bytes(blob[: len(blob) - MAC_BYTES - SIGNATURE_BYTES])
    mac = bytes(blob[len(body) : len(body) + MAC_BYTES])
    return SignedHeader(header, body, mac, bytes(blob[len(body) + MAC_BYTES :]))


Verifier = Callable[[bytes, bytes, bytes], bool]  # (label, message, signature) -> ok


def verify_header(signed: SignedHeader, file_key: bytes, verify: Verifier) -> None:
    """`HeaderError` unless the sender device signed it and the MAC holds under the file key."""
    if not verify(HEADER_SIGNATURE_LABEL, signed.body, signed.signature):
        raise HeaderError(
            said(N_("the header's signature does not verify against the sender's device"))
        )
    if not hmac.compare_digest(signed.mac, header_mac(file_key, signed.body)):
        raise HeaderError(said(N_("the header's MAC does not verify under the file key")))


# --- the seal: per-file SHA-256s at the end -------------------------------------------------------
def _seal_mac(file_key: bytes, header_hash: bytes, body: bytes) -> bytes:
    key = _derive(file_key, _SEAL_MAC_INFO + header_hash)
    return hmac.new(key, body, hashlib.sha256).digest()


def make_seal(header_hash: bytes, digests: list[bytes], file_key: bytes, sign: Signer) -> bytes:
    """The seal blob: the header hash and each file's SHA-256, MAC'd and signed."""
    if any(len(d) != HASH_BYTES for d in digests):
        raise HeaderError(said(N_("a SHA-256 digest is 32 bytes")))
    body = SEAL_MAGIC + bytes([VERSION]) + header_hash + struct.pack(">I", len(digests))
    body += b"".join(digests)
    return body + _seal_mac(file_key, header_hash, body) + sign(SEAL_SIGNATURE_LABEL, body)


def open_seal(blob: bytes, signed: SignedHeader, file_key: bytes, verify: Verifier) -> list[bytes]:
    """Each file's SHA-256 from a seal of exactly this header, or `HeaderError`."""
    count = len(signed.header.files)
    fixed = len(SEAL_MAGIC) + 1 + HASH_BYTES + 4
    if not isinstance(blob, bytes) or len(blob) != fixed + count * HASH_BYTES + MAC_BYTES + 64:
        raise HeaderError(
            said(N_("the seal is malformed (not one SHA-256 per file of the header)"))
        )
    body = blob[: fixed + count * HASH_BYTES]
    mac = blob[len(body) : len(body) + MAC_BYTES]
    signature = blob[len(body) + MAC_BYTES :]
    if body[:4] != SEAL_MAGIC or body[4] != VERSION:
        raise HeaderError(said(N_("not a transfer seal of this version")))
    if body[5 : 5 + HASH_BYTES] != signed.hash:
        raise HeaderError(said(N_("the seal belongs to another transfer's header")))
    if struct.unpack(">I", body[5 + HASH_BYTES : fixed])[0] != count:
        raise HeaderError(said(N_("the seal does not hold one SHA-256 per file")))
    if not verify(SEAL_SIGNATURE_LABEL, body, signature):
        raise HeaderError(
            said(N_("the seal's signature does not verify against the sender's device"))
        )
    if not hmac.compare_digest(mac, _seal_mac(file_key, signed.hash, body)):
        raise HeaderError(said(N_("the seal's MAC does not verify under the file key")))
    return [body[fixed + i * HASH_BYTES : fixed + (i + 1) * HASH_BYTES] for i in range(count)]


# --- verdicts ---------------------------------------------------------------------------------
def verdict_mac(file_key: bytes, header_hash: bytes, user_id: int, sha256_hex: str) -> str:
    """A receiver's proof that it holds the file key and got ``sha256_hex`` (hex)."""
    key = _derive(file_key, _VERDICT_MAC_INFO + header_hash)
    message = struct.pack(">Q", user_id) + sha256_hex.encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verdict_ok(
    file_key: bytes, header_hash: bytes, user_id: int, sha256_hex: str, mac: object
) -> bool:
    if not isinstance(mac, str) or not isinstance(sha256_hex, str) or not sha256_hex.isascii():
        return False
    expected = verdict_mac(file_key, header_hash, user_id, sha256_hex)
    return hmac.compare_digest(expected, mac)
