"""Wrapped file keys of end-to-end encrypted transfers: checked, stored, handed to their device.

The daemon cannot open a wrapped key (only the recipient device's private key can); what it
checks is who may hold one: each key names a device published by an account that may receive
the transfer (a member of its room, the addressee of a `--to` offer, or the sender's own
devices), at most `E2E_MAX_KEYS_PER_OFFER` at once and `E2E_MAX_KEYS_PER_TRANSFER` in all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, columns
from videonet_daemon.errors import PayloadTooLarge, ValidationError
from videonet_daemon.i18n import N_
from videonet_protocol import protocol

_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class E2eOffer:
    """An offer's `e2e` field, checked."""

    stream_id: str
    plain_size: int
    keys: list[tuple[int, str, str]]  # (user_id, device_id, wrapped)


def _hex(value: Any, chars: int, field: str) -> str:
    if not isinstance(value, str) or len(value) != chars or not _HEX.fullmatch(value):
        raise ValidationError(
            N_("e2e.{field} must be {chars} lowercase hex digits"), field=field, chars=chars
        )
    return value


def check_keys(value: Any) -> list[tuple[int, str, str]]:
    """A list of `protocol.WrappedKey`, checked for shape and count (not yet for who)."""
    if not isinstance(value, list):
        raise ValidationError(N_("keys must be a list of wrapped keys"))
    if len(value) > protocol.E2E_MAX_KEYS_PER_OFFER:
        raise PayloadTooLarge(
            N_("at most {e2e_max_keys_per_offer} wrapped keys at once"),
            e2e_max_keys_per_offer=protocol.E2E_MAX_KEYS_PER_OFFER,
        )
    keys: list[tuple[int, str, str]] = []
    seen: set[tuple[int, str]] = set()
    for item in value:
        if not isinstance(item, dict):
            raise ValidationError(N_("each wrapped key must be an object"))
        user_id, device_id, wrapped = (
            item.get("user_id"),
            item.get("device_id"),
            item.get("wrapped"),
        )
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise ValidationError(N_("a wrapped key's user_id must be an integer"))
        if (
            not isinstance(device_id, str)
            or not protocol.DEVICE_ID_MIN_CHARS <= len(device_id) <= protocol.DEVICE_ID_MAX_CHARS
            or any(ch not in protocol.DEVICE_ID_ALPHABET for ch in device_id)
        ):
            raise ValidationError(N_("a wrapped key's device_id is not a device id"))
        if protocol.e2e_decode(wrapped, protocol.E2E_WRAPPED_KEY_BYTES) is None:
            raise ValidationError(
                N_("a wrapped key must be base64 of {e2e_wrapped_key_bytes} bytes"),
                e2e_wrapped_key_bytes=protocol.E2E_WRAPPED_KEY_BYTES,
            )
        if (user_id, device_id) in seen:
            raise ValidationError(N_("a device has two wrapped keys"))
        seen.add((user_id, device_id))
        assert isinstance(wrapped, str)
        keys.append((user_id, device_id, wrapped))
    return keys


def check_e2e(value: Any, size: int) -> E2eOffer:
    if not isinstance(value, dict):
        raise ValidationError(N_("e2e must be an object"))
    plain = value.get("plain_size")
    if isinstance(plain, bool) or not isinstance(plain, int) or plain < 0:
        raise ValidationError(N_("e2e.plain_size must be a non-negative integer"))
    if protocol.e2e_ciphertext_size(plain) != size:
        raise ValidationError(N_("size must be the encrypted size of e2e.plain_size"))
    return E2eOffer(
        stream_id=_hex(value.get("stream_id"), protocol.E2E_STREAM_ID_CHARS, "stream_id"),
        plain_size=plain,
        keys=check_keys(value.get("keys")),
    )


class TransferKeys:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, offer: protocol.TransferOffer, keys: list[tuple[int, str, str]]) -> int:
        """Store wrapped keys for devices that may receive ``offer``; a device that has one
        keeps it (the first wrap wins). Returns how many were added."""
        if not keys:
            return 0
        allowed = await self._recipient_devices(offer)
        strangers = [(u, d) for u, d, _ in keys if (u, d) not in allowed]
        if strangers:
            user_id, device_id = strangers[0]
            raise ValidationError(
                N_(
                    "device {device_id} of user {user_id} may not receive this transfer (not a "
                    "published device of a recipient)"
                ),
                device_id=device_id,
                user_id=user_id,
            )
        have = await self._db.fetch_all(
            "SELECT user_id, device_id FROM transfer_keys WHERE transfer_id = :t",
            t=offer["transfer_id"],
        )
        held = {(int(columns(r)["user_id"]), str(columns(r)["device_id"])) for r in have}
        new = [k for k in keys if (k[0], k[1]) not in held]
        if len(held) + len(new) > protocol.E2E_MAX_KEYS_PER_TRANSFER:
            raise PayloadTooLarge(
                N_("a transfer holds at most {e2e_max_keys_per_transfer} wrapped keys"),
                e2e_max_keys_per_transfer=protocol.E2E_MAX_KEYS_PER_TRANSFER,
            )
        now = now_iso()
        for user_id, device_id, wrapped in new:
            await self._db.execute(
                "INSERT INTO transfer_keys (transfer_id, user_id, device_id, wrapped, created_at) "
                "VALUES (:t, :u, :d, :w, :now)",
                t=offer["transfer_id"],
                u=user_id,
                d=device_id,
                w=wrapped,
                now=now,
            )
        return len(new)

    async def _recipient_devices(self, offer: protocol.TransferOffer) -> set[tuple[int, str]]:
        rows = await self._db.fetch_all(
            "SELECT d.user_id, d.device_id FROM device_keys d "
            "JOIN room_members m ON m.user_id = d.user_id AND m.room_id = :r",
            r=offer["room_id"],
        )
        recipients = {offer["sender_id"], offer["to_user_id"]}
        return {
            (int(columns(r)["user_id"]), str(columns(r)["device_id"]))
            for r in rows
            if offer["to_user_id"] is None or int(columns(r)["user_id"]) in recipients
        }

    async def get(self, transfer_id: str, user_id: int, device_id: str) -> str | None:
        row = await self._db.fetch_one(
            "SELECT wrapped FROM transfer_keys "
            "WHERE transfer_id = :t AND user_id = :u AND device_id = :d",
            t=transfer_id,
            u=user_id,
            d=device_id,
        )
        return None if row is None else str(columns(row)["wrapped"])
