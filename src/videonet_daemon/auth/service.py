"""Accounts: register with an invite, log in (throttled), log out, and resolve a token to a user."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from videonet_daemon import invites
from videonet_daemon.auth.passwords import DummyHash, hash_password, verify_password
from videonet_daemon.auth.throttle import FailureThrottle
from videonet_daemon.auth.tokens import IssuedToken, TokenService
from videonet_daemon.clock import iso_from_epoch, now_iso
from videonet_daemon.db.engine import Database, Record, columns, run
from videonet_daemon.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    Unauthenticated,
    ValidationError,
)
from videonet_daemon.i18n import N_
from videonet_daemon.realtime.hub import Identity
from videonet_daemon.settings import Settings
from videonet_protocol import protocol
from videonet_protocol.names import BadName, clean_username, name_key

# Deliberately simple: one @, no spaces, a dot in the domain. Delivery is not our concern.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class User:
    id: int
    email: str
    username: str
    created_at: str
    language: str = ""  # the language saved for the account ("" for none: Accept-Language)

    def info(self) -> protocol.UserInfo:
        return {
            "id": self.id,
            "email": self.email,
            "username": self.username,
            "created_at": self.created_at,
        }


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > protocol.EMAIL_MAX_CHARS or not _EMAIL.match(email):
        raise ValidationError(N_("email is not a valid address"))
    return email


def _user(row: Record) -> User:
    c = columns(row)
    return User(
        id=int(c["id"]),
        email=c["email"],
        username=c["username"],
        created_at=c["created_at"],
        language=c.get("language") or "",
    )


class AuthService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        tokens: TokenService,
        bootstrap_file: Path | None = None,
    ) -> None:
        # The first invite's file in the data dir: spent (or moot) once anyone has registered,
        # which is when the daemon stops showing it, so it goes then.
        self._bootstrap_file = bootstrap_file
        self._db = db
        self._settings = settings
        self.tokens = tokens
        self.throttle = FailureThrottle(
            db,
            settings.login_failures_max,
            settings.login_failures_window,
            N_("too many failed logins; try again later"),
        )
        self.register_throttle = FailureThrottle(
            db,
            settings.register_failures_max,
            settings.register_failures_window,
            N_("too many failed sign-ups from this address; try again later"),
        )
        self._dummy = DummyHash()

    async def register(
        self, email: str, username: str, password: str, invite_code: str, client: str
    ) -> tuple[User, str, protocol.InvitedRoom | None]:
        """Create the account and its personal invite; the invite use is taken atomically, and
        an invite made for a room makes the account a member of it in the same transaction.

        The order is the defence: the fields' shape first (free), then the per-address throttle,
        then the invite, then whether the name or email is taken, and only then bcrypt. A
        stranger without an invite learns nothing and costs no hashing; every refusal after
        the throttle counts against the address.
        """
        email = normalize_email(email)
        try:
            username = clean_username(username)
        except BadName as exc:
            raise ValidationError(exc.template, **exc.params) from exc
        key = name_key(username)
        reservation = await self.register_throttle.reserve(f"register:{client}")
        await invites.precheck(self._db, invite_code)
        await self._refuse_taken(email, key)
        password_hash = await hash_password(password, self._settings.bcrypt_rounds)
        created = now_iso()
        try:
            async with self._db.transaction() as conn:
                invite_id, room_id = await invites.consume(conn, invite_code)
                result = await run(
                    conn,
                    "INSERT INTO users (email, username, username_key, password_hash, created_at) "
                    "VALUES (:e, :u, :k, :p, :t) RETURNING id",
                    e=email,
                    u=username,
                    k=key,
                    p=password_hash,
                    t=created,
                )
                user_id = int(result.scalar_one())
                await invites.redeemed_by(conn, invite_id, user_id)
                most = self._settings.max_rooms_per_user
                room = (
                    await invites.enter_room(conn, room_id, user_id, most)
                    if room_id is not None
                    else None
                )
                personal = await invites.create(
                    conn, user_id, self._settings.personal_invite_uses, None
                )
        except IntegrityError as exc:  # a concurrent sign-up took the email or name first
            await self._refuse_taken(email, key)
            raise Conflict(N_("this email or username was just taken")) from exc
        await self.register_throttle.release(reservation)
        if self._bootstrap_file is not None:
            self._bootstrap_file.unlink(missing_ok=True)
        return User(user_id, email, username, created), personal, room

    async def _refuse_taken(self, email: str, key: str) -> None:
        row = await self._db.fetch_one(
            "SELECT email, username FROM users WHERE email = :e OR username_key = :k",
            e=email,
            k=key,
        )
        if row is None:
            return
        c = columns(row)
        if c["email"] == email:
            raise Conflict(N_("an account with this email already exists"))
        raise Conflict(
            N_("the username {username} is taken; choose another"), username=repr(c["username"])
        )

    async def login(self, email: str, password: str, client: str) -> tuple[IssuedToken, User]:
        email = email.strip().lower()
        keys = (f"account:{email}", f"address:{client}")
        # Reserved before bcrypt, so a burst of concurrent guesses cannot pass the limit.
        reservation = await self.throttle.reserve(*keys)
        row = await self._db.fetch_one(
            "SELECT id, email, username, created_at, password_hash, disabled_at FROM users "
            "WHERE email = :e",
            e=email,
        )
        if row is None:
            await verify_password(password, await self._dummy.get(self._settings.bcrypt_rounds))
            ok = False
        else:
            ok = await verify_password(password, columns(row)["password_hash"])
        if not ok or row is None:
            raise InvalidCredentials()
        await self.throttle.release(reservation)
        await self.throttle.clear(keys[0])
        if columns(row)["disabled_at"] is not None:
            raise Forbidden(N_("this account is disabled: ask the operator of this daemon"))
        user = _user(row)
        issued = self.tokens.issue(user.id)
        await self._db.execute(
            "INSERT INTO sessions (jti, user_id, created_at, expires_at) VALUES (:j, :u, :c, :e)",
            j=issued.jti,
            u=user.id,
            c=now_iso(),
            e=iso_from_epoch(issued.expires_at),
        )
        return issued, user

    async def authenticate(self, token: str) -> tuple[User, str]:
        """The user and session id behind a token; 401 for anything not currently valid."""
        claims = self.tokens.decode(token)
        row = await self._db.fetch_one(
            "SELECT u.id, u.email, u.username, u.created_at, u.language FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.jti = :j AND s.user_id = :u "
            "AND u.disabled_at IS NULL",
            j=claims.jti,
            u=claims.user_id,
        )
        if row is None:
            raise Unauthenticated(N_("this session has ended: log in again"))
        return _user(row), claims.jti

    async def set_language(self, user_id: int, language: str) -> None:
        """Save the account's language ("" for none)."""
        await self._db.execute(
            "UPDATE users SET language = :l WHERE id = :u", l=language, u=user_id
        )

    async def identify(self, token: str) -> Identity:
        """Who is behind a token, and until when: the check a Socket.IO connection passes."""
        claims = self.tokens.decode(token)
        user, jti = await self.authenticate(token)
        return Identity(user.id, user.username, jti, claims.expires_at, user.language)

    async def logout(self, jti: str) -> None:
        await self._db.execute("DELETE FROM sessions WHERE jti = :j", j=jti)
        await self._db.execute("DELETE FROM sessions WHERE expires_at < :now", now=now_iso())
