"""What the operator does on the daemon's host, straight in the database (the daemon may run):
list and revoke invites, list users, disable and re-enable them, reset a password.

Used by `videonet-daemon invite …` and `videonet-daemon users …`. A user is named by username,
email or id. Ending a user's sessions deletes their rows, so every later request with their
token is refused (401) at once, on every daemon sharing the database.
"""

from __future__ import annotations

from typing import Any

from videonet_daemon import invites
from videonet_daemon.auth.passwords import hash_password
from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, columns


class OperatorError(Exception):
    """One line for the operator (exit 1); `NoSuchThing` for what does not exist (exit 4)."""


class NoSuchThing(OperatorError):
    pass


async def list_invites(db: Database) -> list[dict[str, Any]]:
    """Every invite, newest first, with who made it ("operator" for the daemon's own)."""
    rows = await db.fetch_all(
        "SELECT i.code, i.uses_left, i.max_uses, i.expires_at, i.created_at, u.username "
        "FROM invites i LEFT JOIN users u ON u.id = i.created_by "
        "ORDER BY i.created_at DESC, i.id DESC"
    )
    found = []
    now = now_iso()
    for row in rows:
        c = columns(row)
        expired = c["expires_at"] is not None and c["expires_at"] <= now
        found.append(
            {
                "code": c["code"],
                "created_by": c["username"] or "operator",
                "uses_left": int(c["uses_left"]),
                "max_uses": int(c["max_uses"]),
                "expires_at": c["expires_at"],
                "created_at": c["created_at"],
                "usable": int(c["uses_left"]) > 0 and not expired,
            }
        )
    return found


async def revoke_invite(db: Database, code: str) -> None:
    """No use is left of it afterwards (the row stays, so its redemptions keep their invite)."""
    changed = await db.execute(
        "UPDATE invites SET uses_left = 0 WHERE code = :c", c=invites.normalize_code(code)
    )
    if not changed:
        raise NoSuchThing(f"no invite {code}")


async def list_users(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "SELECT u.id, u.username, u.email, u.created_at, u.disabled_at, "
        "(SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id) AS sessions "
        "FROM users u ORDER BY u.id"
    )
    return [
        {
            "id": int(c["id"]),
            "username": c["username"],
            "email": c["email"],
            "created_at": c["created_at"],
            "disabled": c["disabled_at"] is not None,
            "disabled_at": c["disabled_at"],
            "sessions": int(c["sessions"]),
        }
        for c in map(columns, rows)
    ]


async def find_user(db: Database, who: str) -> dict[str, Any]:
    """The one user named by ``who`` (id, email or username); an ambiguous username fails."""
    users = await list_users(db)
    if who.isdigit():
        matches = [u for u in users if u["id"] == int(who)]
    elif "@" in who:
        matches = [u for u in users if u["email"] == who.strip().lower()]
    else:
        matches = [u for u in users if u["username"] == who]
    if not matches:
        raise NoSuchThing(f"no user {who}")
    if len(matches) > 1:
        ids = ", ".join(str(u["id"]) for u in matches)
        raise OperatorError(f"{len(matches)} users are called {who} (ids {ids}): name one by id")
    return matches[0]


async def set_disabled(db: Database, who: str, disabled: bool) -> dict[str, Any]:
    """Disable (their sessions end, login is refused) or enable a user again."""
    user = await find_user(db, who)
    await db.execute(
        "UPDATE users SET disabled_at = :t WHERE id = :u",
        t=now_iso() if disabled else None,
        u=user["id"],
    )
    if disabled:
        await end_sessions(db, user["id"])
    return await find_user(db, str(user["id"]))


async def end_sessions(db: Database, user_id: int) -> int:
    return await db.execute("DELETE FROM sessions WHERE user_id = :u", u=user_id)


async def reset_password(db: Database, who: str, bcrypt_rounds: int) -> tuple[dict[str, Any], str]:
    """Set a new random password and end every session; return it (shown once)."""
    user = await find_user(db, who)
    password = invites.new_code()  # 80 random bits, in groups that are easy to read out
    await db.execute(
        "UPDATE users SET password_hash = :h WHERE id = :u",
        h=await hash_password(password, bcrypt_rounds),
        u=user["id"],
    )
    await end_sessions(db, user["id"])
    return user, password
