"""Peers' device keys pinned on first use, like SSH's known_hosts, in ``known-keys.json`` (0600).

The first time this installation sees a user's device keys (on one server) it pins all of them.
From then on every device key of that user must match its pin: a key that changed under a known
device, or a device not pinned yet, is refused until the user trusts it by fingerprint. Pins are
only ever added by a person's decision, never dropped because the daemon stopped listing a key.

`compare` is the rule and does no I/O; `KnownKeys` reads and writes the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from videonet_cli.config import write_private_json
from videonet_cli.errors import CliError
from videonet_protocol import protocol

KNOWN_KEYS_FILE = "known-keys.json"
FINGERPRINT_CHARS = len(protocol.key_fingerprint(bytes(protocol.X25519_PUBLIC_KEY_BYTES)))
_FORMAT_VERSION = 1


class PinStatus(StrEnum):
    PINNED = "pinned"  # matches the key pinned earlier
    PINNED_NOW = "pinned now"  # the first time this user's keys were seen: pinned as they are
    NEW_DEVICE = "new device"  # the user was pinned, this device was not: refused until trusted
    CHANGED = "changed"  # this device was pinned with another key: refused until trusted


REFUSED = (PinStatus.NEW_DEVICE, PinStatus.CHANGED)


@dataclass(frozen=True)
class PeerDevice:
    """One device key of a peer, as the daemon listed it and checked here."""

    device_id: str
    public_key: bytes
    label: str

    @property
    def fingerprint(self) -> str:
        # Computed here from the key itself; the daemon's copy of the fingerprint is not trusted.
        return protocol.key_fingerprint(self.public_key)


@dataclass(frozen=True)
class CheckedDevice:
    device: PeerDevice
    status: PinStatus
    pinned_fingerprint: str | None  # what was pinned for this device id, if anything

    @property
    def refused(self) -> bool:
        return self.status in REFUSED


def compare(pins: Mapping[str, str] | None, devices: Sequence[PeerDevice]) -> list[CheckedDevice]:
    """Each device against the pins (device id -> fingerprint); None: never seen this user."""
    if pins is None:
        return [CheckedDevice(d, PinStatus.PINNED_NOW, None) for d in devices]
    checked = []
    for device in devices:
        pinned = pins.get(device.device_id)
        if pinned is None:
            status = PinStatus.NEW_DEVICE
        elif pinned == device.fingerprint:
            status = PinStatus.PINNED
        else:
            status = PinStatus.CHANGED
        checked.append(CheckedDevice(device, status, pinned))
    return checked


def normalize_fingerprint(text: str) -> str:
    """A fingerprint as typed (any case, spaces or dashes) in `protocol.key_fingerprint` form."""
    letters = "".join(ch for ch in text.upper() if ch.isalnum())
    return "-".join(letters[i : i + 4] for i in range(0, len(letters), 4))


class KnownKeys:
    """The pins file: {server: {username: {device_id: {fingerprint, public_key, pinned_at}}}}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._servers: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # Never start over silently: an empty file would pin whatever the daemon says next.
            raise CliError(f"cannot read the pinned keys in {self.path}: {exc}") from exc
        servers = data.get("servers") if isinstance(data, dict) else None
        if not isinstance(servers, dict):
            raise CliError(f"cannot read the pinned keys in {self.path}: unexpected content")
        return servers

    def pins(self, server: str, username: str) -> dict[str, str] | None:
        """device id -> pinned fingerprint, or None if this user was never pinned here."""
        user = self._servers.get(server, {}).get(username)
        if not isinstance(user, dict):
            return None
        return {dev: str(entry.get("fingerprint", "")) for dev, entry in user.items()}

    def pin(self, server: str, username: str, devices: Sequence[PeerDevice]) -> None:
        """Pin these devices (and create the user's entry even when it has none yet)."""
        user = self._servers.setdefault(server, {}).setdefault(username, {})
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for device in devices:
            user[device.device_id] = {
                "fingerprint": device.fingerprint,
                "public_key": protocol.encode_public_key(device.public_key),
                "pinned_at": now,
            }

    def save(self) -> None:
        write_private_json(self.path, {"version": _FORMAT_VERSION, "servers": self._servers})
