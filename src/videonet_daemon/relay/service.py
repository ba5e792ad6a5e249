"""Transfers: offers, resume, the upload's state machine, seal and abort, clean-up.

(What receivers do with a transfer is in relay/receivers.py.)

States (protocol.TransferState): uploading -> uploaded -> sealed, with uploading -> interrupted
when the sender's connection drops (a new offer of the same file resumes it) and any -> aborted.
The database holds the truth; `Spool` holds the bytes and wakes readers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from videonet_daemon.clock import now_iso, to_iso
from videonet_daemon.cluster import Node
from videonet_daemon.db.engine import Database, Record, columns
from videonet_daemon.errors import (
    Forbidden,
    InsufficientStorage,
    NotFound,
    PayloadTooLarge,
    TooManyTransfers,
    TransferStateError,
    Unavailable,
    ValidationError,
)
from videonet_daemon.i18n import N_, Phrase
from videonet_daemon.relay.keys import E2eOffer, check_e2e
from videonet_daemon.relay.spool import AnySpool, LiveTransfer
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.settings import Settings
from videonet_protocol import protocol
from videonet_protocol.names import name_key

log = logging.getLogger(__name__)

S = protocol.TransferState
R = protocol.ReceiptState

_SELECT = """
    SELECT t.id AS transfer_id, t.room_id, t.sender_id, u.username AS sender_name, t.to_user_id,
           t.name, t.size, t.uploaded, t.sha256, t.state, t.created_at, t.node_id,
           t.batch_kind, t.file_count, t.e2e_stream_id, t.e2e_plain_size
    FROM transfers t JOIN users u ON u.id = t.sender_id
"""


# A transfer's state as a message says it (the state itself stays English on the wire).
_STATE_WORDS: dict[str, str] = {
    protocol.TransferState.OFFERED: N_("offered"),
    protocol.TransferState.UPLOADING: N_("uploading"),
    protocol.TransferState.INTERRUPTED: N_("interrupted"),
    protocol.TransferState.UPLOADED: N_("uploaded"),
    protocol.TransferState.SEALED: N_("sealed"),
    protocol.TransferState.ABORTED: N_("aborted"),
}


def state_word(state: str) -> str:
    """``state`` for a message: translated with it where the catalogue has it."""
    word = _STATE_WORDS.get(state)
    return Phrase(word) if word is not None else state


def _offer(row: Record) -> protocol.TransferOffer:
    c = columns(row)
    return {
        "transfer_id": c["transfer_id"],
        "room_id": c["room_id"],
        "sender_id": int(c["sender_id"]),
        "sender_name": c["sender_name"],
        "to_user_id": int(c["to_user_id"]) if c["to_user_id"] is not None else None,
        "name": c["name"],
        "size": int(c["size"]),
        "uploaded": int(c["uploaded"]),
        "sha256": c["sha256"],
        "state": c["state"],
        "created_at": c["created_at"],
        "node_id": c["node_id"],
        # (Rows of transfer protocol 1 lack these; they are never offered, only cleaned up.)
        "batch_kind": c["batch_kind"] or protocol.BatchKind.FILES,
        "file_count": int(c["file_count"] or 1),
        "e2e": {
            "stream_id": c["e2e_stream_id"] or "",
            "plain_size": int(c["e2e_plain_size"] or 0),
        },
    }


def _one_of(prefix: str, states: tuple[StrEnum, ...]) -> tuple[str, dict[str, str]]:
    """``(:p0, :p1, ...)`` and its parameters: state names go into SQL as bound values only."""
    params = {f"{prefix}{i}": str(state) for i, state in enumerate(states)}
    return "(" + ", ".join(f":{name}" for name in params) + ")", params


def check_name(name: Any) -> str:
    """An offered file name must already be a plain, safe basename."""
    if not isinstance(name, str) or not name:
        raise ValidationError(N_("name must be a non-empty string"))
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in name):
        raise ValidationError(N_("name must not contain control characters"))
    if len(name.encode("utf-8")) > protocol.TRANSFER_NAME_MAX_BYTES:
        raise ValidationError(
            N_("name must be at most {transfer_name_max_bytes} bytes"),
            transfer_name_max_bytes=protocol.TRANSFER_NAME_MAX_BYTES,
        )
    if name in (".", "..") or "/" in name or "\\" in name:
        raise ValidationError(N_("name must be a file name without directories"))
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise ValidationError(N_("name must not contain control characters"))
    return name


def check_sha256(value: Any) -> str:
    if (
        not isinstance(value, str)
        or len(value) != protocol.SHA256_HEX_CHARS
        or any(c not in "0123456789abcdef" for c in value)
    ):
        raise ValidationError(N_("sha256 must be 64 lowercase hex digits"))
    return value


_TRANSFER_ID = re.compile(f"[0-9a-f]{{{protocol.TRANSFER_ID_CHARS}}}")


def check_blob(value: Any, field: str, limit: int) -> str:
    """A base64 blob the daemon stores as it is (a header or a seal): shape and size only."""
    if not isinstance(value, str) or len(value) > 4 * (-(-limit // 3)):
        raise ValidationError(
            N_("{field} must be base64 of at most {limit} bytes"), field=field, limit=limit
        )
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValidationError(N_("{field} must be base64"), field=field) from exc
    if not raw or len(raw) > limit:
        raise ValidationError(
            N_("{field} must be base64 of 1 to {limit} bytes"), field=field, limit=limit
        )
    return value


@dataclass(frozen=True)
class _Batch:
    """An offer's hints the daemon keeps for listing (the signed header is what counts)."""

    kind: protocol.BatchKind
    count: int
    header: str  # base64, opaque


