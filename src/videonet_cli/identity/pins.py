"""Other users' identities pinned on first use, per (server origin, user id), in ``pins.json``.

A pin holds the user's name as last seen, the identity's public key, its state ("first use":
accepted when first seen; "verified": the safety number was compared) and the devices already
seen certified (so a new one is a notice, once) or revoked (so a daemon cannot un-revoke one).

The file is 0600 and refused when looser; every read-modify-write holds an exclusive `fcntl`
lock on ``pins.lock``, so two CLIs at once lose nothing. The first format (``known-keys.json``:
device keys pinned per username) cannot be carried over (it pinned devices, not identities): it
is set aside as ``known-keys.json.old`` with a notice, and identities are pinned anew.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from videonet_cli.config import write_private_json
from videonet_cli.errors import CliError
from videonet_cli.i18n import N_, _
from videonet_cli.identity.device import check_private, identity_dir, private_dir
from videonet_cli.transfer.said import said

PINS_FILE: Final = "pins.json"
LOCK_FILE: Final = "pins.lock"
OLD_PINS_FILE: Final = "known-keys.json"
FIRST_USE: Final = "first use"
VERIFIED: Final = "verified"
OWN: Final = "own"  # this account's own identity (its devices are seen like anyone's)
_FORMAT_VERSION: Final = 2


@dataclass
class Pin:
    user_id: int
    username: str
    identity_key: bytes
    state: str = FIRST_USE
    pinned_at: str = ""
    devices: dict[str, str] = field(default_factory=dict)  # device id -> device fingerprint
    revoked: set[str] = field(default_factory=set)  # device ids

    def as_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "identity_key": base64.b64encode(self.identity_key).decode("ascii"),
            "state": self.state,
            "pinned_at": self.pinned_at,
            "devices": self.devices,
            "revoked": sorted(self.revoked),
        }

    @classmethod
    def from_json(cls, user_id: int, data: dict[str, Any]) -> Pin:
        state = str(data["state"])
        if state not in (FIRST_USE, VERIFIED, OWN):
            raise ValueError(f"unknown pin state {state!r}")
        return cls(
            user_id,
            str(data["username"]),
            base64.b64decode(data["identity_key"], validate=True),
            state,
            str(data.get("pinned_at", "")),
            {str(k): str(v) for k, v in dict(data.get("devices", {})).items()},
            {str(d) for d in data.get("revoked", [])},
        )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Pins:
    """The pins of every server, as read; `get`/`put` by (server, user id)."""

    def __init__(self, servers: dict[str, dict[int, Pin]]) -> None:
        self._servers = servers
        self.changed = False

    def get(self, server: str, user_id: int) -> Pin | None:
        return self._servers.get(server, {}).get(user_id)

    def put(self, server: str, pin: Pin) -> None:
        if not pin.pinned_at:
            pin.pinned_at = now()
        self._servers.setdefault(server, {})[pin.user_id] = pin
        self.changed = True

    def as_json(self) -> dict[str, Any]:
        return {
            "version": _FORMAT_VERSION,
            "servers": {
                server: {str(uid): pin.as_json() for uid, pin in users.items()}
                for server, users in self._servers.items()
            },
        }


class PinStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or identity_dir()
        self.path = self.directory / PINS_FILE
        self.notices: list[str] = []

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        private_dir(self.directory)
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def read(self) -> Pins:
        """The pins as they are now (a snapshot: decide on it, then `edit` to record)."""
        with self._locked():
            return self._read()

    @contextlib.contextmanager
    def edit(self) -> Iterator[Pins]:
        """Read, let the caller change, write back if changed: all under the lock. A pin put
        back as it was (every send puts its recipients' pins) writes nothing."""
        with self._locked():
            pins = self._read()
            before = json.dumps(pins.as_json(), sort_keys=True)  # text: pins change in place
            yield pins
            after = pins.as_json()
            if pins.changed and json.dumps(after, sort_keys=True) != before:
                write_private_json(self.path, after)

    def _read(self) -> Pins:
        self._set_aside_old()
        try:
            check_private(self.path)
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Pins({})
        except (OSError, ValueError) as exc:
            # Never start over silently: an empty file would pin whatever the daemon says next.
            raise CliError(
                _("cannot read the pinned identities in {path}: {error}").format(
                    path=self.path, error=exc
                )
            ) from exc
        try:
            if data.get("version") != _FORMAT_VERSION:
                raise ValueError(f"unknown format version {data.get('version')!r}")
            servers = {
                str(server): {int(uid): Pin.from_json(int(uid), pin) for uid, pin in users.items()}
                for server, users in data["servers"].items()
            }
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CliError(
                _("cannot read the pinned identities in {path}: {error}").format(
                    path=self.path, error=exc
                )
            ) from exc
        return Pins(servers)

    def _set_aside_old(self) -> None:
        old = self.directory / OLD_PINS_FILE
        if old.exists():
            old.rename(old.with_name(OLD_PINS_FILE + ".old"))
            self.notices.append(
                said(
                    N_(
                        "device keys pinned by an older version ({file}) are no longer used "
                        "(kept as {file}.old): people's identities are pinned anew, each "
                        "confirmed once"
                    ),
                    file=old.name,
                )
            )
