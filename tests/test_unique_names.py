"""Usernames are unique under case, width and look-alike folding; sign-up is throttled.

Before, a second account named `alice` could impersonate alice in chat, block every
`--to alice` and stand in for her verdict; and sign-up answered an email-existence oracle with
a bcrypt hash per request and no limit.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from chatkit import Accounts, connect, create_room
from transfer_helpers import offer_payload
from videonet_protocol import protocol

from conftest import TEST_PASSWORD, Daemon, http, start_daemon


def register(daemon: Daemon, username: str, invite: str | None = None, **extra: str) -> Any:
    body = {
        "email": f"{uuid.uuid4().hex[:10]}@example.test",
        "username": username,
        "password": TEST_PASSWORD,
        "invite_code": invite or daemon.shared_invite(),
        **extra,
    }
    status, reply, headers = http("POST", daemon.api(protocol.API_REGISTER), body)
    return status, reply, headers


def digits() -> str:
    return str(random.randrange(10**8, 10**9))


@pytest.mark.parametrize(
    "twin",
    [
        lambda n: n.upper(),  # another case
        lambda n: n.replace("copex", "ｃｏｐｅｘ"),  # full-width letters
        lambda n: n.replace("copex", "сорех"),  # every letter Cyrillic: a whole-script look-alike
    ],
    ids=["case", "width", "cyrillic"],
)
def test_a_name_that_reads_as_a_taken_one_is_409(daemon: Daemon, twin: Any) -> None:
    name = f"copex{digits()}"
    assert register(daemon, name)[0] == 201
    status, reply, _ = register(daemon, twin(name))
    assert status == 409, reply
    assert reply["error"]["code"] == "conflict"
    assert f"the username '{name}' is taken" in reply["error"]["message"]


@pytest.mark.parametrize(
    ("username", "says"),
    [
        ("аlice", "mixes scripts"),  # Cyrillic а among Latin letters
        ("bob\u200dby", "control characters"),  # a zero-width joiner
        ("bob\u202eyb", "control characters"),  # a right-to-left override
        ("bob smith", "not a space"),
        ("-bob", "must start with a letter or a digit"),
    ],
)
def test_look_alike_and_invisible_forms_are_refused(
    daemon: Daemon, username: str, says: str
) -> None:
    status, reply, _ = register(daemon, username)
    assert status == 400, reply
    assert reply["error"]["code"] == "validation_error"
    assert says in reply["error"]["message"]


def test_a_name_in_one_other_script_is_fine(daemon: Daemon) -> None:
    status, reply, _ = register(daemon, f"Ζεύς{digits()}")
    assert status == 201, reply


async def test_send_to_finds_the_member_whatever_the_case(daemon: Daemon, tmp_path: Path) -> None:
    accounts = Accounts(daemon, tmp_path)
    alice, bob = accounts.make(f"Alice{digits()}"), accounts.make()
    room = create_room(daemon, bob, alice)
    peer = await connect(daemon, bob)
    try:
        await peer.join(room)
        body = offer_payload(room, "a.bin", 17, to=alice.username.lower())
        ack = await peer.call(protocol.EV_TRANSFER_OFFER, body)
        assert ack["ok"], ack
        assert ack["transfer"]["to_user_id"] == alice.user_id
        await peer.call(protocol.EV_TRANSFER_ABORT, {"transfer_id": ack["transfer"]["transfer_id"]})
    finally:
        await peer.close()


def test_registration_is_throttled_per_address(daemon_factory: Any) -> None:
    d = daemon_factory(VIDEONET_REGISTER_FAILURES_MAX="3")
    for _ in range(3):
        status, reply, _ = register(d, f"x{digits()}", invite="NOPE-NOPE")
        assert status == 400 and reply["error"]["code"] == "invalid_invite"
    # The fourth try is refused before anything else, even with a good invite.
    status, reply, headers = register(d, f"x{digits()}", invite=d.mint_invite())
    assert status == 429, reply
    assert int(headers["Retry-After"]) > 0


def test_the_invite_is_checked_before_the_email(daemon: Daemon) -> None:
    email = f"{uuid.uuid4().hex[:10]}@example.test"
    assert register(daemon, f"y{digits()}", email=email)[0] == 201
    # Without a valid invite, a taken email is not revealed.
    status, reply, _ = register(daemon, f"y{digits()}", invite="NOPE-NOPE", email=email)
    assert status == 400 and reply["error"]["code"] == "invalid_invite"


@pytest.mark.sqlite_only
def test_the_migration_renames_existing_duplicates(tmp_path: Path) -> None:
    from videonet_daemon.db.engine import Database
    from videonet_daemon.db.migrations import MIGRATIONS

    data = tmp_path / "data"
    data.mkdir()

    async def old_schema() -> None:
        import videonet_daemon.db.migrations as m

        saved = m.MIGRATIONS[:]
        m.MIGRATIONS[:] = [entry for entry in saved if entry[0] <= 4]
        try:
            db = Database(f"sqlite:///{data / 'videonet.db'}")
            await m.migrate(db)
            await db.close()
        finally:
            m.MIGRATIONS[:] = saved

    asyncio.run(old_schema())
    assert MIGRATIONS[-1][0] >= 5
    conn = sqlite3.connect(data / "videonet.db")
    for i, name in enumerate(["alice", "Alice", "ALICE", "bob"], start=1):
        conn.execute(
            "INSERT INTO users (id, email, username, password_hash, created_at) "
            "VALUES (?, ?, ?, 'x', '2026-01-01')",
            (i, f"{i}@example.test", name),
        )
    for i, name in enumerate(["studio", "Studio"]):
        conn.execute(
            "INSERT INTO rooms (id, name, created_by, created_at) VALUES (?, ?, 1, ?)",
            (f"{i}0000000-room", name, f"2026-01-0{i + 1}"),
        )
    conn.commit()
    conn.close()
    d = start_daemon(data)
    d.stop()
    conn = sqlite3.connect(data / "videonet.db")
    users = [r[0] for r in conn.execute("SELECT username FROM users ORDER BY id")]
    rooms = [r[0] for r in conn.execute("SELECT name FROM rooms ORDER BY created_at")]
    conn.close()
    assert users == ["alice", "Alice-2", "ALICE-3", "bob"]
    assert rooms == ["studio", "Studio-10000000"]
