"""What identity code hands around: this device, a trusted or skipped device, a recipient list,
an identity seen for the first time, and how devices and identities are named for people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from videonet_cli.identity.pins import OWN, VERIFIED
from videonet_protocol import protocol


@dataclass(frozen=True)
class ThisDevice:
    server: str  # the normalized server origin pins are kept under
    user_id: int
    username: str
    device_id: str
    label: str
    x25519: X25519PrivateKey  # receives wrapped file keys (HPKE)
    ed25519: Ed25519PrivateKey  # signs what this device sends (transfer headers, seals, verdicts)

    @property
    def x25519_public(self) -> bytes:
        return self.x25519.public_key().public_bytes_raw()

    @property
    def ed25519_public(self) -> bytes:
        return self.ed25519.public_key().public_bytes_raw()

    @property
    def fingerprint(self) -> str:
        return protocol.device_fingerprint(self.x25519_public, self.ed25519_public)


@dataclass(frozen=True)
class TrustedDevice:
    user_id: int
    username: str
    device_id: str
    label: str
    x25519_public: bytes  # 32 bytes
    ed25519_public: bytes  # 32 bytes
    trust: str  # "own" | "first use" | "verified"  (of the user's identity)
    fingerprint: str  # protocol-level fingerprint of the device keys (goes in headers)


@dataclass(frozen=True)
class SkippedDevice:
    username: str
    device_id: str
    label: str
    reason: str  # one line: "not certified by bob's identity", "unusable key", "revoked"


@dataclass(frozen=True)
class Recipients:
    devices: list[TrustedDevice]  # who gets the file key (always includes ThisDevice as "own")
    skipped: list[SkippedDevice]
    notices: list[str]  # one line each


@dataclass(frozen=True)
class FirstSeen:
    username: str
    user_id: int
    identity_fingerprint: str  # short, readable


class Confirm(Protocol):  # asks the person on a terminal; None when there is no terminal
    async def __call__(self, first_seen: list[FirstSeen]) -> bool: ...


def short_id(device_id: str) -> str:
    """The first characters of a device id: enough to tell two devices with one label apart."""
    return device_id[:8]


def device_name(label: str, device_id: str) -> str:
    return f"{label or 'device'} ({short_id(device_id)})"


def signer(device: TrustedDevice) -> tuple[str, str]:
    """How a receiver names who signed: the device by the label its identity certified (or its
    short id), and the identity's trust from this installation's pins (never from the daemon):
    "pinned" on first use, "verified" after `keys trust`, "own" for this account's identity."""
    trust = {OWN: "own", VERIFIED: "verified"}.get(device.trust, "pinned")
    return device.label or short_id(device.device_id), trust


def identity_fingerprint(identity_public: bytes) -> str:
    return protocol.key_fingerprint(identity_public)


def as_trusted(me: ThisDevice) -> TrustedDevice:
    return TrustedDevice(
        me.user_id,
        me.username,
        me.device_id,
        me.label,
        me.x25519_public,
        me.ed25519_public,
        OWN,
        me.fingerprint,
    )
