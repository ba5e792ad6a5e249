"""TEMPORARY: the identity interface of IFACE21.md over today's device keys, so the transfer
pipeline and its tests run before `videonet_cli/identity/trust.py` lands. The lead replaces
every `from videonet_cli.transfer import _trust_shim as trust` with
`from videonet_cli.identity import trust` and deletes this file.

What it does instead of identities: a device signs with its X25519 device key by XEdDSA (the
construction of Signal's spec), whose signatures verify as Ed25519 under the Edwards form of
the X25519 public key; so a receiver checks the sender device against today's X25519 pins
(a changed key is `KeyChangedError`). Nobody is ever "verified" here. Names as in the interface.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from videonet_cli.api import Api
from videonet_cli.errors import CliError, KeyChangedError, NotFoundError
from videonet_cli.identity import core as identity
from videonet_protocol import protocol
from videonet_protocol.names import name_key


@dataclass(frozen=True)
class ThisDevice:
    server: str
    user_id: int
    username: str
    device_id: str
    label: str
    x25519: X25519PrivateKey
    ed25519: Ed25519PrivateKey


@dataclass(frozen=True)
class TrustedDevice:
    user_id: int
    username: str
    device_id: str
    label: str
    x25519_public: bytes
    ed25519_public: bytes
    trust: str
    fingerprint: str


@dataclass(frozen=True)
class SkippedDevice:
    username: str
    device_id: str
    label: str
    reason: str


@dataclass(frozen=True)
class Recipients:
    devices: list[TrustedDevice]
    skipped: list[SkippedDevice]
    notices: list[str]


@dataclass(frozen=True)
class FirstSeen:
    username: str
    user_id: int
    identity_fingerprint: str


class Confirm(Protocol):
    async def __call__(self, first_seen: list[FirstSeen]) -> bool: ...


# --- XEdDSA (Signal's spec): Ed25519-verifiable signatures made with the X25519 device key,
# so a receiver checks them against the X25519 key it already pinned. Shim only.
_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_B = (_BX, _BY, 1, _BX * _BY % _P)
Point = tuple[int, int, int, int]


def _add(a: Point, b: Point) -> Point:
    e1 = (a[1] - a[0]) * (b[1] - b[0]) % _P
    e2 = (a[1] + a[0]) * (b[1] + b[0]) % _P
    c = 2 * a[3] * b[3] * _D % _P
    d = 2 * a[2] * b[2] % _P
    e, f, g, h = e2 - e1, d - c, d + c, e2 + e1
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, point: Point) -> Point:
    out: Point = (0, 1, 1, 0)
    while s:
        if s & 1:
            out = _add(out, point)
        point = _add(point, point)
        s >>= 1
    return out


def _encode(point: Point) -> bytes:
    inv = pow(point[2], _P - 2, _P)
    x, y = point[0] * inv % _P, point[1] * inv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _xeddsa_sign(x25519: X25519PrivateKey, message: bytes) -> bytes:
    raw = bytearray(x25519.private_bytes_raw())
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    k = int.from_bytes(raw, "little")
    public = bytearray(_encode(_mul(k, _B)))
    a = (_Q - k) % _Q if public[31] & 0x80 else k % _Q
    public[31] &= 0x7F
    prefix = b"\xfe" + b"\xff" * 31
    r = (
        int.from_bytes(
            hashlib.sha512(prefix + a.to_bytes(32, "little") + message + os.urandom(64)).digest(),
            "little",
        )
        % _Q
    )
    big_r = _encode(_mul(r, _B))
    h = int.from_bytes(hashlib.sha512(big_r + bytes(public) + message).digest(), "little") % _Q
    return big_r + ((r + h * a) % _Q).to_bytes(32, "little")


def _edwards_public(x25519_public: bytes) -> bytes:
    u = int.from_bytes(x25519_public, "little") & ((1 << 255) - 1)
    y = (u - 1) * pow(u + 1, _P - 2, _P) % _P
    return y.to_bytes(32, "little")


async def this_device(api: Api) -> ThisDevice:
    key, _ = await identity.publish_this_device(api)
    me = await api.me()
    return ThisDevice(
        api.server,
        int(me["id"]),
        str(me["username"]),
        key.device_id,
        key.label,
        key.private_key,
        Ed25519PrivateKey.generate(),
    )


async def _devices(api: Api, username: str) -> tuple[identity.PeerKeys, list[TrustedDevice]]:
    peer = await identity.peer_keys(api, username, identity.known_keys())
    if name_key(peer.username) != name_key(username):
        raise CliError(f"the daemon answered for {peer.username} when asked for {username}")
    refused = [c for c in peer.checked if c.refused]
    if refused:
        raise KeyChangedError(
            f"not encrypting to device keys you have not trusted: {peer.username} "
            f"({refused[0].device.fingerprint}, {refused[0].status}); compare fingerprints "
            "(`videonet keys USER`), then `videonet keys trust USER FINGERPRINT`"
        )
    found = []
    for c in peer.checked:
        found.append(
            TrustedDevice(
                peer.user_id,
                peer.username,
                c.device.device_id,
                c.device.label,
                c.device.public_key,
                _edwards_public(c.device.public_key),
                "first use",
                c.device.fingerprint,
            )
        )
    return peer, found


async def choose_recipients(
    api: Api,
    me: ThisDevice,
    *,
    room_id: str,
    usernames: list[str] | None,
    only_me: bool = False,
    trust_new: bool | Collection[str] = False,
    confirm: Confirm | None = None,
) -> Recipients:
    own = TrustedDevice(
        me.user_id,
        me.username,
        me.device_id,
        me.label,
        me.x25519.public_key().public_bytes_raw(),
        me.ed25519.public_key().public_bytes_raw(),
        "own",
        protocol.key_fingerprint(me.x25519.public_key().public_bytes_raw()),
    )
    if only_me:
        return Recipients([own], [], [])
    members = [m["username"] for m in await api.rooms.members(room_id)]
    if usernames:
        wanted = {name_key(u) for u in usernames}
        names = [m for m in members if name_key(m) in wanted]
        if len(names) != len(wanted):
            raise NotFoundError(f"{usernames[0]} is not a member of this room")
    else:
        names = [m for m in members if name_key(m) != name_key(me.username)]
    devices = [own]
    for _, found in await asyncio.gather(*(_devices(api, n) for n in names)):
        devices += found
    return Recipients(devices, [], [])


def _own(me: ThisDevice) -> TrustedDevice:
    public = me.x25519.public_key().public_bytes_raw()
    return TrustedDevice(
        me.user_id,
        me.username,
        me.device_id,
        me.label,
        public,
        _edwards_public(public),
        "own",
        protocol.key_fingerprint(public),
    )


async def trusted_sender(
    api: Api, me: ThisDevice, *, user_id: int, username: str, device_id: str
) -> TrustedDevice:
    if user_id == me.user_id and device_id == me.device_id:
        return _own(me)
    peer, found = await _devices(api, username)
    if peer.user_id != user_id:
        raise CliError(f"{username} is not the user the header names (id {user_id})")
    for device in found:
        if device.device_id == device_id:
            return device
    raise CliError(f"{username} has no device {device_id} (not a device of the sender)")


def sign(me: ThisDevice, label: bytes, message: bytes) -> bytes:
    return _xeddsa_sign(me.x25519, label + message)


def verify_signature(device: TrustedDevice, label: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(device.ed25519_public).verify(signature, label + message)
    except (InvalidSignature, ValueError):
        return False
    return True
