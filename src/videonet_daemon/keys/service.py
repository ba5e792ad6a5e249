"""Identities and device keys in the database: each account's identity public key and, per CLI
installation, its X25519 and Ed25519 public keys with the identity's certificate or revocation.

Everything signed is stored as the client gave it: the daemon checks shapes and sizes (and that
public keys are usable points), never signatures; clients check those against the identity they
pinned, so a daemon that lies gains nothing by storing something else.
"""

from __future__ import annotations

from typing import Any

from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, Record, columns, run
from videonet_daemon.errors import Conflict, NotFound
from videonet_daemon.i18n import N_
from videonet_protocol import protocol
from videonet_protocol.names import name_key

_COLUMNS = (
    "device_id, public_key, signing_key, fingerprint, label, certificate, revocation, created_at"
)


def _device(row: Record) -> protocol.DeviceKeyInfo:
    c = columns(row)
    return {
        "device_id": c["device_id"],
        "public_key": c["public_key"],
        "signing_key": c["signing_key"] or "",
        "fingerprint": c["fingerprint"],
        "label": c["label"],
        "certificate": c["certificate"] or "",
        "revocation": c["revocation"] or "",
        "created_at": c["created_at"],
    }


class DeviceKeyService:
    def __init__(self, db: Database, max_devices: int) -> None:
        self._db = db
        self._max_devices = max_devices

    async def publish(
        self, user_id: int, device_id: str, public_key: bytes, signing_key: bytes, label: str
    ) -> tuple[protocol.DeviceKeyInfo, bool]:
        """Record a device's public keys; return it and whether it is new.

        Publishing the same keys again is a no-op (the CLI publishes whenever it is unsure). A
        device's keys never change: different keys under a known device id are a conflict, so
        a stolen token cannot quietly swap the key others encrypt to. The one exception: a
        device published before identities existed gains its signing key once.
        """
        encoded = protocol.encode_public_key(public_key)
        signing = protocol.encode_public_key(signing_key)
        async with self._db.transaction() as conn:
            if self._db.dialect == "postgresql":
                # One publish per account at a time, so two devices cannot both take the
                # last free place (SQLite's single connection already runs them in turn).
                await run(conn, "SELECT id FROM users WHERE id = :u FOR UPDATE", u=user_id)
            found = await self._find(conn, user_id, device_id)
            if found is not None:
                if found["revocation"]:
                    raise Conflict(
                        N_("device {device_id} was removed from this account for good"),
                        device_id=device_id,
                    )
                if found["public_key"] != encoded or found["signing_key"] not in ("", signing):
                    raise Conflict(
                        N_("device {device_id} already has different keys; remove it first"),
                        device_id=device_id,
                    )
                if found["signing_key"] == "":
                    await run(
                        conn,
                        "UPDATE device_keys SET signing_key = :s, certificate = '' "
                        "WHERE user_id = :u AND device_id = :d",
                        s=signing,
                        u=user_id,
                        d=device_id,
                    )
                    found = {**found, "signing_key": signing, "certificate": ""}
                return found, False
            count = (
                await run(
                    conn,
                    "SELECT COUNT(*) FROM device_keys WHERE user_id = :u AND revocation = ''",
                    u=user_id,
                )
            ).scalar_one()
            if int(count) >= self._max_devices:
                raise Conflict(
                    N_(
                        "you already have {count} devices, the most this daemon allows; remove "
                        "one first"
                    ),
                    count=count,
                )
            info: protocol.DeviceKeyInfo = {
                "device_id": device_id,
                "public_key": encoded,
                "signing_key": signing,
                "fingerprint": protocol.key_fingerprint(public_key),
                "label": label,
                "certificate": "",
                "revocation": "",
                "created_at": now_iso(),
            }
            await run(
                conn,
                f"INSERT INTO device_keys (user_id, {_COLUMNS}) VALUES (:u, :device_id, "
                ":public_key, :signing_key, :fingerprint, :label, :certificate, :revocation, "
                ":created_at)",
                u=user_id,
                **info,
            )
        return info, True

    async def _find(self, conn: Any, user_id: int, device_id: str) -> protocol.DeviceKeyInfo | None:
        row = (
            await run(
                conn,
                f"SELECT {_COLUMNS} FROM device_keys WHERE user_id = :u AND device_id = :d",
                u=user_id,
                d=device_id,
            )
        ).first()
        return None if row is None else _device(row)

    async def update(
        self,
        user_id: int,
        device_id: str,
        *,
        certificate: str | None,
        label: str | None,
        revocation: str | None,
    ) -> protocol.DeviceKeyInfo:
        """Store a new certificate (with its label) or a revocation for one of their devices."""
        async with self._db.transaction() as conn:
            found = await self._find(conn, user_id, device_id)
            if found is None:
                raise NotFound(N_("you have no device {device_id}"), device_id=repr(device_id))
            if found["revocation"]:
                raise Conflict(
                    N_("device {device_id} was removed from this account for good"),
                    device_id=device_id,
                )
            changes = {
                name: value
                for name, value in (
                    ("certificate", certificate),
                    ("label", label),
                    ("revocation", revocation),
                )
                if value is not None
            }
            if changes:
                sets = ", ".join(f"{name} = :{name}" for name in changes)
                await run(
                    conn,
                    f"UPDATE device_keys SET {sets} WHERE user_id = :u AND device_id = :d",
                    u=user_id,
                    d=device_id,
                    **changes,
                )
            return {**found, **changes}  # type: ignore[typeddict-item]

    async def of_user(self, user_id: int) -> list[protocol.DeviceKeyInfo]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM device_keys WHERE user_id = :u ORDER BY created_at, device_id",
            u=user_id,
        )
        return [_device(r) for r in rows]

    async def identity_of(self, user_id: int) -> str:
        row = await self._db.fetch_one("SELECT identity_key FROM users WHERE id = :u", u=user_id)
        return "" if row is None else str(columns(row)["identity_key"] or "")

    async def set_identity(self, user_id: int, identity_key: bytes, replace: bool) -> None:
        """Record the account's identity; a different one only with ``replace`` (the clients
        that pinned the old one will say loudly that it changed)."""
        encoded = protocol.encode_public_key(identity_key)
        async with self._db.transaction() as conn:
            row = (
                await run(conn, "SELECT identity_key FROM users WHERE id = :u", u=user_id)
            ).first()
            current = "" if row is None else str(columns(row)["identity_key"] or "")
            if current not in ("", encoded) and not replace:
                raise Conflict(N_("your account already has another identity"))
            if current != encoded:
                await run(
                    conn,
                    "UPDATE users SET identity_key = :k WHERE id = :u",
                    k=encoded,
                    u=user_id,
                )

    async def user_keys(self, user_id: int, username: str) -> protocol.UserKeys:
        return {
            "user_id": user_id,
            "username": username,
            "identity_key": await self.identity_of(user_id),
            "devices": await self.of_user(user_id),
        }

    async def room_keys(self, room_id: str) -> protocol.RoomKeys:
        """Every member's identity and devices (the caller has asked the room guard): two
        queries for the whole room, where one request per member took two each."""
        members = await self._db.fetch_all(
            "SELECT u.id, u.username, u.identity_key FROM room_members m "
            "JOIN users u ON u.id = m.user_id WHERE m.room_id = :r ORDER BY u.id",
            r=room_id,
        )
        devices = await self._db.fetch_all(
            f"SELECT k.user_id AS owner, {', '.join('k.' + c for c in _COLUMNS.split(', '))} "
            "FROM device_keys k JOIN room_members m ON m.user_id = k.user_id "
            "WHERE m.room_id = :r ORDER BY k.created_at, k.device_id",
            r=room_id,
        )
        by_user: dict[int, list[protocol.DeviceKeyInfo]] = {}
        for row in devices:
            by_user.setdefault(int(columns(row)["owner"]), []).append(_device(row))
        listed: list[protocol.UserKeys] = []
        for row in members:
            c = columns(row)
            user_id = int(c["id"])
            listed.append(
                {
                    "user_id": user_id,
                    "username": str(c["username"]),
                    "identity_key": str(c["identity_key"] or ""),
                    "devices": by_user.get(user_id, []),
                }
            )
        return {"room_id": room_id, "members": listed}

    async def remove(self, user_id: int, device_id: str) -> bool:
        removed = await self._db.execute(
            "DELETE FROM device_keys WHERE user_id = :u AND device_id = :d",
            u=user_id,
            d=device_id,
        )
        return removed > 0

    async def users_named(self, username: str) -> list[tuple[int, str]]:
        """(id, username) of the accounts with this name (compared folded, as names are
        unique: "BOB" finds bob; the answer carries the name as registered)."""
        rows = await self._db.fetch_all(
            "SELECT id, username FROM users WHERE username_key = :k ORDER BY id",
            k=name_key(username),
        )
        return [(int(columns(r)["id"]), str(columns(r)["username"])) for r in rows]
