"""Linking a device under a one-time code: SPAKE2 between the new device and one holding the
account's identity (pure, no I/O; `identity.linking` moves the messages).

The new device shows the code (as `send --code` does: a public number, two secret words) and is
SPAKE2 side B; the existing device, where the person types the code, is side A. The code is
the password, so a daemon (which relays every message) that does not know it gets one guess
and the exchange ends at the first wrong one::

    existing -> new       PAKE   A's SPAKE2 message
    new      -> existing  REPLY  B's SPAKE2 message, B's confirmation, B's device keys (sealed)
    existing -> new       DONE   A's confirmation, the identity key and B's certificate (sealed)

Each side checks the other's confirmation (an HMAC of both SPAKE2 messages) before it opens
what is sealed, so a daemon cannot put its own keys in either direction. Both derive the same
three words from the SPAKE2 key and show them: a person sees at a glance that the two devices
ran one exchange.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from hashlib import sha256
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from spake2 import SPAKE2_A, SPAKE2_B  # type: ignore[import-untyped]
from spake2.ed25519_basic import NotOnCurve  # type: ignore[import-untyped]
from spake2.spake2 import SPAKEError  # type: ignore[import-untyped]

from videonet_cli.crypto.codewords import WORDS
from videonet_cli.crypto.pake import PAKE_MESSAGE_BYTES, Code
from videonet_cli.errors import BadCodeError
from videonet_cli.identity.signing import field

_LABEL: Final = b"videonet/link/v1"
CONFIRM_BYTES: Final = 32
NONCE_BYTES: Final = 12
CONFIRM_WORDS: Final = 3
_BAD_ELEMENT = (SPAKEError, NotOnCurve, ValueError, TypeError)


@dataclass(frozen=True)
class DeviceRecord:
    """What the new device says about itself (sealed under the code)."""

    device_id: str
    x25519: bytes
    ed25519: bytes
    label: str

    def encode(self) -> bytes:
        return (
            field(self.device_id.encode("utf-8"))
            + field(self.x25519)
            + field(self.ed25519)
            + field(self.label.encode("utf-8"))
        )


@dataclass(frozen=True)
class Grant:
    """What the existing device gives back: the identity and the new device's certificate."""

    identity_public: bytes
    certificate: bytes

    def encode(self) -> bytes:
        return field(self.identity_public) + field(self.certificate)


def _fields(data: bytes, count: int) -> list[bytes]:
    out = []
    at = 0
    for _ in range(count):
        if at + 2 > len(data):
            raise BadCodeError()
        size = int.from_bytes(data[at : at + 2], "big")
        at += 2
        if at + size > len(data):
            raise BadCodeError()
        out.append(data[at : at + size])
        at += size
    if at != len(data):
        raise BadCodeError()
    return out


def decode_record(data: bytes) -> DeviceRecord:
    device_id, x25519, ed25519, label = _fields(data, 4)
    try:
        return DeviceRecord(device_id.decode("utf-8"), x25519, ed25519, label.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadCodeError() from exc


def decode_grant(data: bytes) -> Grant:
    identity, certificate = _fields(data, 2)
    return Grant(identity, certificate)


def _identities(user_id: int) -> tuple[bytes, bytes]:
    account = field(str(user_id).encode("ascii"))
    return _LABEL + b"/existing" + account, _LABEL + b"/new" + account


@dataclass(frozen=True)
class _Keys:
    confirm_existing: bytes
    confirm_new: bytes
    seal_new: bytes  # new -> existing
    seal_existing: bytes  # existing -> new
    words: str


def _derive(pake_key: bytes, user_id: int, exchange: str) -> _Keys:
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=128 + CONFIRM_WORDS,
        salt=None,
        info=_LABEL + b"/keys" + field(str(user_id).encode()) + field(exchange.encode()),
    ).derive(pake_key)
    words = " ".join(WORDS[b % len(WORDS)] for b in okm[128:])
    return _Keys(okm[:32], okm[32:64], okm[64:96], okm[96:128], words)


def _confirmation(key: bytes, side: bytes, msg_a: bytes, msg_b: bytes) -> bytes:
    return hmac.new(key, _LABEL + side + sha256(msg_a + msg_b).digest(), sha256).digest()


