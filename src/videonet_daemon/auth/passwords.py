"""Password hashing with bcrypt, run in a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio

import bcrypt

from videonet_daemon.errors import ValidationError
from videonet_daemon.i18n import N_
from videonet_protocol import protocol


def check_password_policy(password: str) -> bytes:
    """The password's UTF-8 bytes, or a 400 if it is too short or too long for bcrypt."""
    raw = password.encode("utf-8")
    if len(raw) < protocol.PASSWORD_MIN_BYTES:
        raise ValidationError(
            N_("password must be at least {password_min_bytes} bytes"),
            password_min_bytes=protocol.PASSWORD_MIN_BYTES,
        )
    if len(raw) > protocol.PASSWORD_MAX_BYTES:
        # bcrypt 5 raises ValueError beyond 72 bytes; refuse before it does.
        raise ValidationError(
            N_("password must be at most {password_max_bytes} bytes"),
            password_max_bytes=protocol.PASSWORD_MAX_BYTES,
        )
    return raw


async def hash_password(password: str, rounds: int) -> str:
    raw = check_password_policy(password)
    hashed = await asyncio.to_thread(bcrypt.hashpw, raw, bcrypt.gensalt(rounds))
    return hashed.decode("ascii")


async def verify_password(password: str, password_hash: str) -> bool:
    raw = password.encode("utf-8")
    if len(raw) > protocol.PASSWORD_MAX_BYTES:
        return False
    try:
        return await asyncio.to_thread(bcrypt.checkpw, raw, password_hash.encode("ascii"))
    except ValueError:
        return False


class DummyHash:
    """A hash to check against when the email is unknown, so both cases take the same time."""

    def __init__(self) -> None:
        self._value: str | None = None

    async def get(self, rounds: int) -> str:
        if self._value is None:
            self._value = await hash_password("not-a-real-password", rounds)
        return self._value