def check_offer_shape(data: dict[str, Any]) -> tuple[str, _Batch]:
    """The proposed transfer id and the hints of a protocol-2 offer, or one clear line."""
    if data.get("version") != protocol.TRANSFER_PROTOCOL_VERSION:
        raise ValidationError(
            protocol.TRANSFER_VERSION_ERROR, **protocol.transfer_version_fields(data.get("version"))
        )
    if not isinstance(data.get("e2e"), dict):
        raise ValidationError(N_("offers must be end-to-end encrypted (plaintext is refused)"))
    transfer_id = data.get("transfer_id")
    if not isinstance(transfer_id, str) or not _TRANSFER_ID.fullmatch(transfer_id):
        raise ValidationError(
            N_("transfer_id must be {transfer_id_chars} lowercase hex digits"),
            transfer_id_chars=protocol.TRANSFER_ID_CHARS,
        )
    try:
        kind = protocol.BatchKind(str(data.get("kind")))
    except ValueError as exc:
        raise ValidationError(N_("kind must be 'files' or 'directory'")) from exc
    count = data.get("file_count")
    if (
        isinstance(count, bool)
        or not isinstance(count, int)
        or not 1 <= count <= protocol.TRANSFER_BATCH_MAX_FILES
    ):
        raise ValidationError(
            N_("file_count must be 1 to {transfer_batch_max_files}"),
            transfer_batch_max_files=protocol.TRANSFER_BATCH_MAX_FILES,
        )
    header = check_blob(data.get("header"), "header", protocol.TRANSFER_HEADER_MAX_BYTES)
    return transfer_id, _Batch(kind, count, header)


# Which of these daemons are alive (cluster.Liveness.alive), where Redis is configured.
Alive = Callable[[set[str]], Awaitable[set[str]]]


