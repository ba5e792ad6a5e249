"""The cores of `videonet keys`: this device's key published, a member's keys checked against
the pins, a changed key trusted, a device removed. They return data; the command renders it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from videonet_cli.api import Api
from videonet_cli.errors import CliError, NotFoundError, UsageError
from videonet_cli.identity import device as device_keys
from videonet_cli.identity.pins import (
    FINGERPRINT_CHARS,
    KNOWN_KEYS_FILE,
    CheckedDevice,
    KnownKeys,
    PeerDevice,
    compare,
    normalize_fingerprint,
)
from videonet_protocol import protocol


@dataclass(frozen=True)
class MyKeys:
    device_id: str  # this installation
    fingerprint: str
    created_now: bool  # the key pair was made by this command
    devices: list[protocol.DeviceKeyInfo]  # every device of the account, this one included


@dataclass(frozen=True)
class PeerKeys:
    username: str
    user_id: int
    checked: list[CheckedDevice]

    @property
    def refused(self) -> list[CheckedDevice]:
        return [c for c in self.checked if c.refused]


def known_keys(directory: Path | None = None) -> KnownKeys:
    return KnownKeys((directory or device_keys.identity_dir()) / KNOWN_KEYS_FILE)


async def publish_this_device(
    api: Api, directory: Path | None = None
) -> tuple[device_keys.DeviceKey, bool]:
    """Make this installation's key pair if it has none, and publish its public key (again:
    publishing is idempotent on the daemon). Returns the key and whether it was made now."""
    key, created = device_keys.load_or_create(directory)
    await api.keys.publish(key.device_id, key.public_bytes, key.label)
    return key, created


async def my_keys(api: Api, directory: Path | None = None) -> MyKeys:
    key, created = await publish_this_device(api, directory)
    return MyKeys(key.device_id, key.fingerprint, created, await api.keys.mine())


def peer_devices(listed: protocol.UserKeys) -> list[PeerDevice]:
    devices = []
    for info in listed["devices"]:
        raw = protocol.decode_public_key(info["public_key"])
        if raw is None:
            raise CliError(f"the daemon sent a malformed key for {listed['username']}'s device")
        devices.append(PeerDevice(info["device_id"], raw, info["label"]))
    return devices


async def peer_keys(api: Api, username: str, known: KnownKeys) -> PeerKeys:
    """A member's device keys against the pins; the first sight of a user pins them all.

    Devices that are new or changed are returned with that status and are not pinned; the
    command shows them and fails (`KeyChangedError`) until they are trusted.
    """
    listed = await api.keys.of_user(username)
    devices = peer_devices(listed)
    # Pins are per account name on one server: the daemon's user ids are its own to give.
    name = listed["username"]
    pins = known.pins(api.server, name)
    checked = compare(pins, devices)
    # First use is the first key seen: a user without devices yet is not pinned as keyless.
    if pins is None and devices:
        known.pin(api.server, name, devices)
        known.save()
    return PeerKeys(name, listed["user_id"], checked)


async def trust(api: Api, username: str, fingerprint: str, known: KnownKeys) -> CheckedDevice:
    """Pin the device of ``username`` whose key has this fingerprint (read from the daemon now)."""
    wanted = normalize_fingerprint(fingerprint)
    if len(wanted) != FINGERPRINT_CHARS:
        raise UsageError(
            f"{fingerprint!r} is not a fingerprint (eight groups of four: ABCD-EFGH-…)"
        )
    listed = await api.keys.of_user(username)
    name = listed["username"]
    matching = [d for d in peer_devices(listed) if d.fingerprint == wanted]
    if not matching:
        raise NotFoundError(f"{name} has no device key with fingerprint {wanted}")
    pins = known.pins(api.server, name)
    known.pin(api.server, name, matching)
    known.save()
    return compare(pins, matching)[0]


async def remove_device(api: Api, device_id: str) -> None:
    await api.keys.remove(device_id)


@dataclass(frozen=True)
class Published:
    """What login did about this device's key: published, or why not (login still counts)."""

    device_id: str | None
    fingerprint: str | None
    error: str | None

    def as_json(self) -> dict[str, str | None]:
        return {"device_id": self.device_id, "fingerprint": self.fingerprint, "error": self.error}


async def publish_after_login(server: str, token: str, directory: Path | None = None) -> Published:
    """Publish this device's key with a token just issued (not the saved one, which may belong
    to someone else or be VIDEONET_TOKEN's). A failure is reported, never fatal to the login."""
    try:
        async with Api(server, token) as api:
            key, _ = await publish_this_device(api, directory)
    except CliError as exc:
        return Published(None, None, exc.message)
    return Published(key.device_id, key.fingerprint, None)
