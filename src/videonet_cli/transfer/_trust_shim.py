"""TEMPORARY: the identity interface of IFACE21.md over today's device keys, so the transfer
pipeline and its tests run before `videonet_cli/identity/trust.py` lands. The lead replaces
every `from videonet_cli.transfer import _trust_shim as trust` with
`from videonet_cli.identity import trust` and deletes this file.

What it does instead of identities: this device's Ed25519 key is derived from its X25519 key;
its public half rides in the published device label (``… ed25519:<base64url>``); a receiver
pins the sender device's Ed25519 key on first use next to today's X25519 pins (a changed one is
`KeyChangedError`). Nobody is ever "verified" here. Names as in the interface.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from videonet_cli.api import Api
from videonet_cli.errors import CliError, KeyChangedError, NotFoundError
from videonet_cli.identity import core as identity
from videonet_cli.identity import device as device_keys
from videonet_protocol import protocol
from videonet_protocol.names import name_key

_LABEL_TAG = " ed25519:"
_SHIM_PINS = "shim-ed25519-pins.json"


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


def _ed25519_of(x25519: X25519PrivateKey) -> Ed25519PrivateKey:
    seed = HKDF(hashes.SHA256(), 32, None, b"videonet/shim-ed25519/v1").derive(
        x25519.private_bytes_raw()
    )
    return Ed25519PrivateKey.from_private_bytes(seed)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


async def this_device(api: Api) -> ThisDevice:
    key, _ = device_keys.load_or_create()
    ed = _ed25519_of(key.private_key)
    tag = _LABEL_TAG + _b64(ed.public_key().public_bytes_raw())
    label = key.label[: protocol.DEVICE_LABEL_MAX_CHARS - len(tag)] + tag
    _, me = await asyncio.gather(api.keys.publish(key.device_id, key.public_bytes, label), api.me())
    return ThisDevice(
        api.server,
        int(me["id"]),
        str(me["username"]),
        key.device_id,
        key.label,
        key.private_key,
        ed,
    )


def _ed25519_from_label(label: str) -> bytes | None:
    _, found, tail = label.rpartition(_LABEL_TAG)
    if not found:
        return None
    try:
        raw = base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def _plain_label(label: str) -> str:
    return label.rpartition(_LABEL_TAG)[0] if _LABEL_TAG in label else label


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
        ed = _ed25519_from_label(c.device.label) or b"\0" * 32
        found.append(
            TrustedDevice(
                peer.user_id,
                peer.username,
                c.device.device_id,
                _plain_label(c.device.label),
                c.device.public_key,
                ed,
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


def _shim_pins() -> dict[str, str]:
    path = device_keys.identity_dir() / _SHIM_PINS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_shim_pins(pins: dict[str, str]) -> None:
    folder = device_keys.private_dir(device_keys.identity_dir())
    tmp = folder / f".{_SHIM_PINS}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(pins, fh)
    os.replace(tmp, folder / _SHIM_PINS)


async def trusted_sender(
    api: Api, me: ThisDevice, *, user_id: int, username: str, device_id: str
) -> TrustedDevice:
    if user_id == me.user_id and device_id == me.device_id:
        return TrustedDevice(
            me.user_id,
            me.username,
            me.device_id,
            me.label,
            me.x25519.public_key().public_bytes_raw(),
            me.ed25519.public_key().public_bytes_raw(),
            "own",
            "",
        )
    peer, found = await _devices(api, username)
    if peer.user_id != user_id:
        raise CliError(f"{username} is not the user the header names (id {user_id})")
    for device in found:
        if device.device_id != device_id:
            continue
        pins = _shim_pins()
        key = f"{api.server} {user_id} {device_id}"
        pinned = pins.get(key)
        now = device.ed25519_public.hex()
        if pinned is None:
            pins[key] = now
            _save_shim_pins(pins)
        elif pinned != now:
            raise KeyChangedError(
                f"{username}'s device {device.label or device_id} has a new signing key"
            )
        return device
    raise CliError(f"{username} has no device {device_id} (not a device of the sender)")


def sign(me: ThisDevice, label: bytes, message: bytes) -> bytes:
    return me.ed25519.sign(label + message)


def verify_signature(device: TrustedDevice, label: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(device.ed25519_public).verify(signature, label + message)
    except (InvalidSignature, ValueError):
        return False
    return True
