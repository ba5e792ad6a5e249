"""Rooms and membership. The database is the truth about who belongs to which room.

Room names are unique under `names.name_key` (case and look-alike letters folded). A room is
public (every account sees and may join it) or private (only members see it; members add
others). To a stranger, a private room does not exist: 404, never 403, on its id.

A direct room (`videonet send @ben`) is the private room of two accounts: one per pair, found or
made by `direct` (the pair's unique `direct_key` makes a concurrent second one impossible),
named "@ana @ben" (names starting with "@" are kept for them), never holding a third member,
never renamed. Opening new ones is limited per account and day.
"""

from __future__ import annotations

import base64
import uuid

from sqlalchemy.exc import IntegrityError

from videonet_daemon import invites
from videonet_daemon.clock import iso_after, now_iso
from videonet_daemon.db.engine import Database, Record, columns, run
from videonet_daemon.errors import (
    Conflict,
    Forbidden,
    InvalidInvite,
    NotFound,
    RateLimited,
    ValidationError,
)
from videonet_daemon.i18n import N_
from videonet_protocol import protocol
from videonet_protocol.names import BadName, clean_room_name, close_names, name_key

_ROOM_COLUMNS = """
    r.id, r.name, r.description, r.private, r.created_by, u.username AS creator_name,
    (SELECT COUNT(*) FROM room_members m WHERE m.room_id = r.id) AS participant_count,
    EXISTS (SELECT 1 FROM room_members m2 WHERE m2.room_id = r.id AND m2.user_id = :me)
        AS is_joined,
    r.created_at
"""
_FROM = "FROM rooms r JOIN users u ON u.id = r.created_by"
# The rooms a user may see: every public room, and the private ones they are in.
_VISIBLE = (
    "(r.private = FALSE OR EXISTS (SELECT 1 FROM room_members v "
    "WHERE v.room_id = r.id AND v.user_id = :me))"
)
_MINE = "EXISTS (SELECT 1 FROM room_members w WHERE w.room_id = r.id AND w.user_id = :me)"


def _room(row: Record) -> protocol.RoomInfo:
    c = columns(row)
    return {
        "id": c["id"],
        "name": c["name"],
        "description": c["description"],
        "creator_name": c["creator_name"],
        "creator_id": int(c["created_by"]),
        "participant_count": int(c["participant_count"]),
        "is_joined": bool(c["is_joined"]),
        "private": bool(c["private"]),
        "created_at": c["created_at"],
    }


