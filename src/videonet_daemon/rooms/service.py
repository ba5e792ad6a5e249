"""Rooms and membership. The database is the truth about who belongs to which room."""

from __future__ import annotations

import uuid
from typing import Any

from videonet_daemon import protocol
from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, run
from videonet_daemon.errors import Forbidden, NotFound

_ROOM_COLUMNS = """
    r.id, r.name, r.description, u.username AS creator_name,
    (SELECT COUNT(*) FROM room_members m WHERE m.room_id = r.id) AS participant_count,
    EXISTS (SELECT 1 FROM room_members m2 WHERE m2.room_id = r.id AND m2.user_id = :me)
        AS is_joined,
    r.created_at
"""


def _room(row: Any) -> protocol.RoomInfo:
    return {
        "id": row[0],
        "name": row[1],
        "description": row[2],
        "creator_name": row[3],
        "participant_count": int(row[4]),
        "is_joined": bool(row[5]),
        "created_at": row[6],
    }


class RoomService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_rooms(self, user_id: int) -> list[protocol.RoomInfo]:
        rows = await self._db.fetch_all(
            f"SELECT {_ROOM_COLUMNS} FROM rooms r JOIN users u ON u.id = r.created_by "
            "ORDER BY r.created_at DESC, r.id",
            me=user_id,
        )
        return [_room(r) for r in rows]

    async def get(self, room_id: str, user_id: int) -> protocol.RoomInfo:
        row = await self._db.fetch_one(
            f"SELECT {_ROOM_COLUMNS} FROM rooms r JOIN users u ON u.id = r.created_by "
            "WHERE r.id = :rid",
            me=user_id,
            rid=room_id,
        )
        if row is None:
            raise NotFound(f"no room with id {room_id}")
        return _room(row)

    async def create(self, user_id: int, name: str, description: str) -> protocol.RoomInfo:
        room_id = str(uuid.uuid4())
        now = now_iso()
        async with self._db.transaction() as conn:
            await run(
                conn,
                "INSERT INTO rooms (id, name, description, created_by, created_at) "
                "VALUES (:id, :n, :d, :u, :t)",
                id=room_id,
                n=name,
                d=description,
                u=user_id,
                t=now,
            )
            await run(
                conn,
                "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (:r, :u, :t)",
                r=room_id,
                u=user_id,
                t=now,
            )
        return await self.get(room_id, user_id)

    async def join(self, room_id: str, user_id: int) -> protocol.RoomInfo:
        await self.get(room_id, user_id)  # 404 before anything else
        async with self._db.transaction() as conn:
            await run(
                conn,
                "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (:r, :u, :t) "
                "ON CONFLICT (room_id, user_id) DO NOTHING",
                r=room_id,
                u=user_id,
                t=now_iso(),
            )
        return await self.get(room_id, user_id)

    async def leave(self, room_id: str, user_id: int) -> bool:
        """Leave the room; return whether the user was a member."""
        await self.get(room_id, user_id)
        removed = await self._db.execute(
            "DELETE FROM room_members WHERE room_id = :r AND user_id = :u", r=room_id, u=user_id
        )
        return removed > 0

    async def is_member(self, room_id: str, user_id: int) -> bool:
        row = await self._db.fetch_one(
            "SELECT 1 FROM room_members WHERE room_id = :r AND user_id = :u", r=room_id, u=user_id
        )
        return row is not None

    async def require_member(self, room_id: str, user_id: int) -> None:
        """404 if the room does not exist, 403 if the user is not in it."""
        if await self.is_member(room_id, user_id):
            return
        await self.get(room_id, user_id)
        raise Forbidden("you are not a member of this room")

    async def members(self, room_id: str, user_id: int) -> list[protocol.MemberInfo]:
        await self.require_member(room_id, user_id)
        rows = await self._db.fetch_all(
            "SELECT m.user_id, u.username, m.joined_at FROM room_members m "
            "JOIN users u ON u.id = m.user_id WHERE m.room_id = :r ORDER BY m.joined_at, u.id",
            r=room_id,
        )
        return [{"user_id": int(r[0]), "username": r[1], "joined_at": r[2]} for r in rows]
