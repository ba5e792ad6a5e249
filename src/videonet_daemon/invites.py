"""Invite codes: made by users (and offline by the operator), consumed by one conditional write.

An invite may name a room (`videonet invite --room`): whoever registers with it, or redeems it
with an account they have, becomes a member of that room in the transaction that takes the use.
A room's invite goes with the room.
"""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncConnection

from videonet_daemon.clock import iso_after, now_iso
from videonet_daemon.db.engine import Database, Record, columns, run
from videonet_daemon.errors import Conflict, InvalidInvite
from videonet_daemon.i18n import N_
from videonet_protocol import protocol

# Crockford-style alphabet without look-alikes (no I, L, O, U, 0, 1): 4 groups of 4 = 80 bits.
_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
_GROUPS = 4
_GROUP_LEN = 4


def new_code() -> str:
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP_LEN))
    return "-".join(chars[i : i + _GROUP_LEN] for i in range(0, len(chars), _GROUP_LEN))


def normalize_code(code: str) -> str:
    """Accept codes typed in lower case, with spaces or without dashes."""
    compact = "".join(ch for ch in code.upper() if ch.isalnum())
    return "-".join(compact[i : i + _GROUP_LEN] for i in range(0, len(compact), _GROUP_LEN))


async def create(
    conn: AsyncConnection,
    created_by: int | None,
    uses: int,
    expires_in: int | None,
    room_id: str | None = None,
) -> str:
    code = new_code()
    await run(
        conn,
        "INSERT INTO invites (code, created_by, max_uses, uses_left, expires_at, created_at, "
        "room_id) VALUES (:code, :by, :uses, :uses, :exp, :now, :room)",
        code=code,
        by=created_by,
        uses=uses,
        exp=iso_after(expires_in) if expires_in else None,
        now=now_iso(),
        room=room_id,
    )
    return code


async def usable_count(conn: AsyncConnection, created_by: int) -> int:
    """How many of this account's invites can still be used (uses left, not expired)."""
    found = await run(
        conn,
        "SELECT COUNT(*) FROM invites WHERE created_by = :by AND uses_left > 0 "
        "AND (expires_at IS NULL OR expires_at > :now)",
        by=created_by,
        now=now_iso(),
    )
    return int(found.scalar_one())


async def create_standalone(db: Database, uses: int, expires_in: int | None) -> str:
    """An operator's invite (no creating user), e.g. from `videonet-daemon invite create`."""
    async with db.transaction() as conn:
        return await create(conn, None, uses, expires_in)


async def precheck(db: Database, code: str) -> None:
    """A cheap early 400 before any bcrypt work; `consume` is the check that binds."""
    row = await db.fetch_one(
        "SELECT uses_left, expires_at FROM invites WHERE code = :c", c=normalize_code(code)
    )
    _raise_if_unusable(row)


def _raise_if_unusable(row: Record | None) -> None:
    if row is None:
        raise InvalidInvite(N_("unknown invite code"))
    found = columns(row)
    if found["uses_left"] <= 0:
        raise InvalidInvite(N_("this invite code has been used up"))
    expires_at = found["expires_at"]
    if expires_at is not None and expires_at <= now_iso():
        raise InvalidInvite(N_("this invite code has expired"))


async def consume(conn: AsyncConnection, code: str) -> tuple[int, str | None]:
    """Take one use of ``code`` in the caller's transaction; return the invite's id and room
    (None for an invite to the daemon only), or raise 400.

    One conditional UPDATE, so concurrent registrations cannot both take the last use.
    """
    code = normalize_code(code)
    result = await run(
        conn,
        "UPDATE invites SET uses_left = uses_left - 1 "
        "WHERE code = :c AND uses_left > 0 AND (expires_at IS NULL OR expires_at > :now) "
        "RETURNING id, room_id",
        c=code,
        now=now_iso(),
    )
    row = result.first()
    if row is None:
        found = await run(conn, "SELECT uses_left, expires_at FROM invites WHERE code = :c", c=code)
        _raise_if_unusable(found.first())
        raise InvalidInvite()
    taken = columns(row)
    return int(taken["id"]), taken["room_id"]


