"""Device keys in the database: each account's X25519 public keys, one per CLI installation."""

from __future__ import annotations

from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, Record, columns, run
from videonet_daemon.errors import Conflict
from videonet_protocol import protocol

_COLUMNS = "device_id, public_key, fingerprint, label, created_at"


def _device(row: Record) -> protocol.DeviceKeyInfo:
    c = columns(row)
    return {
        "device_id": c["device_id"],
        "public_key": c["public_key"],
        "fingerprint": c["fingerprint"],
        "label": c["label"],
        "created_at": c["created_at"],
    }


class DeviceKeyService:
    def __init__(self, db: Database, max_devices: int) -> None:
        self._db = db
        self._max_devices = max_devices

    async def publish(
        self, user_id: int, device_id: str, public_key: bytes, label: str
    ) -> tuple[protocol.DeviceKeyInfo, bool]:
        """Record a device's public key; return it and whether it is new.

        Publishing the same key again is a no-op (the CLI publishes whenever it is unsure). A
        device's key never changes: a different key under a known device id is a conflict, so
        a stolen token cannot quietly swap the key others encrypt to.
        """
        encoded = protocol.encode_public_key(public_key)
        async with self._db.transaction() as conn:
            if self._db.dialect == "postgresql":
                # One publish per account at a time, so two devices cannot both take the
                # last free place (SQLite's single connection already runs them in turn).
                await run(conn, "SELECT id FROM users WHERE id = :u FOR UPDATE", u=user_id)
            found = (
                await run(
                    conn,
                    f"SELECT {_COLUMNS} FROM device_keys WHERE user_id = :u AND device_id = :d",
                    u=user_id,
                    d=device_id,
                )
            ).first()
            if found is not None:
                if columns(found)["public_key"] != encoded:
                    raise Conflict(
                        f"device {device_id} already has a different key; remove it first"
                    )
                return _device(found), False
            count = (
                await run(conn, "SELECT COUNT(*) FROM device_keys WHERE user_id = :u", u=user_id)
            ).scalar_one()
            if int(count) >= self._max_devices:
                raise Conflict(
                    f"you already have {count} devices, the most this daemon allows; "
                    "remove one first"
                )
            info: protocol.DeviceKeyInfo = {
                "device_id": device_id,
                "public_key": encoded,
                "fingerprint": protocol.key_fingerprint(public_key),
                "label": label,
                "created_at": now_iso(),
            }
            await run(
                conn,
                f"INSERT INTO device_keys (user_id, {_COLUMNS}) "
                "VALUES (:u, :device_id, :public_key, :fingerprint, :label, :created_at)",
                u=user_id,
                **info,
            )
        return info, True

    async def of_user(self, user_id: int) -> list[protocol.DeviceKeyInfo]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM device_keys WHERE user_id = :u ORDER BY created_at, device_id",
            u=user_id,
        )
        return [_device(r) for r in rows]

    async def remove(self, user_id: int, device_id: str) -> bool:
        removed = await self._db.execute(
            "DELETE FROM device_keys WHERE user_id = :u AND device_id = :d",
            u=user_id,
            d=device_id,
        )
        return removed > 0

    async def users_named(self, username: str) -> list[tuple[int, str]]:
        """(id, username) of the accounts with exactly this name."""
        rows = await self._db.fetch_all(
            "SELECT id, username FROM users WHERE username = :n ORDER BY id", n=username
        )
        return [(int(columns(r)["id"]), str(columns(r)["username"])) for r in rows]
