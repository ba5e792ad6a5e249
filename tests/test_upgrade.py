"""A database made by an earlier release migrates to today's schema with nothing lost (issue 25).

The earlier release's database is a committed fixture (tests/fixtures/upgrade, made by its
make_fixture.py from commit 08e6da5: schema 4): on SQLite its SQL dump, on PostgreSQL that
commit's own migrations run there and the same rows loaded from the portable JSON. Both engines
in every pass (the fixture names its own PostgreSQL database).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from videonet_protocol import protocol

from conftest import BIN, POSTGRES, base_env, http, postgres_admin

pytestmark = pytest.mark.one_pass("runs the SQLite and the PostgreSQL upgrade in every pass")

FIXTURE = Path(__file__).parent / "fixtures" / "upgrade"
DATA = json.loads((FIXTURE / "v4-data.json").read_text(encoding="utf-8"))
TABLES: dict[str, list[dict[str, Any]]] = DATA["tables"]
KEYS = {
    "invite_redemptions": ("invite_id", "user_id"),
    "sessions": ("jti",),
    "room_members": ("room_id", "user_id"),
    "transfer_receipts": ("transfer_id", "user_id"),
}
# Migration 5 folds names: the later of two colliding ones gets a suffix, nothing else changes.
RENAMED = {("users", 2): {"username": "alice-2"},
           ("rooms", "22222222bbbb4bbb8bbb222222222222"): {"name": "studio-22222222"}}  # fmt: skip


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def old_migrations() -> Any:
    path = FIXTURE / f"migrations_{DATA['commit']}.py"
    spec = importlib.util.spec_from_file_location("old_migrations", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def load_postgresql(url: str) -> None:
    """The earlier release's schema (its own migrations), then the fixture's rows."""
    from videonet_daemon.db.engine import Database, run

    db = Database(url)
    try:
        await old_migrations().migrate(db)
        async with db.transaction() as conn:
            for table, rows in TABLES.items():
                for row in rows:
                    names = ", ".join(row)
                    marks = ", ".join(f":{k}" for k in row)
                    await run(conn, f"INSERT INTO {table} ({names}) VALUES ({marks})", **row)
            for table in ("users", "invites", "login_failures", "chat_messages"):
                await run(
                    conn,
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))",
                )
    finally:
        await db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(data dir, database URL) holding the earlier release's database."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    if request.param == "sqlite":
        path = data_dir / "videonet.db"
        conn = sqlite3.connect(path)
        conn.executescript((FIXTURE / f"v{DATA['schema_version']}.sql").read_text("utf-8"))
        conn.close()
        yield data_dir, f"sqlite:///{path}"
        return
    name = f"vn_upgrade_{uuid.uuid4().hex[:12]}"
    postgres_admin(f"CREATE DATABASE {name}")
    try:
        url = f"{POSTGRES}/{name}"
        run(load_postgresql(url))
        yield data_dir, url
    finally:
        postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def daemon_cmd(*args: str, data_dir: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "videonet-daemon"), *args, "--data-dir", str(data_dir), "--database-url", url],
        capture_output=True, text=True, env=base_env(), timeout=60,
    )  # fmt: skip


async def read_tables(url: str) -> dict[str, list[dict[str, Any]]]:
    from videonet_daemon.db.engine import Database, columns

    db = Database(url)
    try:
        found = {}
        for table in [*TABLES, "schema_migrations"]:
            rows = await db.fetch_all(f"SELECT * FROM {table}")
            found[table] = [dict(columns(r)) for r in rows]
        return found
    finally:
        await db.close()


def key_of(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in KEYS.get(table, ("id",)))


def test_earlier_release_migrates_with_nothing_lost(
    old_database: tuple[Path, str], daemon_factory: Any
) -> None:
    from videonet_daemon.db.migrations import MIGRATIONS

    data_dir, url = old_database
    # Any operator command migrates first; the daemon's start-up clean-up is not involved yet.
    migrated = daemon_cmd("users", "list", "--json", data_dir=data_dir, url=url)
    assert migrated.returncode == 0, migrated.stderr
    now = run(read_tables(url))
    assert sorted(r["version"] for r in now["schema_migrations"]) == [v for v, _, _ in MIGRATIONS]
    for table, rows in TABLES.items():
        have = {key_of(table, r): r for r in now[table]}
        assert len(have) == len(rows), table
        for row in rows:
            got = have[key_of(table, row)]
            expected = {**row, **RENAMED.get((table, key_of(table, row)[0]), {})}
            assert {k: got[k] for k in expected} == expected, (table, row)

    # And the daemon serves it: passwords, rooms (renamed one included), chat in order,
    # an old invite registers a new account (the id sequences continue past the loaded rows).
    daemon = daemon_factory("--database-url", url, data_dir=data_dir)
    password = DATA["password"]
    status, bob, _ = http(
        "POST", daemon.api(protocol.API_LOGIN), {"email": "bob@example.test", "password": password}
    )
    assert status == 200, bob
    status, rooms, _ = http("GET", daemon.api(protocol.API_ROOMS), token=bob["token"])
    assert status == 200, rooms
    names = {r["name"] for r in rooms["rooms"] if r["is_joined"]}
    assert names == {"Studio", "studio-22222222", "lobby"}
    studio = "11111111aaaa4aaa8aaa111111111111"
    path = protocol.API_ROOM_MESSAGES.format(room_id=studio) + "?limit=100"
    status, page, _ = http("GET", daemon.api(path), token=bob["token"])
    assert status == 200, page
    expected = [m["text"] for m in TABLES["chat_messages"] if m["room_id"] == studio]
    assert [m["text"] for m in page["messages"]] == expected
    status, new, _ = http(
        "POST",
        daemon.api(protocol.API_REGISTER),
        {"email": "dave@example.test", "username": "dave", "password": password,
         "invite_code": "ALIC-EINV-ITE0-0002"},
    )  # fmt: skip
    assert status == 201, new
    assert new["user"]["id"] > max(u["id"] for u in TABLES["users"])
    daemon.stop()

    # A database newer than the code: refused in one line, exit 3, nothing changed.
    run(_record_future_migration(url))
    refused = daemon_cmd("serve", "--port", "0", data_dir=data_dir, url=url)
    assert refused.returncode == 3, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "newer than this videonet-daemon" in lines[0], lines
    again = run(read_tables(url))
    assert len(again["schema_migrations"]) == len(MIGRATIONS) + 1


async def _record_future_migration(url: str) -> None:
    from videonet_daemon.db.engine import Database

    db = Database(url)
    try:
        await db.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')"
        )
    finally:
        await db.close()