async def redeemed_by(conn: AsyncConnection, invite_id: int, user_id: int) -> None:
    """Record who took a use of the invite (one row per account and invite)."""
    await run(
        conn,
        "INSERT INTO invite_redemptions (invite_id, user_id, redeemed_at) VALUES (:i, :u, :t) "
        "ON CONFLICT (invite_id, user_id) DO NOTHING",
        i=invite_id,
        u=user_id,
        t=now_iso(),
    )


async def enter_room(
    conn: AsyncConnection, room_id: str, user_id: int, most_rooms: int
) -> protocol.InvitedRoom:
    """Make the invited account a member of the invite's room (in the caller's transaction);
    refused (409) when the account is already in ``most_rooms`` rooms."""
    added = await run(
        conn,
        "INSERT INTO room_members (room_id, user_id, joined_at) SELECT :r, :u, :t "
        "WHERE (SELECT COUNT(*) FROM room_members WHERE user_id = :u) < :most "
        "ON CONFLICT (room_id, user_id) DO NOTHING",
        r=room_id,
        u=user_id,
        t=now_iso(),
        most=most_rooms,
    )
    if added.rowcount == 0:
        member = await run(
            conn,
            "SELECT 1 FROM room_members WHERE room_id = :r AND user_id = :u",
            r=room_id,
            u=user_id,
        )
        if member.first() is None:
            raise Conflict(
                N_("you are in {most_rooms} rooms, the most this daemon allows; leave one first"),
                most_rooms=most_rooms,
            )
    room = await run(conn, "SELECT id, name FROM rooms WHERE id = :r", r=room_id)
    found = columns(room.one())
    return {"id": str(found["id"]), "name": str(found["name"])}


async def list_for(db: Database, user_id: int) -> list[protocol.InviteInfo]:
    rows = await db.fetch_all(
        "SELECT i.code, i.uses_left, i.max_uses, i.expires_at, i.created_at, i.room_id, "
        "r.name AS room_name FROM invites i LEFT JOIN rooms r ON r.id = i.room_id "
        "WHERE i.created_by = :u ORDER BY i.created_at DESC, i.id DESC",
        u=user_id,
    )
    found = [columns(r) for r in rows]
    return [
        {
            "code": c["code"],
            "uses_left": int(c["uses_left"]),
            "max_uses": int(c["max_uses"]),
            "expires_at": c["expires_at"],
            "created_at": c["created_at"],
            "room": {"id": c["room_id"], "name": c["room_name"]} if c["room_id"] else None,
        }
        for c in found
    ]


async def pending_bootstrap(db: Database) -> str | None:
    """The operator's first invite while nobody has registered yet (so a first start that
    failed after making it, e.g. on a port in use, shows it again instead of losing it)."""
    row = await db.fetch_one(
        "SELECT code FROM invites WHERE created_by IS NULL AND uses_left > 0 "
        "AND (expires_at IS NULL OR expires_at > :now) "
        "AND NOT EXISTS (SELECT 1 FROM users) ORDER BY id LIMIT 1",
        now=now_iso(),
    )
    return None if row is None else str(columns(row)["code"])


# PostgreSQL advisory lock taken while the first invite is made (daemons starting together).
_PG_BOOTSTRAP_LOCK = 7_701_002


async def create_bootstrap(db: Database) -> str | None:
    """The single-use first invite, if the database has no user and no invite yet.

    Several daemons starting at once on an empty database make one between them: the check
    and the insert run in one transaction that holds a lock (an advisory lock on PostgreSQL;
    on SQLite a write first, which takes the database's one write lock)."""
    async with db.transaction() as conn:
        if db.dialect == "postgresql":
            await run(conn, f"SELECT pg_advisory_xact_lock({_PG_BOOTSTRAP_LOCK})")
        else:
            await run(conn, "DELETE FROM invites WHERE 1 = 0")
        row = (
            await run(
                conn, "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM invites) AS n"
            )
        ).first()
        if row is not None and columns(row)["n"]:
            return None
        return await create(conn, None, 1, None)
