"""Receivers of a transfer: accepting it, the verdict on its SHA-256, declining it.

Each receiver's outcome is a receipt (protocol.ReceiptState) in the database: a receiver with a
verified or declined receipt is not offered that transfer again.
"""

from __future__ import annotations

from typing import Any

from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, run
from videonet_daemon.errors import TransferStateError, ValidationError
from videonet_daemon.i18n import N_
from videonet_daemon.relay.service import TransferService, check_sha256
from videonet_protocol import protocol

S = protocol.TransferState
R = protocol.ReceiptState


class Receivers:
    def __init__(self, db: Database, transfers: TransferService) -> None:
        self._db = db
        self._transfers = transfers

    async def accept(self, user_id: int, transfer_id: str) -> protocol.TransferOffer:
        offer = await self._transfers.visible(user_id, transfer_id)
        if offer["sender_id"] == user_id:
            raise ValidationError(N_("you cannot receive your own transfer"))
        if offer["state"] == S.ABORTED:
            raise TransferStateError(N_("the sender aborted this transfer"))
        await self._receipt(transfer_id, user_id, R.ACCEPTED, None)
        offer["uploaded"] = self._transfers.live(offer).uploaded
        return offer

    async def verdict(
        self, user_id: int, transfer_id: str, sha256: Any
    ) -> tuple[protocol.TransferOffer, protocol.VerdictReply]:
        """Compare a receiver's hash with the sender's, once the sender has sealed it."""
        digest = check_sha256(sha256)
        # A verdict sent before the seal has waited for it already (relay/verdict_wait.py).
        offer = await self._transfers.visible(user_id, transfer_id)
        if offer["state"] != S.SEALED or offer["sha256"] is None:
            raise TransferStateError(N_("the sender has not finished this transfer"))
        match = offer["sha256"] == digest
        await self._receipt(transfer_id, user_id, R.VERIFIED if match else R.MISMATCH, digest)
        sealed = await self._transfers.signed_blobs(transfer_id)  # visible: checked above
        return offer, {"match": match, "expected": offer["sha256"], "seal": sealed["seal"]}

    async def decline(self, user_id: int, transfer_id: str) -> protocol.TransferOffer:
        """The receiver will not take this one; it is not offered to them again."""
        offer = await self._transfers.visible(user_id, transfer_id)
        await self._receipt(transfer_id, user_id, R.DECLINED, None)
        return offer

    async def _receipt(
        self, transfer_id: str, user_id: int, state: protocol.ReceiptState, sha: str | None
    ) -> None:
        async with self._db.transaction() as conn:
            updated = await run(
                conn,
                "UPDATE transfer_receipts SET state = :s, sha256 = :h, updated_at = :t "
                "WHERE transfer_id = :id AND user_id = :u",
                s=state,
                h=sha,
                t=now_iso(),
                id=transfer_id,
                u=user_id,
            )
            if updated.rowcount == 0:
                await run(
                    conn,
                    "INSERT INTO transfer_receipts (transfer_id, user_id, state, sha256, "
                    "updated_at) VALUES (:id, :u, :s, :h, :t)",
                    id=transfer_id,
                    u=user_id,
                    s=state,
                    h=sha,
                    t=now_iso(),
                )