def _cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _after(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except ValueError as exc:
        raise ValidationError(N_("cursor is not one this daemon gave out")) from exc


DIRECT_PREFIX = protocol.DIRECT_ROOM_PREFIX  # direct rooms' names start with it, no other's
DIRECT_ROOM_FULL = N_("a direct room holds its two people only: it cannot be given a third member")
DAY_SECONDS = 24 * 3600


class RoomService:
    def __init__(self, db: Database, max_rooms: int, direct_per_day: int = 50) -> None:
        self._db = db
        self._max_rooms = max_rooms  # rooms one account may be a member of
        self._direct_per_day = direct_per_day  # direct rooms one account may open per day

    async def count(self) -> int:
        row = await self._db.fetch_one("SELECT COUNT(*) AS n FROM rooms")
        return int(columns(row)["n"]) if row else 0

    async def list_rooms(
        self, user_id: int, *, limit: int, cursor: str | None = None, mine: bool = False
    ) -> protocol.RoomsPage:
        """One page of the rooms the user may see (only theirs with `mine`), in name order."""
        where = [_MINE if mine else _VISIBLE]
        params: dict[str, object] = {"me": user_id, "n": limit + 1}
        if cursor:
            where.append("r.name_key > :after")
            params["after"] = _after(cursor)
        rows = await self._db.fetch_all(
            f"SELECT {_ROOM_COLUMNS}, r.name_key {_FROM} WHERE {' AND '.join(where)} "
            "ORDER BY r.name_key LIMIT :n",
            **params,
        )
        page = rows[:limit]
        more = len(rows) > limit
        return {
            "rooms": [_room(r) for r in page],
            "next_cursor": _cursor(columns(page[-1])["name_key"]) if more and page else None,
        }

    async def get(self, room_id: str, user_id: int) -> protocol.RoomInfo:
        """The room, if it exists and the user may see it (else 404, for private ones too)."""
        row = await self._db.fetch_one(
            f"SELECT {_ROOM_COLUMNS} {_FROM} WHERE r.id = :rid AND {_VISIBLE}",
            me=user_id,
            rid=room_id,
        )
        if row is None:
            raise NotFound(N_("no room with id {room_id}"), room_id=room_id)
        return _room(row)

    async def lookup(self, ref: str, user_id: int) -> protocol.RoomInfo:
        """A room the user may see, by id or by name; a miss names close ones."""
        row = await self._db.fetch_one(
            f"SELECT {_ROOM_COLUMNS} {_FROM} WHERE (r.id = :ref OR r.name_key = :k) AND {_VISIBLE} "
            "ORDER BY CASE WHEN r.id = :ref THEN 0 ELSE 1 END LIMIT 1",
            me=user_id,
            ref=ref,
            k=name_key(ref),
        )
        if row is not None:
            return _room(row)
        # Only on a miss: the names of every visible room (tens of ms at 5,000 rooms).
        rows = await self._db.fetch_all(
            f"SELECT r.name, r.name_key FROM rooms r WHERE {_VISIBLE}", me=user_id
        )
        names = [(str(columns(r)["name"]), str(columns(r)["name_key"])) for r in rows]
        close = close_names(ref, names)
        if close:
            raise NotFound(
                N_("no room named {ref}; did you mean {names}?"),
                ref=repr(ref),
                names=", ".join(repr(n) for n in close),
            )
        raise NotFound(N_("no room named {ref}"), ref=repr(ref))

    async def create(
        self, user_id: int, name: str, description: str, private: bool = False
    ) -> protocol.RoomInfo:
        room_id = str(uuid.uuid4())
        name = _room_name(name)
        now = now_iso()
        try:
            async with self._db.transaction() as conn:
                rooms = await run(
                    conn, "SELECT COUNT(*) FROM room_members WHERE user_id = :u", u=user_id
                )
                if int(rooms.scalar_one()) >= self._max_rooms:
                    raise Conflict(
                        N_(
                            "you are in {max_rooms} rooms, the most this daemon allows; leave one "
                            "first"
                        ),
                        max_rooms=self._max_rooms,
                    )
                await run(
                    conn,
                    "INSERT INTO rooms (id, name, name_key, description, private, created_by, "
                    "created_at) VALUES (:id, :n, :k, :d, :p, :u, :t)",
                    id=room_id,
                    n=name,
                    k=name_key(name),
                    d=description,
                    p=private,
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
        except IntegrityError as exc:
            raise Conflict(N_("a room named {name} already exists"), name=repr(name)) from exc
        return await self.get(room_id, user_id)

    async def _own(self, room_id: str, user_id: int) -> protocol.RoomInfo:
        room = await self.get(room_id, user_id)
        if room["creator_id"] != user_id:
            raise Forbidden(N_("only the room's creator may do that"))
        return room

    async def rename(self, room_id: str, user_id: int, name: str) -> protocol.RoomInfo:
        await self._own(room_id, user_id)
        await self.refuse_direct(
            room_id, N_("a direct room holds its two people only: it cannot be renamed")
        )
        name = _room_name(name)
        try:
            await self._db.execute(
                "UPDATE rooms SET name = :n, name_key = :k WHERE id = :r",
                n=name,
                k=name_key(name),
                r=room_id,
            )
        except IntegrityError as exc:
            raise Conflict(N_("a room named {name} already exists"), name=repr(name)) from exc
        return await self.get(room_id, user_id)

    async def delete(self, room_id: str, user_id: int) -> tuple[protocol.RoomInfo, list[str]]:
        """Delete the room with its members, messages and transfers (creator only); return it
        and the ids of its transfers, whose bytes the daemons must now drop from their spools."""
        room = await self._own(room_id, user_id)
        async with self._db.transaction() as conn:
            rows = await run(conn, "SELECT id FROM transfers WHERE room_id = :r", r=room_id)
            transfer_ids = [str(columns(row)["id"]) for row in rows]
            await run(conn, "DELETE FROM rooms WHERE id = :r", r=room_id)
        return room, transfer_ids

    async def join(self, room_id: str, user_id: int) -> protocol.RoomInfo:
        await self.get(room_id, user_id)  # 404 before anything else (private rooms too)
        if not await self.is_member(room_id, user_id):
            await self.refuse_direct(
                room_id, N_("a direct room holds its two people only: it cannot be joined")
            )
        await self._add(room_id, user_id)
        return await self.get(room_id, user_id)

    async def invite(self, room_id: str, username: str) -> protocol.MemberInfo:
        """Add an account to the room (the caller is a member: the room guard said so)."""
        await self.refuse_direct(room_id, DIRECT_ROOM_FULL)
        row = await self._db.fetch_one(
            "SELECT id, username FROM users WHERE username_key = :k", k=name_key(username)
        )
        if row is None:
            raise NotFound(N_("no account is named {username}"), username=repr(username))
        user_id = int(columns(row)["id"])
        await self._add(room_id, user_id)
        return next(m for m in await self.members(room_id) if m["user_id"] == user_id)

    async def redeem(self, code: str, user_id: int) -> protocol.InvitedRoom:
        """Take one use of a room's invite for an account that exists, and make it a member
        (both in one transaction: a refused join leaves the invite as it was)."""
        async with self._db.transaction() as conn:
            invite_id, room_id = await invites.consume(conn, code)
            if room_id is None:
                raise InvalidInvite(
                    N_(
                        "this invite is for making an account, and you have one: "
                        "it names no room to join"
                    )
                )
            await invites.redeemed_by(conn, invite_id, user_id)
            return await invites.enter_room(conn, room_id, user_id, self._max_rooms)

    async def refuse_direct(self, room_id: str, refusal: str) -> None:
        """403 if the room is a direct room (it holds its two people only)."""
        row = await self._db.fetch_one(
            "SELECT 1 FROM rooms WHERE id = :r AND direct_key IS NOT NULL", r=room_id
        )
        if row is not None:
            raise Forbidden(refusal)

    async def direct(self, user_id: int, username: str) -> tuple[protocol.RoomInfo, bool]:
        """The direct room of the caller and ``username``, made if there is none; and whether
        it was made now. Both are made members again if one of them had left it."""
        row = await self._db.fetch_one(
            "SELECT id, username FROM users WHERE username_key = :k AND disabled_at IS NULL",
            k=name_key(username),
        )
        if row is None:
            raise NotFound(N_("no account is named {username}"), username=repr(username))
        other_id, other_name = int(columns(row)["id"]), str(columns(row)["username"])
        if other_id == user_id:
            raise ValidationError(N_("a direct room is with someone else: name another account"))
        low, high = sorted((user_id, other_id))
        key = f"{low}:{high}"
        room_id = await self._direct_id(key)
        made = False
        if room_id is None:
            try:
                room_id = await self._make_direct(key, user_id, other_id, other_name)
                made = True
            except IntegrityError as exc:  # made meanwhile by the other request: use it
                room_id = await self._direct_id(key)
                if room_id is None:
                    raise Conflict(N_("a room already has this direct room's name")) from exc
        if not made:
            for member in (user_id, other_id):
                await self._add(room_id, member)
        return await self.get(room_id, user_id), made

    async def _direct_id(self, key: str) -> str | None:
        row = await self._db.fetch_one("SELECT id FROM rooms WHERE direct_key = :k", k=key)
        return None if row is None else str(columns(row)["id"])

    async def _make_direct(self, key: str, user_id: int, other_id: int, other_name: str) -> str:
        room_id = str(uuid.uuid4())
        now = now_iso()
        async with self._db.transaction() as conn:
            me = await run(conn, "SELECT username FROM users WHERE id = :u", u=user_id)
            names = sorted([str(me.scalar_one()), other_name], key=name_key)
            name = " ".join(DIRECT_PREFIX + n for n in names)
            opened = await run(
                conn,
                "SELECT COUNT(*) FROM rooms WHERE created_by = :u AND direct_key IS NOT NULL "
                "AND created_at > :since",
                u=user_id,
                since=iso_after(-DAY_SECONDS),
            )
            if int(opened.scalar_one()) >= self._direct_per_day:
                raise RateLimited(
                    3600,
                    N_(
                        "you opened {direct_per_day} direct rooms in the last 24 hours, the most "
                        "this daemon allows; try again later"
                    ),
                    direct_per_day=self._direct_per_day,
                )
            await run(
                conn,
                "INSERT INTO rooms (id, name, name_key, description, private, created_by, "
                "created_at, direct_key) VALUES (:id, :n, :k, '', TRUE, :u, :t, :dk)",
                id=room_id,
                n=name,
                k=name_key(name),
                u=user_id,
                t=now,
                dk=key,
            )
            for member in (user_id, other_id):
                added = await run(
                    conn,
                    "INSERT INTO room_members (room_id, user_id, joined_at) SELECT :r, :m, :t "
                    "WHERE (SELECT COUNT(*) FROM room_members WHERE user_id = :m) < :most",
                    r=room_id,
                    m=member,
                    t=now,
                    most=self._max_rooms,
                )
                if added.rowcount == 0:
                    if member == user_id:
                        raise Conflict(
                            N_(
                                "you are in {max_rooms} rooms, the most this daemon allows; "
                                "leave one first"
                            ),
                            max_rooms=self._max_rooms,
                        )
                    raise Conflict(
                        N_(
                            "{username} is in {max_rooms} rooms, the most this daemon allows; "
                            "they must leave one first"
                        ),
                        username=other_name,
                        max_rooms=self._max_rooms,
                    )
        return room_id

    async def _add(self, room_id: str, user_id: int) -> None:
        # The count and the insert are one statement, so a burst of joins cannot pass the cap.
        added = await self._db.execute(
            "INSERT INTO room_members (room_id, user_id, joined_at) SELECT :r, :u, :t "
            "WHERE (SELECT COUNT(*) FROM room_members WHERE user_id = :u) < :most "
            "ON CONFLICT (room_id, user_id) DO NOTHING",
            r=room_id,
            u=user_id,
            t=now_iso(),
            most=self._max_rooms,
        )
        if added == 0 and not await self.is_member(room_id, user_id):
            raise Conflict(
                N_(
                    "the account is in {max_rooms} rooms, the most this daemon allows; it must "
                    "leave one first"
                ),
                max_rooms=self._max_rooms,
            )

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


def _room_name(raw: str) -> str:
    try:
        name = clean_room_name(raw)
    except BadName as exc:
        raise ValidationError(exc.template, **exc.params) from exc
    if name.startswith(DIRECT_PREFIX):
        raise ValidationError(
            N_(
                "room names starting with {direct_prefix} are kept for direct rooms (`videonet "
                "send @USER`)"
            ),
            direct_prefix=repr(DIRECT_PREFIX),
        )
    return name
