"""What this device knows of its own accounts' identities, one file per (server, user id), 0600.

On the device that made (or restored) an identity, the file holds its private seed: that
device certifies and revokes devices. On a linked device it holds the identity's public key
only, learned through the link exchange. `logout` removes the file (unless --keep-device).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from videonet_cli.config import write_private_json
from videonet_cli.errors import CliError
from videonet_cli.i18n import _
from videonet_cli.identity.device import check_private, identity_dir, private_dir

ACCOUNTS_DIR = "accounts"
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Account:
    server: str
    user_id: int
    username: str
    identity_public: bytes
    identity: Ed25519PrivateKey | None  # only where the identity was made or restored
    recovery_shown: bool = True  # False until a command has shown a new identity's recovery key

    def with_recovery_shown(self) -> Account:
        return replace(self, recovery_shown=True)


def _path(server: str, user_id: int, directory: Path | None) -> Path:
    name = hashlib.sha256(f"{server}\n{user_id}".encode()).hexdigest()[:24]
    return (directory or identity_dir()) / ACCOUNTS_DIR / f"{name}.json"


def load(server: str, user_id: int, directory: Path | None = None) -> Account | None:
    path = _path(server, user_id, directory)
    if not path.exists():
        return None
    check_private(path)
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        public = base64.b64decode(record["identity_public"], validate=True)
        seed = record.get("identity_seed")
        identity = (
            Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed, validate=True))
            if seed
            else None
        )
        account = Account(
            str(record["server"]),
            int(record["user_id"]),
            str(record["username"]),
            public,
            identity,
            bool(record.get("recovery_shown", True)),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(
            _("cannot read this device's identity file {path}: {error}").format(
                path=path, error=exc
            )
        ) from exc
    if account.server != server or account.user_id != user_id:
        raise CliError(_("{path} belongs to another account").format(path=path))
    return account


def save(account: Account, directory: Path | None = None) -> None:
    path = _path(account.server, account.user_id, directory)
    private_dir(path.parent.parent)
    private_dir(path.parent)
    seed = account.identity.private_bytes_raw() if account.identity is not None else None
    write_private_json(
        path,
        {
            "version": _FORMAT_VERSION,
            "server": account.server,
            "user_id": account.user_id,
            "username": account.username,
            "identity_public": base64.b64encode(account.identity_public).decode("ascii"),
            "identity_seed": base64.b64encode(seed).decode("ascii") if seed else None,
            "recovery_shown": account.recovery_shown,
        },
    )


def moved(
    server: str, user_id: int, username: str, identity_public: bytes, directory: Path | None = None
) -> Account | None:
    """The account this device holds under another address of the same daemon (it moved, or
    is reached another way): same user id and name, and the daemon lists the very identity
    kept here. Kept under the new address too, and returned; None when there is none."""
    from videonet_protocol.names import name_key

    folder = (directory or identity_dir()) / ACCOUNTS_DIR
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            found = load(str(record["server"]), int(record["user_id"]), directory)
        except (OSError, ValueError, KeyError, TypeError, CliError):
            continue
        if (
            found is not None
            and found.user_id == user_id
            and name_key(found.username) == name_key(username)
            and found.identity_public == identity_public
        ):
            account = replace(found, server=server)
            save(account, directory)
            return account
    return None


def remove(server: str, user_id: int, directory: Path | None = None) -> bool:
    path = _path(server, user_id, directory)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed
