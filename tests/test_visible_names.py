"""Names hold nothing invisible and no stacks of marks (UTS #39), and the key folds both.

Before, ``alice`` + a combining grapheme joiner or a variation selector registered next to
``alice`` and showed as "alice" on the page; a name of Hangul fillers and one of 40 stacked
combining marks were accepted too.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import pytest

from test_unique_names import register
from videonet_protocol import protocol

from conftest import Daemon, User, http, start_daemon


def digits() -> str:
    return str(random.randrange(10**8, 10**9))


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda n: n + "\u034f", "invisible character (combining grapheme joiner)"),
        (lambda n: n + "\ufe0f", "invisible character (variation selector-16)"),
        (lambda n: "\u3164\u3164", "invisible character"),  # Hangul fillers
        (lambda n: "\u115f" + n, "invisible character"),  # a Hangul choseong filler in front
        (lambda n: n + "\u0301" * 40, "stacks combining marks"),
        (lambda n: n + "\u0300\u0301\u0302\u0303", "stacks combining marks"),  # four different
    ],
    ids=["grapheme-joiner", "variation-selector", "fillers", "choseong-filler", "40-marks", "4"],
)
def test_invisible_and_stacked_names_are_refused(daemon: Daemon, make: object, says: str) -> None:
    name = f"alice{digits()}"
    assert callable(make)
    status, reply, _ = register(daemon, make(name))
    assert status == 400, reply
    assert reply["error"]["code"] == "validation_error"
    assert says in reply["error"]["message"]


@pytest.mark.parametrize("name", ["Zoë", "tiếng", "ภาษาไทย", "नमस्ते", "Ἀθηνᾶ"])
def test_real_names_with_marks_still_register(daemon: Daemon, name: str) -> None:
    status, reply, _ = register(daemon, f"{name}{digits()}")
    assert status == 201, reply


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("\u2800\u2800", "must hold a visible character"),  # blank Braille patterns
        ("\u0301studio", "must not start with a combining mark"),
        ("\ufdfa" * 10, "at most 100 characters written out"),  # NFKC: 18 characters each
        # Looked up by id or name: it would stand in for a private room one cannot see yet.
        ("3f2b8c1e-9d4a-4b7e-8f00-1234567890ab", "must not look like a room id"),
    ],
)
def test_blank_mark_led_and_expanding_room_names_are_refused(
    daemon: Daemon, user: User, name: str, says: str
) -> None:
    status, reply, _ = http(
        "POST", daemon.api(protocol.API_ROOM_CREATE), {"name": name}, token=user.token
    )
    assert status == 400, reply
    assert says in reply["error"]["message"]


def test_a_username_longer_than_the_limit_once_written_out_is_refused(daemon: Daemon) -> None:
    # U+FDF2 is one letter that NFKC writes as four: 20 of them are 80 characters.
    status, reply, _ = register(daemon, "\ufdf2" * 20)
    assert status == 400, reply
    assert "at most 64 characters written out" in reply["error"]["message"]


def test_a_room_name_with_an_invisible_character_is_refused(daemon: Daemon, user: User) -> None:
    for name in (f"studio{digits()}\ufe0f", f"studio{digits()}\u034f", "\u3164"):
        status, reply, _ = http(
            "POST", daemon.api(protocol.API_ROOM_CREATE), {"name": name}, token=user.token
        )
        assert status == 400, reply
        assert "invisible character" in reply["error"]["message"]


@pytest.mark.sqlite_only
def test_the_migration_renames_invisible_and_stacked_names(tmp_path: Path) -> None:
    from videonet_daemon.db.engine import Database

    data = tmp_path / "data"
    data.mkdir()

    async def old_schema() -> None:
        import videonet_daemon.db.migrations as m

        saved = m.MIGRATIONS[:]
        m.MIGRATIONS[:] = [entry for entry in saved if entry[1] != "visible_names"]
        try:
            db = Database(f"sqlite:///{data / 'videonet.db'}")
            await m.migrate(db)
            await db.close()
        finally:
            m.MIGRATIONS[:] = saved

    asyncio.run(old_schema())
    conn = sqlite3.connect(data / "videonet.db")
    names = ["alice", "alice\u034f", "\u3164\u3164", "bob" + "\u0301" * 40, "carol\ufe0f"]
    for i, name in enumerate(names, start=1):
        # As the code before this migration keyed them (so the unique index let them in).
        conn.execute(
            "INSERT INTO users (id, email, username, username_key, password_hash, created_at) "
            "VALUES (?, ?, ?, ?, 'x', '2026-01-01')",
            (i, f"{i}@example.test", name, f"old-key-{i}"),
        )
    for i, name in enumerate(["studio", "studio\ufe0f", "\u3164"]):
        conn.execute(
            "INSERT INTO rooms (id, name, name_key, created_by, created_at) VALUES (?, ?, ?, 1, ?)",
            (f"{i}0000000-room", name, f"old-key-{i}", f"2026-01-0{i + 1}"),
        )
    conn.commit()
    conn.close()
    d = start_daemon(data)
    try:
        conn = sqlite3.connect(data / "videonet.db")
        query = "SELECT username, username_key FROM users ORDER BY id"
        users = [tuple(r) for r in conn.execute(query)]
        rooms = [r[0] for r in conn.execute("SELECT name FROM rooms ORDER BY created_at")]
        conn.close()
        assert users == [
            ("alice", "alice"),
            ("alice-2", "alice-2"),
            ("user-3", "user-3"),
            ("bob\u0301", "bob\u0301"),
            ("carol", "carol"),
        ]
        assert rooms == ["studio", "studio-10000000", "room-20000000"]
        # The folded key now finds the renamed account under what it reads as.
        status, reply, _ = register(d, "carol", invite=d.mint_invite())
        assert status == 409, reply
    finally:
        d.stop()


def test_an_ascii_name_folds_to_itself_without_the_unicode_tables() -> None:
    """fold_marks skips the `regex` patterns for ASCII (they find nothing there): checked
    against the patterns themselves for every ASCII character, alone and repeated."""
    from videonet_protocol.names import _patterns, fold_marks

    p = _patterns()
    for code in range(128):
        name = f"a{chr(code) * 5}b"
        slow = p.mark_run.sub("", p.mark_repeated.sub(r"\1", p.invisible.sub("", name)))
        assert slow == name == fold_marks(name)
