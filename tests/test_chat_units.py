"""The chat feature's parts: the token bucket, the text rules, and the group-commit write on a
real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from videonet_daemon.chat.service import ChatService, NotAMember, check_text
from videonet_daemon.db.engine import Database
from videonet_daemon.db.migrations import migrate
from videonet_daemon.errors import InvalidText, TextTooLong, ValidationError
from videonet_daemon.realtime.ratelimit import TokenBuckets

from conftest import POSTGRES, postgres_admin

pytestmark = pytest.mark.one_pass("uses PostgreSQL itself in every pass")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_then_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=5.0, burst=20, clock=clock)
    assert [buckets.take("u") for _ in range(20)] == [0.0] * 20
    assert buckets.take("u") == pytest.approx(0.2)  # one token comes back every 1/5 s
    assert buckets.take("other") == 0.0  # per key
    clock.now += 0.2
    assert buckets.take("u") == 0.0
    assert buckets.take("u") > 0
    clock.now += 60  # refills to the burst, not beyond
    assert [buckets.take("u") for _ in range(20)] == [0.0] * 20
    assert buckets.take("u") > 0


def test_token_bucket_forgets_full_buckets() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=1.0, burst=1, clock=clock)
    for key in range(10_001):
        buckets.take(key)
    clock.now += 5
    buckets.take("trigger")
    buckets.take("again")
    assert len(buckets._buckets) < 10


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("hi", "hi"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("tab\there", "tab\there"),
        ("  padded  ", "  padded  "),
        ("👩‍👩‍👧", "👩‍👩‍👧"),
    ],
)
def test_text_is_kept(raw: str, stored: str) -> None:
    assert check_text(raw, 100) == stored


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (None, ValidationError),
        (5, ValidationError),
        ("", ValidationError),
        ("\n\r\t ", ValidationError),
        ("x" * 101, TextTooLong),
        ("\x1b]0;title\x07", InvalidText),
        ("\u0085", InvalidText),
        ("\udfff", InvalidText),
    ],
)
def test_text_is_refused(raw: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_text(raw, 100)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_one_batch_stores_members_messages_and_refuses_the_others(
    engine: str, tmp_path: Path
) -> None:
    """Messages queued together go in one statement; a non-member's row is left out of it
    and only that sender hears `NotAMember`; the others get their ids in order."""
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'chat.db'}"
    else:
        name = "vn_chat_" + uuid.uuid4().hex[:12]
        try:
            postgres_admin(f"CREATE DATABASE {name}")
        except Exception as exc:
            pytest.skip(f"no PostgreSQL at {POSTGRES}: {exc}")
        url = f"{POSTGRES}/{name}"
    db = Database(url)
    try:
        await migrate(db)
        for uid in (1, 2, 3):
            await db.execute(
                "INSERT INTO users (id, email, username, password_hash, created_at) "
                "VALUES (:i, :e, :n, 'x', '2026-01-01')",
                i=uid,
                e=f"{uid}@example.test",
                n=f"user{uid}",
            )
        await db.execute(
            "INSERT INTO rooms (id, name, created_by, created_at) VALUES ('r1', 'r1', 1, 'x')"
        )
        for uid in (1, 2):  # user 3 is not a member
            await db.execute(
                "INSERT INTO room_members (room_id, user_id, joined_at) VALUES ('r1', :u, 'x')",
                u=uid,
            )
        chat = ChatService(db)
        sends = [(1, "a"), (3, "stranger"), (2, "b"), (1, "c"), (3, "again")]
        results = await asyncio.gather(
            *(chat.add("r1", uid, f"user{uid}", text) for uid, text in sends),
            return_exceptions=True,
        )
        stored = [r for r in results if isinstance(r, dict)]
        refused = [r for r in results if isinstance(r, NotAMember)]
        assert [m["text"] for m in stored] == ["a", "b", "c"]
        assert len(refused) == 2 and {r.user_id for r in refused} == {3}
        ids = [m["id"] for m in stored]
        assert ids == sorted(ids)
        page, _ = await chat.page("r1", None, 10)
        assert [(m["id"], m["text"]) for m in page] == [(m["id"], m["text"]) for m in stored]
    finally:
        await db.close()
        if engine == "postgresql":
            postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
