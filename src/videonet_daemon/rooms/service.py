"""Rooms and membership. The database is the truth about who belongs to which room."""

from __future__ import annotations

import uuid

from videonet_daemon import protocol
from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, Record, columns, run
from videonet_daemon.errors import NotFound

_ROOM_COLUMNS = """
    r.id, r.name, r.description, u.username AS creator_name,
    (SELECT COUNT(*) FROM room_members m WHERE m.room_id = r.id) AS participant_count,
    EXISTS (SELECT 1 FROM room_members m2 WHERE m2.room_id = r.id AND m2.user_id = :me)
        AS is_joined,
    r.created_at
"""


def _room(row: Record) -> protocol.RoomInfo:
    c = columns(row)
    return {
        "id": c["id"],
        "name": c["name"],
        "description": c["description"],
        "creator_name": c["creator_name"],
        "participant_count": int(c["participant_count"]),
        "is_joined": bool(c["is_joined"]),
        "created_at": c["created_at"],
    }


class RoomService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def count(self) -> int:
        row = await self._db.fetch_one("SELECT COUNT(*) AS n FROM rooms")
        return int(columns(row)["n"]) if row else 0

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

    async def share_a_room(self, user_id: int, other_id: int) -> bool:
        """Whether the two users are members of at least one room together."""
        row = await self._db.fetch_one(
            "SELECT 1 FROM room_members a JOIN room_members b ON b.room_id = a.room_id "
            "WHERE a.user_id = :a AND b.user_id = :b LIMIT 1",
            a=user_id,
            b=other_id,
        )
        return row is not None

    async def members(self, room_id: str) -> list[protocol.MemberInfo]:
        """Everyone in the room (the caller has asked the room guard whether they may see it)."""
        rows = await self._db.fetch_all(
            "SELECT m.user_id, u.username, m.joined_at FROM room_members m "
            "JOIN users u ON u.id = m.user_id WHERE m.room_id = :r ORDER BY m.joined_at, u.id",
            r=room_id,
        )
        found = [columns(r) for r in rows]
        return [
            {"user_id": int(c["user_id"]), "username": c["username"], "joined_at": c["joined_at"]}
            for c in found
        ]
