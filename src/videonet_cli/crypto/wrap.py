"""Wrap a transfer's file key for one recipient device with RFC 9180 HPKE (pure, no I/O).

A wrapped key is HPKE's single-shot output: the 32-byte encapsulated X25519 key, then the file
key sealed with AES-256-GCM (32 + 16 bytes): 80 bytes in all. The ``info`` string binds the
transfer id and the recipient's device id, so a wrapped key moved to another transfer or handed
to another device does not open.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from videonet_cli.errors import CliError, UnwrapError
from videonet_cli.i18n import N_
from videonet_cli.transfer.said import said

FILE_KEY_BYTES = 32
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
WRAPPED_KEY_BYTES = hpke.KEM.X25519.enc_length() + FILE_KEY_BYTES + 16
_INFO_LABEL = b"videonet/file-key/v1"


def new_file_key() -> bytes:
    """A fresh random key for one transfer (never reused for another)."""
    return secrets.token_bytes(FILE_KEY_BYTES)


def _field(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw  # length-prefixed: no two (id, id) pairs collide


def wrap_info(transfer_id: str, device_id: str) -> bytes:
    """The HPKE ``info``: a version label, the transfer id, the recipient device id."""
    return _INFO_LABEL + _field(transfer_id) + _field(device_id)


def wrap_file_key(
    file_key: bytes, recipient_public_key: bytes, transfer_id: str, device_id: str
) -> bytes:
    """The file key sealed to one device's raw X25519 public key, for this transfer only."""
    if len(file_key) != FILE_KEY_BYTES:
        raise ValueError(f"a file key is {FILE_KEY_BYTES} bytes")
    try:
        public = X25519PublicKey.from_public_bytes(recipient_public_key)
        return SUITE.encrypt(file_key, public, info=wrap_info(transfer_id, device_id))
    except ValueError as exc:  # a low-order point, or not 32 bytes: a malformed device key
        raise CliError(
            said(
                N_("device {device} has an unusable public key ({error})"),
                device=device_id,
                error=str(exc),
            )
        ) from exc


def unwrap_file_key(
    wrapped: bytes, private_key: X25519PrivateKey, transfer_id: str, device_id: str
) -> bytes:
    """The file key, or `UnwrapError` if the wrapped key is not for this device and transfer
    or was changed on the way."""
    if len(wrapped) != WRAPPED_KEY_BYTES:
        raise UnwrapError()
    try:
        file_key = SUITE.decrypt(wrapped, private_key, info=wrap_info(transfer_id, device_id))
    except (InvalidTag, ValueError) as exc:
        raise UnwrapError() from exc
    if len(file_key) != FILE_KEY_BYTES:
        raise UnwrapError()
    return file_key
