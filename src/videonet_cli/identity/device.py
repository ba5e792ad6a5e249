"""This installation's device keys: X25519 (receives wrapped file keys) and Ed25519 (signs what
this device sends), kept in the user data dir.

The private keys never leave this machine: written once, mode 0600, in a directory of mode
0700; only the public halves are published. One device per installation (not per server or
account): each daemon it logs in to learns the same device id and keys. A key file of the first
format (X25519 only) gains an Ed25519 key on first read and keeps its device id.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from videonet_cli.config import data_dir, write_private_json
from videonet_cli.errors import CliError
from videonet_cli.i18n import _
from videonet_protocol import protocol

IDENTITY_DIR = "identity"
DEVICE_KEY_FILE = "device-key.json"
DEVICE_ID_BYTES = 16  # 32 hex characters, within protocol.DEVICE_ID_MIN/MAX_CHARS
_FORMAT_VERSION = 2


def identity_dir() -> Path:
    """Where device keys, identities and pins live (``VIDEONET_DATA_DIR`` moves it)."""
    return data_dir() / IDENTITY_DIR


@dataclass(frozen=True)
class DeviceKey:
    device_id: str
    private_key: X25519PrivateKey
    signing_key: Ed25519PrivateKey
    label: str

    @property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()

    @property
    def signing_public_bytes(self) -> bytes:
        return self.signing_key.public_key().public_bytes_raw()

    @property
    def fingerprint(self) -> str:
        return protocol.device_fingerprint(self.public_bytes, self.signing_public_bytes)


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (0700), made if missing."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def check_private(path: Path) -> None:
    """Refuse a secret file others can read (one line, with the fix)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CliError(
            _("{path} is readable by other users (mode {mode}): run `chmod 600 {path}`").format(
                path=path, mode=f"{mode:o}"
            )
        )


def default_label() -> str:
    """The host name, as a hint for people telling their devices apart (not a secret)."""
    name = "".join(ch for ch in socket.gethostname() if ch.isprintable())
    return name[: protocol.DEVICE_LABEL_MAX_CHARS] or "device"


def _record(key: DeviceKey) -> dict[str, Any]:
    return {
        "version": _FORMAT_VERSION,
        "device_id": key.device_id,
        "label": key.label,
        "private_key": base64.b64encode(key.private_key.private_bytes_raw()).decode("ascii"),
        "signing_key": base64.b64encode(key.signing_key.private_bytes_raw()).decode("ascii"),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def load_or_create(directory: Path | None = None) -> tuple[DeviceKey, bool]:
    """This installation's keys, made on first use; returns them and whether they are new."""
    folder = private_dir(directory or identity_dir())
    path = folder / DEVICE_KEY_FILE
    if path.exists():
        return _load(path), False
    key = DeviceKey(
        secrets.token_hex(DEVICE_ID_BYTES),
        X25519PrivateKey.generate(),
        Ed25519PrivateKey.generate(),
        default_label(),
    )
    tmp = folder / f".{DEVICE_KEY_FILE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(_record(key), fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        # link() fails if the name exists: of two commands starting at once, one key wins
        # and both use it (a rename would let the second replace a key already published).
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _load(path), False
    finally:
        tmp.unlink(missing_ok=True)
    return key, True


def _load(path: Path) -> DeviceKey:
    check_private(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        raw = base64.b64decode(record["private_key"], validate=True)
        device_id = str(record["device_id"])
        label = str(record.get("label", "")) or default_label()
        private_key = X25519PrivateKey.from_private_bytes(raw)
        signing_raw = record.get("signing_key")
        signing = (
            Ed25519PrivateKey.from_private_bytes(base64.b64decode(signing_raw, validate=True))
            if signing_raw
            else None
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(
            _("cannot read this device's key {path}: {error}").format(path=path, error=exc)
        ) from exc
    if signing is None:
        # The first format had no signing key: add one, keeping the device id and X25519 key.
        key = DeviceKey(device_id, private_key, Ed25519PrivateKey.generate(), label)
        write_private_json(path, _record(key))
        return key
    return DeviceKey(device_id, private_key, signing, label)


def remove(directory: Path | None = None) -> bool:
    """Forget this installation's keys (the next command makes new ones)."""
    path = (directory or identity_dir()) / DEVICE_KEY_FILE
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed
