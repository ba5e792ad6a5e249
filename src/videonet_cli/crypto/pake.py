"""A one-off code that carries a transfer's file key past the daemon: SPAKE2 (pure, no I/O).

The code reads like magic-wormhole's, ``7-guitar-meadow``: a public number that lets the receiver
find the sender's exchange, then words that are the secret (the whole code is the password, as in
wormhole). Two words from a list of 256 are 16 bits: enough because the exchange is online only.
A party that does not know the code (a malicious daemon included) gets one guess per exchange,
and a wrong guess ends it for good: the sender gives the code up after the first failed exchange.

The exchange, sender = SPAKE2 side A, receiver = side B (the ``spake2`` package, the PAKE
magic-wormhole uses; its identities bind the transfer id, so one transfer's exchange cannot be
replayed into another)::

    sender   -> receiver  PAKE   A's SPAKE2 message
    receiver -> sender    REPLY  B's SPAKE2 message + B's key confirmation
    sender   -> receiver  KEY    A's key confirmation + the file key, sealed

Both sides derive, with HKDF-SHA256 from the SPAKE2 key and bound to the transfer id and the
exchange id, two confirmation keys and a sealing key. Each confirmation is an HMAC-SHA256 of both
SPAKE2 messages: the sender checks the receiver's before it sends anything that depends on the
key, the receiver checks the sender's before it opens the sealed file key (AES-256-GCM). A wrong
code and a changed message look the same, and either raises `BadCodeError`.
"""

from __future__ import annotations

import hmac
import re
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
from videonet_cli.crypto.wrap import FILE_KEY_BYTES
from videonet_cli.errors import BadCodeError, UsageError
from videonet_cli.i18n import _
from videonet_protocol import protocol

CODE_WORDS: Final = 2  # words in a generated code (16 bits)
# A code typed by a person is refused below this: a number and two words of three letters.
MIN_WORDS: Final = 2
MIN_WORD_CHARS: Final = 3
NAMEPLATE_MAX: Final = 10**protocol.CODE_NAMEPLATE_MAX_DIGITS - 1
GENERATED_NAMEPLATE_MAX: Final = 999  # generated numbers stay short to read aloud
CODE_MAX_CHARS: Final = 100
PAKE_MESSAGE_BYTES: Final = 33  # a side byte and an Ed25519 group element
CONFIRM_BYTES: Final = 32
NONCE_BYTES: Final = 12
SEALED_KEY_BYTES: Final = NONCE_BYTES + FILE_KEY_BYTES + 16
REPLY_BYTES: Final = PAKE_MESSAGE_BYTES + CONFIRM_BYTES
KEY_BYTES: Final = CONFIRM_BYTES + SEALED_KEY_BYTES

_LABEL = b"videonet/code/v1"
# What spake2 raises for a message that is not a usable group element (or is our own back).
_BAD_ELEMENT = (SPAKEError, NotOnCurve, ValueError, TypeError)
_DIGITS = protocol.CODE_NAMEPLATE_MAX_DIGITS
_CODE_RE = re.compile(rf"^([0-9]{{1,{_DIGITS}}})((?:-[a-z0-9]+)+)$")


@dataclass(frozen=True)
class Code:
    """A parsed code: its public number (the nameplate) and the whole code, the password."""

    nameplate: str
    text: str

    @property
    def password(self) -> bytes:
        return self.text.encode("ascii")


def new_code(words: int = CODE_WORDS) -> Code:
    """A fresh random code: a number from 1 to 999 and ``words`` words."""
    number = 1 + secrets.randbelow(GENERATED_NAMEPLATE_MAX)
    chosen = [secrets.choice(WORDS) for _ in range(words)]
    return parse_code("-".join([str(number), *chosen]))


def parse_code(text: str) -> Code:
    """A code typed by a person: ``NUMBER-WORD-WORD…``; case and surrounding blanks ignored."""
    cleaned = text.strip().lower()
    match = _CODE_RE.match(cleaned) if len(cleaned) <= CODE_MAX_CHARS else None
    if match is None:
        raise UsageError(
            _(
                "--code {code} is not a code like 7-guitar-meadow (a number, then words joined "
                "by '-')"
            ).format(code=repr(text.strip()[:CODE_MAX_CHARS]))
        )
    nameplate = str(int(match.group(1)))
    if int(nameplate) == 0:
        raise UsageError(_("a code's number starts at 1"))
    words = match.group(2).split("-")[1:]
    if sum(len(w) >= MIN_WORD_CHARS for w in words) < MIN_WORDS:
        raise UsageError(
            _(
                "--code {code} is too weak: a code is a number and at least {words} words of "
                "{letters} letters or more, like 7-guitar-meadow (or let send make one)"
            ).format(code=repr(cleaned), words=MIN_WORDS, letters=MIN_WORD_CHARS)
        )
    return Code(nameplate, nameplate + match.group(2))


