"""Chat messages in the database: checking text, storing, catching up after a gap, paging history.

Text rules (docs/chat.md): line breaks are normalised to ``\\n``; any other control character
(C0, DEL, C1) or a lone surrogate is refused with `InvalidText` rather than silently removed, so
what the sender sees acknowledged is exactly what the others receive, and no terminal escape
sequence ever reaches another member's screen. Format characters such as the zero-width joiner
stay allowed: emoji sequences and right-to-left scripts need them.
"""

from __future__ import annotations

import asyncio
import unicodedata
from typing import Any

from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, Record, columns, run
from videonet_daemon.errors import InvalidText, TextTooLong, ValidationError
from videonet_daemon.i18n import N_
from videonet_protocol import protocol


class NotAMember(Exception):
    """The message was not stored: its user is not a member of the room (any more)."""

    def __init__(self, room_id: str, user_id: int) -> None:
        super().__init__(f"user {user_id} is not a member of room {room_id}")
        self.room_id = room_id
        self.user_id = user_id


_ALLOWED_CONTROLS = frozenset("\n\t")
# Rows per INSERT when messages queue up (4 parameters each; SQLite allows 32,766).
_MAX_BATCH = 500

_COLUMNS = "m.id, m.room_id, m.user_id, u.username, m.text, m.created_at"
_FROM = "FROM chat_messages m JOIN users u ON u.id = m.user_id"


def check_text(value: Any, max_chars: int) -> str:
    """The message text as it will be stored, or the ApiError that refuses it."""
    if value is None:
        raise ValidationError(N_("text is required"))
    if not isinstance(value, str):
        raise ValidationError(N_("text must be a string"))
    # Refuse the length first: the rest of the work is linear in it.
    if len(value) > max_chars:
        raise TextTooLong(
            N_("text must be at most {max_chars} characters (got {length})"),
            max_chars=max_chars,
            length=len(value),
        )
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    for ch in text:
        if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cs"):
            raise InvalidText(
                N_(
                    "text contains the control character U+{value}; only newline and tab are "
                    "allowed"
                ),
                value=format(ord(ch), "04X"),
            )
    if not text.strip():
        raise ValidationError(N_("text must not be empty"))
    return text


def _message(row: Record) -> protocol.ChatMessage:
    c = columns(row)
    return {
        "id": int(c["id"]),
        "room_id": c["room_id"],
        "user_id": int(c["user_id"]),
        "username": c["username"],
        "text": c["text"],
        "created_at": c["created_at"],
    }


class ChatService:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[tuple[str, int, str, str], asyncio.Future[int | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(
        self, room_id: str, user_id: int, username: str, text: str
    ) -> protocol.ChatMessage:
        """Store one message (committed when this returns) and return it with its id, or
        raise `NotAMember` if the user is not a member of the room when it is written.

        Membership is checked by the statement that stores the message, so a message is never
        stored for someone who left or was removed a moment before, and a batch of messages
        costs one statement, not one membership read each (the room guard still checks the
        socket's channel first; docs/architecture.md).

        Group commit: messages that arrive while a write is in flight are stored together in
        the next INSERT. Under load that turns hundreds of small transactions a second, each a
        few round trips to the database thread, into a few larger ones, which keeps the
        single SQLite connection from becoming the queue every message waits in.
        """
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        created_at = now_iso()
        self._pending.append(((room_id, user_id, text, created_at), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        message_id = await future
        if message_id is None:
            raise NotAMember(room_id, user_id)
        return {
            "id": message_id,
            "room_id": room_id,
            "user_id": user_id,
            "username": username,
            "text": text,
            "created_at": created_at,
        }

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
            try:
                ids = await self._insert([row for row, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), message_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(message_id)

    async def _insert(self, rows: list[tuple[str, int, str, str]]) -> list[int | None]:
        """One INSERT for the batch, each row only if its user is a member of its room then;
        the ids in the order of ``rows``, None where the row was refused."""
        values = ", ".join(
            f"(CAST({i} AS INTEGER), CAST(:r{i} AS TEXT), CAST(:u{i} AS INTEGER), "
            f"CAST(:t{i} AS TEXT), CAST(:c{i} AS TEXT))"
            for i in range(len(rows))
        )
        params: dict[str, Any] = {}
        for i, (room_id, user_id, text, created_at) in enumerate(rows):
            params.update({f"r{i}": room_id, f"u{i}": user_id, f"t{i}": text, f"c{i}": created_at})
        # The membership test is a semi-join, which may reorder rows: ORDER BY keeps the ids in
        # arrival order.
        sql = (
            f"WITH v (n, r, u, t, c) AS (VALUES {values}) "
            "INSERT INTO chat_messages (room_id, user_id, text, created_at) "
            "SELECT r, u, t, c FROM v WHERE EXISTS "
            "(SELECT 1 FROM room_members m WHERE m.room_id = v.r AND m.user_id = v.u) "
            "ORDER BY n RETURNING id, room_id, user_id, text, created_at"
        )
        async with self._db.transaction() as conn:
            if self._db.is_sqlite:
                # aiosqlite runs each cursor call as a round trip to its thread (cursor, execute,
                # fetch, close); its execute_fetchall is one. Under CPU contention every round
                # trip waits for the GIL and a time slice, and all messages wait for this write.
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                returned: Any = await driver.execute_fetchall(sql, params)
            else:
                returned = (await run(conn, sql, **params)).all()
        # RETURNING's order is unspecified: give each row the id stored with its own values
        # (rows with equal values are interchangeable; among them the smaller id goes first).
        stored: dict[tuple[str, int, str, str], list[int]] = {}
        for row in sorted(returned, key=lambda row: int(row[0]), reverse=True):
            key = (str(row[1]), int(row[2]), str(row[3]), str(row[4]))
            stored.setdefault(key, []).append(int(row[0]))
        result = [stored[row].pop() if stored.get(row) else None for row in rows]
        if any(stored.values()):
            raise RuntimeError("the database returned chat messages that were not sent")
        return result

    async def after(
        self, room_id: str, after_id: int, limit: int
    ) -> tuple[list[protocol.ChatMessage], bool]:
        """Messages with an id above ``after_id``, oldest first: the newest ``limit`` of them,
        and whether older ones were left out."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} {_FROM} WHERE m.room_id = :r AND m.id > :a "
            "ORDER BY m.id DESC LIMIT :n",
            r=room_id,
            a=after_id,
            n=limit + 1,
        )
        truncated = len(rows) > limit
        return [_message(r) for r in reversed(rows[:limit])], truncated

    async def page(
        self, room_id: str, before: int | None, limit: int
    ) -> tuple[list[protocol.ChatMessage], bool]:
        """The ``limit`` newest messages older than ``before`` (all if None), oldest first,
        and whether even older ones exist."""
        where = "m.room_id = :r" + (" AND m.id < :b" if before is not None else "")
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} {_FROM} WHERE {where} ORDER BY m.id DESC LIMIT :n",
            r=room_id,
            b=before,
            n=limit + 1,
        )
        has_more = len(rows) > limit
        return [_message(r) for r in reversed(rows[:limit])], has_more
