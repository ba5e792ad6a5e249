"""What an identity signs, and the numbers people compare (pure: no I/O).

Every signed message starts with a context string and a format version, and every variable
field is length-prefixed, so no two different messages encode alike and a signature made for
one purpose never verifies for another::

    certificate = sign(identity, field("videonet/device-certificate") || version ||
                       user_id (8 bytes) || field(device_id) || field(x25519) || field(ed25519)
                       || field(label))
    revocation  = sign(identity, field("videonet/device-revocation") || version ||
                       user_id (8 bytes) || field(device_id) || field(x25519) || field(ed25519))

A blob on the wire is the version byte and the 64-byte signature. The recovery key is the
identity's 32-byte seed and a 3-byte checksum in base32; the safety number of two users is
Signal's: 30 digits from each identity (iterated SHA-512), the two in a fixed order.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from videonet_cli.errors import UsageError
from videonet_cli.i18n import _
from videonet_protocol.keycheck import ed25519_problem

FORMAT_VERSION: Final = 1
SIGNATURE_BYTES: Final = 64
_CERTIFICATE: Final = b"videonet/device-certificate"
_REVOCATION: Final = b"videonet/device-revocation"
_SAFETY: Final = b"videonet/safety-number"
SAFETY_ITERATIONS: Final = 5200  # as Signal's NumericFingerprintGenerator
SAFETY_DIGITS: Final = 60
RECOVERY_CHECKSUM_BYTES: Final = 3  # 32 + 3 bytes = 56 base32 characters, no padding


def field(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


def _user(user_id: int) -> bytes:
    return user_id.to_bytes(8, "big")


def certificate_message(
    user_id: int, device_id: str, x25519: bytes, ed25519: bytes, label: str
) -> bytes:
    return (
        field(_CERTIFICATE)
        + bytes([FORMAT_VERSION])
        + _user(user_id)
        + field(device_id.encode("utf-8"))
        + field(x25519)
        + field(ed25519)
        + field(label.encode("utf-8"))
    )


def revocation_message(user_id: int, device_id: str, x25519: bytes, ed25519: bytes) -> bytes:
    return (
        field(_REVOCATION)
        + bytes([FORMAT_VERSION])
        + _user(user_id)
        + field(device_id.encode("utf-8"))
        + field(x25519)
        + field(ed25519)
    )


def sign_blob(identity: Ed25519PrivateKey, message: bytes) -> bytes:
    return bytes([FORMAT_VERSION]) + identity.sign(message)


def verify_blob(identity_public: bytes, message: bytes, blob: bytes | None) -> bool:
    """Does ``blob`` (version byte + signature) sign ``message`` under this identity?"""
    if blob is None or len(blob) != 1 + SIGNATURE_BYTES or blob[0] != FORMAT_VERSION:
        return False
    if ed25519_problem(identity_public) is not None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(identity_public).verify(blob[1:], message)
    except (InvalidSignature, ValueError):
        return False
    return True


def encode_recovery_key(identity: Ed25519PrivateKey) -> str:
    """The identity's seed as a person writes it down: 14 groups of four characters."""
    seed = identity.private_bytes_raw()
    raw = seed + hashlib.sha256(b"videonet/recovery" + seed).digest()[:RECOVERY_CHECKSUM_BYTES]
    text = base64.b32encode(raw).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def decode_recovery_key(text: str) -> Ed25519PrivateKey:
    """The identity from a recovery key as typed (any case; spaces and dashes ignored)."""
    letters = "".join(ch for ch in text.upper() if ch.isalnum())
    try:
        raw = base64.b32decode(letters)
    except ValueError:
        raw = b""
    seed, check = raw[:32], raw[32:]
    expected = hashlib.sha256(b"videonet/recovery" + seed).digest()[:RECOVERY_CHECKSUM_BYTES]
    if len(raw) != 32 + RECOVERY_CHECKSUM_BYTES or check != expected:
        raise UsageError(_("that is not a recovery key (14 groups of four letters and digits)"))
    return Ed25519PrivateKey.from_private_bytes(seed)


def _half(user_id: int, identity_public: bytes) -> str:
    digest = _SAFETY + bytes([FORMAT_VERSION]) + identity_public + _user(user_id)
    for _round in range(SAFETY_ITERATIONS):
        digest = hashlib.sha512(digest + identity_public).digest()
    chunks = [int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 30, 5)]
    return "".join(f"{c:05d}" for c in chunks)


def safety_number(a: tuple[int, bytes], b: tuple[int, bytes]) -> str:
    """60 digits for two (user id, identity key) pairs; the same whichever side computes it."""
    return "".join(sorted((_half(*a), _half(*b))))


def group_digits(number: str, per_line: int = 4) -> list[str]:
    """A safety number in groups of five, ``per_line`` groups to a line."""
    groups = [number[i : i + 5] for i in range(0, len(number), 5)]
    return [" ".join(groups[i : i + per_line]) for i in range(0, len(groups), per_line)]


def normalize_number(text: str) -> str:
    """A safety number as typed: digits only (spaces, dashes and line breaks dropped)."""
    return "".join(ch for ch in text if not ch.isspace() and ch != "-")
