"""Chat messages in the database: checking text, storing, catching up after a gap, paging history.

Text rules (docs/chat.md): line breaks are normalised to ``\\n``; any other control character
(C0, DEL, C1) or a lone surrogate is refused with `InvalidText` rather than silently removed, so
what the sender sees acknowledged is exactly what the others receive, and no terminal escape
sequence ever reaches another member's screen. Format characters such as the zero-width joiner
stay allowed: emoji sequences and right-to-left scripts need them.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from videonet_daemon import protocol
from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, run
from videonet_daemon.errors import InvalidText, TextTooLong, ValidationError

_ALLOWED_CONTROLS = frozenset("\n\t")

_COLUMNS = "m.id, m.room_id, m.user_id, u.username, m.text, m.created_at"
_FROM = "FROM chat_messages m JOIN users u ON u.id = m.user_id"


def check_text(value: Any, max_chars: int) -> str:
    """The message text as it will be stored, or the ApiError that refuses it."""
    if value is None:
        raise ValidationError("text is required")
    if not isinstance(value, str):
        raise ValidationError("text must be a string")
    # Refuse the length first: the rest of the work is linear in it.
    if len(value) > max_chars:
        raise TextTooLong(f"text must be at most {max_chars} characters (got {len(value)})")
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    for ch in text:
        if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cs"):
            raise InvalidText(
                f"text contains the control character U+{ord(ch):04X}; "
                "only newline and tab are allowed"
            )
    if not text.strip():
        raise ValidationError("text must not be empty")
    return text


def _message(row: Any) -> protocol.ChatMessage:
    return {
        "id": int(row[0]),
        "room_id": row[1],
        "user_id": int(row[2]),
        "username": row[3],
        "text": row[4],
        "created_at": row[5],
    }


class ChatService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, room_id: str, user_id: int, username: str, text: str
    ) -> protocol.ChatMessage:
        """Store one message (committed when this returns) and return it with its id."""
        created_at = now_iso()
        async with self._db.transaction() as conn:
            result = await run(
                conn,
                "INSERT INTO chat_messages (room_id, user_id, text, created_at) "
                "VALUES (:r, :u, :t, :c) RETURNING id",
                r=room_id,
                u=user_id,
                t=text,
                c=created_at,
            )
            message_id = int(result.scalar_one())
        return {
            "id": message_id,
            "room_id": room_id,
            "user_id": user_id,
            "username": username,
            "text": text,
            "created_at": created_at,
        }

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