def _seal(key: bytes, what: bytes, ad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, what, ad)


def _open(key: bytes, sealed: bytes, ad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], ad)
    except (InvalidTag, ValueError) as exc:
        raise BadCodeError() from exc


class ExistingSide:
    """The device that holds the identity (SPAKE2 side A): `start`, `finish`, then `grant`."""

    def __init__(self, code: Code, user_id: int, exchange: str) -> None:
        id_a, id_b = _identities(user_id)
        self._spake = SPAKE2_A(code.password, idA=id_a, idB=id_b)
        self._user_id = user_id
        self._exchange = exchange
        self._msgs = (b"", b"")
        self._keys: _Keys | None = None

    def start(self) -> bytes:
        msg_a = bytes(self._spake.start())
        self._msgs = (msg_a, b"")
        return msg_a

    def finish(self, reply: bytes) -> tuple[DeviceRecord, str]:
        """The new device's keys from its REPLY, and the words to show."""
        if len(reply) < PAKE_MESSAGE_BYTES + CONFIRM_BYTES + NONCE_BYTES:
            raise BadCodeError()
        msg_b = reply[:PAKE_MESSAGE_BYTES]
        their_confirm = reply[PAKE_MESSAGE_BYTES : PAKE_MESSAGE_BYTES + CONFIRM_BYTES]
        sealed = reply[PAKE_MESSAGE_BYTES + CONFIRM_BYTES :]
        try:
            keys = _derive(self._spake.finish(msg_b), self._user_id, self._exchange)
        except _BAD_ELEMENT as exc:
            raise BadCodeError() from exc
        msg_a = self._msgs[0]
        expected = _confirmation(keys.confirm_new, b"/new", msg_a, msg_b)
        if not hmac.compare_digest(expected, their_confirm):
            raise BadCodeError()
        self._keys = keys
        self._msgs = (msg_a, msg_b)
        record = decode_record(_open(keys.seal_new, sealed, _LABEL + b"/device"))
        return record, keys.words

    def grant(self, grant: Grant) -> bytes:
        """The DONE message: our confirmation and the sealed identity key and certificate."""
        if self._keys is None:
            raise RuntimeError("finish() first")
        ours = _confirmation(self._keys.confirm_existing, b"/existing", *self._msgs)
        return ours + _seal(self._keys.seal_existing, grant.encode(), _LABEL + b"/grant")


class NewSide:
    """The new device (SPAKE2 side B): `reply`, then `open`."""

    def __init__(self, code: Code, user_id: int, exchange: str) -> None:
        id_a, id_b = _identities(user_id)
        self._spake = SPAKE2_B(code.password, idA=id_a, idB=id_b)
        self._user_id = user_id
        self._exchange = exchange
        self._msgs = (b"", b"")
        self._keys: _Keys | None = None

    def reply(self, msg_a: bytes, record: DeviceRecord) -> bytes:
        if len(msg_a) != PAKE_MESSAGE_BYTES:
            raise BadCodeError()
        msg_b = bytes(self._spake.start())
        try:
            pake_key = self._spake.finish(msg_a)
        except _BAD_ELEMENT as exc:
            raise BadCodeError() from exc
        self._keys = _derive(pake_key, self._user_id, self._exchange)
        self._msgs = (msg_a, msg_b)
        confirm = _confirmation(self._keys.confirm_new, b"/new", msg_a, msg_b)
        return msg_b + confirm + _seal(self._keys.seal_new, record.encode(), _LABEL + b"/device")

    def open(self, done: bytes) -> tuple[Grant, str]:
        if self._keys is None:
            raise RuntimeError("reply() first")
        if len(done) < CONFIRM_BYTES + NONCE_BYTES:
            raise BadCodeError()
        expected = _confirmation(self._keys.confirm_existing, b"/existing", *self._msgs)
        if not hmac.compare_digest(expected, done[:CONFIRM_BYTES]):
            raise BadCodeError()
        grant = decode_grant(
            _open(self._keys.seal_existing, done[CONFIRM_BYTES:], _LABEL + b"/grant")
        )
        return grant, self._keys.words