def _field(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw  # length-prefixed: no two id pairs collide


def _identities(transfer_id: str) -> tuple[bytes, bytes]:
    return _LABEL + b"/sender" + _field(transfer_id), _LABEL + b"/receiver" + _field(transfer_id)


@dataclass(frozen=True)
class _Keys:
    confirm_sender: bytes
    confirm_receiver: bytes
    seal: bytes


def _derive(pake_key: bytes, transfer_id: str, exchange: str) -> _Keys:
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=96,
        salt=None,
        info=_LABEL + b"/keys" + _field(transfer_id) + _field(exchange),
    ).derive(pake_key)
    return _Keys(okm[:32], okm[32:64], okm[64:])


def _confirmation(key: bytes, side: bytes, msg_a: bytes, msg_b: bytes) -> bytes:
    return hmac.new(key, _LABEL + side + sha256(msg_a + msg_b).digest(), sha256).digest()


def _seal_ad(transfer_id: str, exchange: str) -> bytes:
    return _LABEL + b"/file-key" + _field(transfer_id) + _field(exchange)


class SenderExchange:
    """The sender's side of one exchange (SPAKE2 side A). Use once: `start`, then `finish`."""

    def __init__(self, code: Code, transfer_id: str, exchange: str) -> None:
        id_a, id_b = _identities(transfer_id)
        self._spake = SPAKE2_A(code.password, idA=id_a, idB=id_b)
        self._transfer_id = transfer_id
        self._exchange = exchange
        self._msg_a = b""

    def start(self) -> bytes:
        """The PAKE message."""
        self._msg_a = bytes(self._spake.start())
        return self._msg_a

    def finish(self, reply: bytes, file_key: bytes) -> bytes:
        """Check the receiver's REPLY; return the KEY message (our confirmation, the sealed file
        key). `BadCodeError` when the reply does not verify: nothing about the key is sent."""
        if len(file_key) != FILE_KEY_BYTES:
            raise ValueError(f"a file key is {FILE_KEY_BYTES} bytes")
        if len(reply) != REPLY_BYTES:
            raise BadCodeError()
        msg_b, their_confirm = reply[:PAKE_MESSAGE_BYTES], reply[PAKE_MESSAGE_BYTES:]
        try:
            keys = _derive(self._spake.finish(msg_b), self._transfer_id, self._exchange)
        except _BAD_ELEMENT as exc:  # off the curve, a reflection, …
            raise BadCodeError() from exc
        expected = _confirmation(keys.confirm_receiver, b"/receiver", self._msg_a, msg_b)
        if not hmac.compare_digest(expected, their_confirm):
            raise BadCodeError()
        ours = _confirmation(keys.confirm_sender, b"/sender", self._msg_a, msg_b)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(keys.seal).encrypt(
            nonce, file_key, _seal_ad(self._transfer_id, self._exchange)
        )
        return ours + nonce + sealed


class ReceiverExchange:
    """The receiver's side of one exchange (SPAKE2 side B). Use once: `reply`, then `open`."""

    def __init__(self, code: Code, transfer_id: str, exchange: str) -> None:
        id_a, id_b = _identities(transfer_id)
        self._spake = SPAKE2_B(code.password, idA=id_a, idB=id_b)
        self._transfer_id = transfer_id
        self._exchange = exchange
        self._keys: _Keys | None = None
        self._msgs = (b"", b"")

    def reply(self, msg_a: bytes) -> bytes:
        """From the sender's PAKE message: the REPLY (our SPAKE2 message, our confirmation)."""
        if len(msg_a) != PAKE_MESSAGE_BYTES:
            raise BadCodeError()
        msg_b = bytes(self._spake.start())
        try:
            pake_key = self._spake.finish(msg_a)
        except _BAD_ELEMENT as exc:
            raise BadCodeError() from exc
        self._keys = _derive(pake_key, self._transfer_id, self._exchange)
        self._msgs = (msg_a, msg_b)
        return msg_b + _confirmation(self._keys.confirm_receiver, b"/receiver", msg_a, msg_b)

    def open(self, key_message: bytes) -> bytes:
        """The file key from the sender's KEY message, once its confirmation verifies."""
        if self._keys is None:
            raise RuntimeError("reply() first")
        if len(key_message) != KEY_BYTES:
            raise BadCodeError()
        their_confirm = key_message[:CONFIRM_BYTES]
        nonce = key_message[CONFIRM_BYTES : CONFIRM_BYTES + NONCE_BYTES]
        sealed = key_message[CONFIRM_BYTES + NONCE_BYTES :]
        expected = _confirmation(self._keys.confirm_sender, b"/sender", *self._msgs)
        if not hmac.compare_digest(expected, their_confirm):
            raise BadCodeError()
        try:
            file_key = AESGCM(self._keys.seal).decrypt(
                nonce, sealed, _seal_ad(self._transfer_id, self._exchange)
            )
        except InvalidTag as exc:
            raise BadCodeError() from exc
        if len(file_key) != FILE_KEY_BYTES:
            raise BadCodeError()
        return file_key