class TransferService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        spool: AnySpool,
        guard: RoomGuard,
        node: Node,
        alive: Alive | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self.spool = spool
        self._guard = guard
        self.node = node
        self._alive = alive
        # Space checks and the offers they admit take turns on this daemon (its spool).
        self._reserving = asyncio.Lock()

    # --- reading ---------------------------------------------------------------------------
    async def get(self, transfer_id: str) -> protocol.TransferOffer:
        if not isinstance(transfer_id, str) or len(transfer_id) > protocol.TRANSFER_ID_MAX_CHARS:
            raise ValidationError(N_("transfer_id must be a string"))
        row = await self._db.fetch_one(_SELECT + " WHERE t.id = :id", id=transfer_id)
        if row is None:
            raise NotFound(N_("no transfer {transfer_id}"), transfer_id=transfer_id)
        return _offer(row)

    async def visible(self, user_id: int, transfer_id: str) -> protocol.TransferOffer:
        """The transfer, if this user may see it: a member of its room it is addressed to."""
        offer = await self.get(transfer_id)
        await self._require_visible(offer, user_id)
        return offer

    async def _require_visible(self, offer: protocol.TransferOffer, user_id: int) -> None:
        # Whoever may not see the transfer hears what an unknown id gets: neither whether it
        # exists (403 against 404) nor the id of its room (the room guard's 404 names it).
        try:
            await self._guard.require_member(offer["room_id"], user_id)
        except (NotFound, Forbidden):
            raise NotFound(
                N_("no transfer {transfer_id}"), transfer_id=offer["transfer_id"]
            ) from None
        if offer["to_user_id"] not in (None, user_id) and offer["sender_id"] != user_id:
            raise NotFound(N_("no transfer {transfer_id}"), transfer_id=offer["transfer_id"])

    async def require_sender(
        self, offer: protocol.TransferOffer, user_id: int, refusal: str
    ) -> None:
        """Forbidden (`refusal`, an N_ sentence: "only the sender …") for members who see the
        transfer; NotFound for everyone else, as for an unknown id."""
        if offer["sender_id"] != user_id:
            await self._require_visible(offer, user_id)
            raise Forbidden(refusal)

    def is_local(self, offer: protocol.TransferOffer) -> bool:
        """Whether this daemon can read and write the transfer's bytes (every daemon can, when
        they share object storage)."""
        return self.spool.shared or not offer["node_id"] or offer["node_id"] == self.node.id

    def _stored(self, offer: protocol.TransferOffer) -> int:
        """How many bytes of the transfer are kept: the local spool file is the truth about
        what arrived (it survives a restart); in object storage, the database's count of
        bytes in stored segments."""
        return min(self.spool.stored(offer["transfer_id"], offer["uploaded"]), offer["size"])

    async def _uploading_elsewhere(self, offer: protocol.TransferOffer) -> bool:
        """Object storage: another living daemon is taking this upload right now."""
        node = offer["node_id"]
        if not self.spool.shared or offer["state"] != S.UPLOADING or not node:
            return False
        if node == self.node.id or self._alive is None:
            return False
        return node in await self._alive({node})

    def live(self, offer: protocol.TransferOffer) -> LiveTransfer:
        return self.spool.live(
            offer["transfer_id"], offer["size"], offer["uploaded"], offer["state"]
        )

    async def pending_for(
        self, user_id: int, room_id: str, declined: bool = False
    ) -> list[protocol.TransferOffer]:
        """Offers in the room this user may still take: not aborted, not verified or declined
        (or also the declined ones, when ``declined``)."""
        await self._guard.require_member(room_id, user_id)
        done = (R.VERIFIED,) if declined else protocol.RECEIPT_FINAL
        final, final_params = _one_of("final", done)
        rows = await self._db.fetch_all(
            _SELECT + " WHERE t.room_id = :r AND t.sender_id <> :u AND t.state <> :aborted "
            "AND (t.to_user_id IS NULL OR t.to_user_id = :u) AND t.header IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM transfer_receipts x WHERE x.transfer_id = t.id "
            f"AND x.user_id = :u AND x.state IN {final}) "
            "ORDER BY t.created_at, t.id",
            r=room_id,
            u=user_id,
            aborted=S.ABORTED,
            **final_params,
        )
        offers = [_offer(r) for r in rows]
        for offer in offers:  # the live byte count is fresher than the stored one
            offer["uploaded"] = self.live(offer).uploaded
        return offers

    # --- the sender ------------------------------------------------------------------------
    async def offer(
        self, user_id: int, data: dict[str, Any]
    ) -> tuple[protocol.TransferOffer, bool]:
        """A new transfer, or the unfinished one of this id to resume: (offer, resumed).

        The sender picks the transfer id; offering it again while unfinished resumes it (the
        sender's resume journal decides when that is safe, never the daemon)."""
        transfer_id, found = check_offer_shape(data)
        room_id = str(data.get("room_id"))
        name, size, to_username = data.get("name"), data.get("size"), data.get("to")
        name = check_name(name)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValidationError(N_("size must be a non-negative integer"))
        if size > self._settings.transfer_max_bytes:
            limit = self._settings.transfer_max_bytes
            raise PayloadTooLarge(
                N_("the file is larger than this daemon accepts ({limit} bytes)"), limit=limit
            )
        crypt = check_e2e(data.get("e2e"), size)
        await self._guard.require_member(room_id, user_id)
        to_user_id = await self._recipient(room_id, to_username)
        existing = await self._unfinished(transfer_id, room_id, user_id, size, crypt)
        if existing is None:
            offer = await self._new(
                transfer_id, room_id, user_id, name, size, to_user_id, found, crypt
            )
            return offer, False
        if not self.is_local(existing):
            return await self._resume_elsewhere(existing), True
        return await self._resume_here(existing), True

    async def _unfinished(
        self, transfer_id: str, room_id: str, user_id: int, size: int, e2e: E2eOffer
    ) -> protocol.TransferOffer | None:
        """The unfinished transfer of this id to resume, None for a new id; a used id (another
        sender's, finished, another room or stream) is refused."""
        row = await self._db.fetch_one(_SELECT + " WHERE t.id = :id", id=transfer_id)
        if row is None:
            return None
        offer = _offer(row)
        if (
            offer["sender_id"] != user_id
            or offer["room_id"] != room_id
            or offer["state"] not in protocol.TRANSFER_UNFINISHED
            or offer["size"] != size
            or offer["e2e"]["stream_id"] != e2e.stream_id
        ):
            raise TransferStateError(
                N_("transfer id {transfer_id} is already used"), transfer_id=transfer_id
            )
        return offer

    async def _resume_elsewhere(self, offer: protocol.TransferOffer) -> protocol.TransferOffer:
        """Its bytes are on another daemon; that one's upload handler resumes it."""
        if offer["state"] == S.INTERRUPTED:
            await self._db.execute(
                "UPDATE transfers SET state = :s, updated_at = :t WHERE id = :id",
                s=S.OFFERED,
                t=now_iso(),
                id=offer["transfer_id"],
            )
            offer["state"] = S.OFFERED
        return offer

    async def _resume_here(self, offer: protocol.TransferOffer) -> protocol.TransferOffer:
        live = self.live(offer)
        if live.upload_in_progress or await self._uploading_elsewhere(offer):
            raise TransferStateError(N_("this file is being uploaded right now by another send"))
        uploaded = self._stored(offer)
        self.spool.truncate(offer["transfer_id"], uploaded)
        live.uploaded = uploaded
        offer["uploaded"] = uploaded
        async with self._reserving:
            await self._check_space(offer["size"] - uploaded, offer["transfer_id"])
            if offer["state"] == S.INTERRUPTED:
                await self._set_state(live, S.OFFERED)
                offer["state"] = S.OFFERED
        return offer

    async def _new(
        self,
        transfer_id: str,
        room_id: str,
        user_id: int,
        name: str,
        size: int,
        to_user_id: int | None,
        batch: _Batch,
        e2e: E2eOffer,
    ) -> protocol.TransferOffer:
        # A new send of the same name replaces older ones (finished or not), so a receiver that
        # comes late is offered the latest version only.
        superseded = await self._db.fetch_all(
            "SELECT id FROM transfers WHERE room_id = :r AND sender_id = :u AND name = :n "
            "AND state <> :aborted",
            r=room_id,
            u=user_id,
            n=name,
            aborted=S.ABORTED,
        )
        for row in superseded:
            old_id = columns(row)["id"]
            await self._db.execute(
                "UPDATE transfers SET state = :aborted, updated_at = :t WHERE id = :id",
                aborted=S.ABORTED,
                t=now_iso(),
                id=old_id,
            )
            await self.spool.forget(old_id)

        unfinished, params = _one_of("st", protocol.TRANSFER_UNFINISHED)
        active = await self._db.fetch_one(
            f"SELECT COUNT(*) AS n FROM transfers WHERE sender_id = :u AND state IN {unfinished}",
            u=user_id,
            **params,
        )
        if active is not None and int(columns(active)["n"]) >= self._settings.transfer_max_active:
            raise TooManyTransfers()
        async with self._reserving:  # two offers at once must not both take the last space
            await self._check_space(size)
            await self._insert(transfer_id, room_id, user_id, name, size, to_user_id, batch, e2e)
        return await self.get(transfer_id)

    async def _insert(
        self,
        transfer_id: str,
        room_id: str,
        user_id: int,
        name: str,
        size: int,
        to_user_id: int | None,
        batch: _Batch,
        e2e: E2eOffer,
    ) -> None:
        now = now_iso()
        self.spool.create(transfer_id)
        await self._db.execute(
            "INSERT INTO transfers (id, room_id, sender_id, to_user_id, name, size, uploaded, "
            "sha256, state, created_at, updated_at, node_id, batch_kind, file_count, header, "
            "e2e_stream_id, e2e_plain_size) "
            "VALUES (:id, :r, :u, :to, :n, :s, 0, NULL, :st, :t, :t, :node, :bk, :bn, :bh, "
            ":es, :ep)",
            es=e2e.stream_id,
            ep=e2e.plain_size,
            node=self.node.id,
            bk=str(batch.kind),
            bn=batch.count,
            bh=batch.header,
            id=transfer_id,
            r=room_id,
            u=user_id,
            to=to_user_id,
            n=name,
            s=size,
            st=S.OFFERED,
            t=now,
        )

    async def _check_space(self, needed: int, resuming: str = "") -> None:
        """507 unless the disk keeps `spool_min_free_bytes` once every unfinished transfer of
        this daemon has all its bytes: what was promised is reserved, not only what arrived,
        so the spool can never take the space the database needs. (Object storage has no free
        space to ask about: there, the size and count limits per user are the quota.)"""
        free = self.spool.free_bytes()
        if free is None:
            return
        unfinished, params = _one_of("st", protocol.TRANSFER_UNFINISHED)
        rows = await self._db.fetch_all(
            f"SELECT id, size, uploaded FROM transfers WHERE state IN {unfinished} "
            "AND (node_id = :node OR node_id IS NULL) AND id <> :resuming",
            node=self.node.id,
            resuming=resuming,
            **params,
        )
        promised = 0
        for row in rows:
            c = columns(row)
            live = self.spool.known(c["id"])
            arrived = max(int(c["uploaded"]), live.uploaded if live else 0)
            promised += max(0, int(c["size"]) - arrived)
        if free - promised - needed < self._settings.spool_min_free_bytes:
            raise InsufficientStorage(
                N_(
                    "the daemon does not have enough free disk space for this transfer ({needed} "
                    "bytes; {promised} bytes are promised to unfinished transfers)"
                ),
                needed=needed,
                promised=promised,
            )

    async def _recipient(self, room_id: str, to_username: Any) -> int | None:
        if to_username is None:
            return None
        if not isinstance(to_username, str) or not to_username:
            raise ValidationError(N_("to must be a username"))
        # Usernames are unique under name_key, so this finds one member or none.
        row = await self._db.fetch_one(
            "SELECT m.user_id FROM room_members m JOIN users u ON u.id = m.user_id "
            "WHERE m.room_id = :r AND u.username_key = :k",
            r=room_id,
            k=name_key(to_username),
        )
        if row is None:
            raise NotFound(
                N_("{to_username} is not a member of this room"), to_username=to_username
            )
        return int(columns(row)["user_id"])

    async def begin_upload(
        self, user_id: int, offer: protocol.TransferOffer, offset: int
    ) -> tuple[LiveTransfer, protocol.TransferOffer]:
        """Take the upload of ``offer`` (as just read) from ``offset``: the transfer as it is
        now, uploading (the request answers from it without reading the row again)."""
        transfer_id = offer["transfer_id"]
        await self.require_sender(offer, user_id, N_("only the sender uploads a transfer"))
        await self._guard.require_member(offer["room_id"], user_id)
        live = self.live(offer)
        if live.upload_in_progress or await self._uploading_elsewhere(offer):
            raise TransferStateError(N_("an upload of this transfer is already running"))
        if offer["state"] not in (S.OFFERED, S.UPLOADING, S.INTERRUPTED):
            raise TransferStateError(
                N_("the transfer is {state}, not waiting for data"),
                state=state_word(offer["state"]),
            )
        stored = self._stored(offer)
        if offset != stored:
            raise TransferStateError(
                N_("the upload must continue at byte {stored}, not {offset}"),
                stored=stored,
                offset=offset,
            )
        live.uploaded = stored
        live.upload_in_progress = True
        if self.spool.shared:  # the daemon taking the upload now (recover and the guard ask)
            await self._db.execute(
                "UPDATE transfers SET node_id = :node WHERE id = :id",
                node=self.node.id,
                id=transfer_id,
            )
        await self._set_state(live, S.UPLOADING)
        node = self.node.id if self.spool.shared else offer["node_id"]
        return live, self.as_now(offer, live, node)

    @staticmethod
    def as_now(
        offer: protocol.TransferOffer, live: LiveTransfer, node: str | None = None
    ) -> protocol.TransferOffer:
        """``offer`` with what this daemon changed since it was read: its state and bytes
        (and the daemon taking the upload); the rest of a transfer's row never changes."""
        now: protocol.TransferOffer = {**offer, "state": live.state, "uploaded": live.uploaded}
        if node is not None:
            now["node_id"] = node
        return now

    async def end_upload(self, live: LiveTransfer) -> None:
        """Called when the upload request ends, however it ended."""
        live.upload_in_progress = False
        state = S.UPLOADED if live.uploaded >= live.size else S.INTERRUPTED
        if live.state == S.ABORTED:
            return
        await self._set_state(live, state)

    async def record_progress(self, live: LiveTransfer) -> None:
        """Store how many bytes arrived, and that they arrived now (clean-up reads it)."""
        await self._db.execute(
            "UPDATE transfers SET uploaded = :b, updated_at = :t WHERE id = :id",
            b=live.uploaded,
            t=now_iso(),
            id=live.transfer_id,
        )

    async def _set_state(self, live: LiveTransfer, state: protocol.TransferState) -> None:
        # Never over an abort: with several daemons the abort may have been heard by another
        # one than the daemon running the upload, whose `live` does not know (bench/soak.py).
        changed = await self._db.execute(
            "UPDATE transfers SET state = :s, uploaded = :b, updated_at = :t "
            "WHERE id = :id AND state <> :aborted",
            s=state,
            b=live.uploaded,
            t=now_iso(),
            id=live.transfer_id,
            aborted=S.ABORTED,
        )
        live.set_state(state if changed else S.ABORTED)

    async def seal(
        self, user_id: int, transfer_id: str, sha256: Any, seal: Any
    ) -> protocol.TransferOffer:
        digest = check_sha256(sha256)
        sealed = check_blob(seal, "seal", protocol.TRANSFER_SEAL_MAX_BYTES)
        offer = await self.get(transfer_id)
        await self.require_sender(offer, user_id, N_("only the sender seals a transfer"))
        live = self.live(offer)
        local = self.is_local(offer) and not self.spool.shared
        state = live.state if local else offer["state"]
        if state != S.UPLOADED:
            raise TransferStateError(
                N_("the transfer is {state}: every byte must arrive first"), state=state_word(state)
            )
        await self._db.execute(
            "UPDATE transfers SET sha256 = :h, seal = :fh, state = :s, updated_at = :t "
            "WHERE id = :id AND state <> :aborted",
            h=digest,
            fh=sealed,
            s=S.SEALED,
            t=now_iso(),
            id=transfer_id,
            aborted=S.ABORTED,
        )
        live.set_state(S.SEALED)
        return await self.get(transfer_id)

    def available_until(self) -> str:
        """Until when a transfer sealed now stays in the spool for late receivers."""
        return to_iso(datetime.now(UTC) + timedelta(seconds=self._settings.transfer_retention))

    async def header(self, user_id: int, transfer_id: str) -> protocol.TransferHeader:
        """The sender's signed header (and seal, once sealed), for whoever may see the transfer:
        opaque blobs the daemon hands on as they came."""
        await self.visible(user_id, transfer_id)
        return await self.signed_blobs(transfer_id)

    async def signed_blobs(self, transfer_id: str) -> protocol.TransferHeader:
        """The header and seal of a transfer whose visibility the caller has checked."""
        row = await self._db.fetch_one(
            "SELECT header, seal FROM transfers WHERE id = :id", id=transfer_id
        )
        if row is None:
            raise NotFound(N_("no transfer {transfer_id}"), transfer_id=transfer_id)
        c = columns(row)
        return {"header": c["header"], "seal": c["seal"]}

    async def abort(self, user_id: int, transfer_id: str) -> protocol.TransferOffer:
        offer = await self.get(transfer_id)
        await self.require_sender(offer, user_id, N_("only the sender aborts a transfer"))
        # The bytes go first: on a full disk the database write below needs the space. Object
        # storage has no full disk: the state goes first, and if the store is down now, the
        # clean-up deletes the objects of the aborted transfer later.
        if not self.spool.shared:
            await self.spool.forget(transfer_id)
        await self._db.execute(
            "UPDATE transfers SET state = :s, updated_at = :t WHERE id = :id",
            s=S.ABORTED,
            t=now_iso(),
            id=transfer_id,
        )
        if self.spool.shared:
            try:
                await self.spool.forget(transfer_id)
            except Unavailable:
                log.warning("transfer %s aborted; its objects go at the next clean-up", transfer_id)
        offer["state"] = S.ABORTED
        return offer

    # --- housekeeping ----------------------------------------------------------------------
    async def recover(self) -> None:
        """At start-up: uploads that were running when the daemon stopped are interrupted.

        Their idle time starts now: the daemon was down, not the sender, and the sender may
        resume them for `transfer_idle_timeout` from here."""
        # In object storage, only this daemon's uploads: the others' may be running.
        mine = " AND node_id = :node" if self.spool.shared else ""
        rows = await self._db.fetch_all(
            "SELECT t.id AS transfer_id, t.size, t.uploaded, t.node_id FROM transfers t "
            f"WHERE t.state = :s{mine}",
            s=S.UPLOADING,
            **({"node": self.node.id} if mine else {}),
        )
        for row in rows:
            c = columns(row)
            transfer_id, size = c["transfer_id"], int(c["size"])
            on_disk = min(self.spool.stored(transfer_id, int(c["uploaded"])), size)
            await self._db.execute(
                "UPDATE transfers SET state = :s, uploaded = :b, updated_at = :t WHERE id = :id",
                s=S.INTERRUPTED,
                b=on_disk,
                t=now_iso(),
                id=transfer_id,
            )

    async def clean_up(self) -> int:
        """Delete finished transfers past retention, stale unfinished ones, and aborted ones."""
        now = datetime.now(UTC)
        kept_until = to_iso(now - timedelta(seconds=self._settings.transfer_retention))
        idle_since = to_iso(now - timedelta(seconds=self._settings.transfer_idle_timeout))
        # `uploading` too: a running upload records its progress every few seconds and ends
        # after the stall timeout, so one idle this long is not running (its daemon died).
        idle, params = _one_of("st", (S.OFFERED, S.UPLOADING, S.INTERRUPTED, S.UPLOADED))
        rows = await self._db.fetch_all(
            "SELECT id FROM transfers WHERE state = :aborted "
            "OR (state = :sealed AND updated_at < :kept) "
            f"OR (state IN {idle} AND updated_at < :idle)",
            aborted=S.ABORTED,
            sealed=S.SEALED,
            kept=kept_until,
            idle=idle_since,
            **params,
        )
        self.spool.keep_reserve()
        removed = 0
        for row in rows:
            transfer_id = columns(row)["id"]
            live = self.spool.known(transfer_id)
            if live is not None and live.upload_in_progress:
                continue
            await self.spool.forget(transfer_id)
            await self._db.execute("DELETE FROM transfers WHERE id = :id", id=transfer_id)
            removed += 1
        return removed
