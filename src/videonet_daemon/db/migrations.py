"""Schema changes as an ordered list of small functions, recorded in ``schema_migrations``.

Append new migrations at the end; never edit one that has shipped. Each runs in the same
transaction as its record, so a failed migration leaves nothing half-applied. The SQL is written
for both SQLite and PostgreSQL; `_types` holds the few words that differ.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, columns, run
from videonet_protocol.names import BadName, clean_room_name, clean_username, fold_marks, name_key

# PostgreSQL: one migrator at a time when several daemons start together.
_PG_MIGRATION_LOCK = 7_701_001


@dataclass(frozen=True)
class Types:
    id_pk: str
    float_: str


def _types(dialect: str) -> Types:
    if dialect == "postgresql":
        return Types(id_pk="BIGSERIAL PRIMARY KEY", float_="DOUBLE PRECISION")
    return Types(id_pk="INTEGER PRIMARY KEY AUTOINCREMENT", float_="REAL")


Migration = Callable[[AsyncConnection, Types], Awaitable[None]]


async def m001_accounts_invites_rooms(conn: AsyncConnection, t: Types) -> None:
    await run(
        conn,
        f"""CREATE TABLE users (
            id {t.id_pk},
            email TEXT NOT NULL UNIQUE,
            username TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL)""",
    )
    await run(
        conn,
        f"""CREATE TABLE invites (
            id {t.id_pk},
            code TEXT NOT NULL UNIQUE,
            created_by INTEGER REFERENCES users(id) ON DELETE CASCADE,
            max_uses INTEGER NOT NULL,
            uses_left INTEGER NOT NULL CHECK (uses_left >= 0),
            expires_at TEXT,
            created_at TEXT NOT NULL)""",
    )
    await run(
        conn,
        """CREATE TABLE invite_redemptions (
            invite_id INTEGER NOT NULL REFERENCES invites(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            redeemed_at TEXT NOT NULL,
            PRIMARY KEY (invite_id, user_id))""",
    )
    await run(
        conn,
        """CREATE TABLE sessions (
            jti TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL)""",
    )
    await run(
        conn,
        f"""CREATE TABLE login_failures (
            id {t.id_pk},
            key TEXT NOT NULL,
            at {t.float_} NOT NULL)""",
    )
    await run(conn, "CREATE INDEX login_failures_key_at ON login_failures (key, at)")
    await run(
        conn,
        """CREATE TABLE rooms (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL)""",
    )
    await run(
        conn,
        """CREATE TABLE room_members (
            room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            joined_at TEXT NOT NULL,
            PRIMARY KEY (room_id, user_id))""",
    )
    await run(conn, "CREATE INDEX room_members_user ON room_members (user_id)")


async def m002_chat_messages(conn: AsyncConnection, t: Types) -> None:
    await run(
        conn,
        f"""CREATE TABLE chat_messages (
            id {t.id_pk},
            room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            created_at TEXT NOT NULL)""",
    )
    # History pages and reconnect syncs both walk one room's messages by id.
    await run(conn, "CREATE INDEX chat_messages_room_id ON chat_messages (room_id, id)")


async def m003_transfers(conn: AsyncConnection, t: Types) -> None:
    await run(
        conn,
        """CREATE TABLE transfers (
            id TEXT PRIMARY KEY,
            room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
            sender_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            to_user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            size BIGINT NOT NULL,
            uploaded BIGINT NOT NULL DEFAULT 0,
            sha256 TEXT,
            state TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
    )
    await run(conn, "CREATE INDEX transfers_room_state ON transfers (room_id, state)")
    await run(conn, "CREATE INDEX transfers_sender_state ON transfers (sender_id, state)")
    await run(
        conn,
        """CREATE TABLE transfer_receipts (
            transfer_id TEXT NOT NULL REFERENCES transfers(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            state TEXT NOT NULL,
            sha256 TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (transfer_id, user_id))""",
    )


async def m004_transfer_owner(conn: AsyncConnection, t: Types) -> None:
    # With several daemons, the bytes of a transfer live in the spool of the daemon that took the
    # offer (its node id is kept in its data dir); the others fetch them from its current URL.
    await run(conn, "ALTER TABLE transfers ADD COLUMN node_id TEXT")
    await run(
        conn,
        """CREATE TABLE nodes (
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
    )


async def m005_unique_names(conn: AsyncConnection, t: Types) -> None:
    """Usernames and room names become unique under `names.name_key` (case, width and
    look-alike letters folded). Existing duplicates are renamed, never dropped: the oldest keeps
    its name, each later one gets ``-<user id>`` (users) or ``-<first 8 of the room id>``
    (rooms) appended, as docs/security.md says."""
    await run(conn, "ALTER TABLE users ADD COLUMN username_key TEXT")
    await run(conn, "ALTER TABLE rooms ADD COLUMN name_key TEXT")
    users = (await run(conn, "SELECT id, username FROM users ORDER BY id")).all()
    taken: set[str] = set()
    for row in users:
        user_id, name = int(columns(row)["id"]), str(columns(row)["username"])
        while name_key(name) in taken:
            name = f"{name}-{user_id}"
        taken.add(name_key(name))
        await run(
            conn, "UPDATE users SET username = :n, username_key = :k WHERE id = :i",
            n=name, k=name_key(name), i=user_id,
        )  # fmt: skip
    rooms = (await run(conn, "SELECT id, name FROM rooms ORDER BY created_at, id")).all()
    taken = set()
    for row in rooms:
        room_id, name = str(columns(row)["id"]), str(columns(row)["name"])
        while name_key(name) in taken:
            name = f"{name}-{room_id[:8]}"
        taken.add(name_key(name))
        await run(
            conn, "UPDATE rooms SET name = :n, name_key = :k WHERE id = :i",
            n=name, k=name_key(name), i=room_id,
        )  # fmt: skip
    await run(conn, "CREATE UNIQUE INDEX users_username_key ON users (username_key)")
    await run(conn, "CREATE UNIQUE INDEX rooms_name_key ON rooms (name_key)")


async def m006_private_rooms(conn: AsyncConnection, t: Types) -> None:
    # Existing rooms stay public: every account could see them already.
    await run(conn, "ALTER TABLE rooms ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE")


async def m007_users_disabled(conn: AsyncConnection, t: Types) -> None:
    # Set by `videonet-daemon users disable`: login is refused and sessions are gone.
    await run(conn, "ALTER TABLE users ADD COLUMN disabled_at TEXT")


async def m008_device_keys(conn: AsyncConnection, t: Types) -> None:
    # One row per CLI installation of an account: its X25519 public key (never a private one).
    await run(
        conn,
        """CREATE TABLE device_keys (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            device_id TEXT NOT NULL,
            public_key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            PRIMARY KEY (user_id, device_id))""",
    )


async def m009_transfer_batches(conn: AsyncConnection, t: Types) -> None:
    # A batch (many files or a directory tree in one transfer) keeps its manifest and, once
    # sealed, each file's SHA-256, as JSON; the kind and count are columns so listing offers
    # does not parse manifests.
    for column in ("batch_kind TEXT", "file_count INTEGER", "manifest TEXT", "files_sha256 TEXT"):
        await run(conn, f"ALTER TABLE transfers ADD COLUMN {column}")


async def m010_transfer_keys(conn: AsyncConnection, t: Types) -> None:
    # End-to-end encrypted transfers: the stream id and plaintext size receivers need, the
    # sender's keyed source fingerprint (resume only the same plaintext), and the file key
    # wrapped for each recipient device. The daemon never holds a file key itself.
    for column in ("e2e_stream_id TEXT", "e2e_plain_size BIGINT", "e2e_source TEXT"):
        await run(conn, f"ALTER TABLE transfers ADD COLUMN {column}")
    await run(
        conn,
        """CREATE TABLE transfer_keys (
            transfer_id TEXT NOT NULL REFERENCES transfers(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            device_id TEXT NOT NULL,
            wrapped TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (transfer_id, user_id, device_id))""",
    )


async def m011_visible_names(conn: AsyncConnection, t: Types) -> None:
    """Names may no longer hold invisible characters or stacked marks (`names.fold_marks`), and
    the key folds them: each name is rewritten as it reads (``alice`` + a variation selector
    becomes ``alice``); one that reads as nothing becomes ``user-<id>`` / ``room-<first 8 of
    the id>``; and, as in m005, a name whose new key is taken gets ``-<user id>`` /
    ``-<first 8 of the room id>`` appended, the oldest keeping its name."""
    users = (await run(conn, "SELECT id, username FROM users ORDER BY id")).all()
    renamed = [(int(columns(r)["id"]), str(columns(r)["username"])) for r in users]
    await _rekey(conn, "users", "username", "username_key", renamed, _visible_username)
    rooms = (await run(conn, "SELECT id, name FROM rooms ORDER BY created_at, id")).all()
    named = [(str(columns(r)["id"]), str(columns(r)["name"])) for r in rooms]
    await _rekey(conn, "rooms", "name", "name_key", named, _visible_room_name)


def _without_hidden(name: str) -> str:
    """``name`` as it reads: unchanged when it hides nothing (names an older release allowed,
    such as ``Çarol ☃``, keep their spelling), else without its invisible code points and
    stacked marks."""
    decomposed = unicodedata.normalize("NFD", name)
    folded = fold_marks(decomposed)
    return name if folded == decomposed else unicodedata.normalize("NFC", folded).strip()


def _visible_username(user_id: int | str, name: str) -> str:
    visible = _without_hidden(name)
    if visible == name:
        return name
    try:
        return clean_username(visible)
    except BadName:
        return visible or f"user-{user_id}"


def _visible_room_name(room_id: int | str, name: str) -> str:
    visible = _without_hidden(name)
    if visible == name:
        return name
    try:
        cleaned = clean_room_name(visible)
    except BadName:
        cleaned = visible
    return cleaned or f"room-{str(room_id)[:8]}"


async def _rekey(
    conn: AsyncConnection,
    table: str,
    column: str,
    key_column: str,
    rows: list[tuple[int, str]] | list[tuple[str, str]],
    visible: Callable[[int | str, str], str],
) -> None:
    # Keys first cleared, so that a name keeping its key never meets itself in the unique index.
    await run(conn, f"UPDATE {table} SET {key_column} = NULL")
    taken: set[str] = set()
    for row_id, old in rows:
        name = visible(row_id, old)
        suffix = str(row_id)[:8]
        while name_key(name) in taken:
            name = f"{name}-{suffix}"
        taken.add(name_key(name))
        await run(
            conn, f"UPDATE {table} SET {column} = :n, {key_column} = :k WHERE id = :i",
            n=name, k=name_key(name), i=row_id,
        )  # fmt: skip


class SchemaTooNew(Exception):
    """The database records migrations this code does not have: a newer release wrote it.
    Nothing is changed; `videonet-daemon` says this in one line and exits 3."""


async def m012_identities(conn: AsyncConnection, t: Types) -> None:
    # Each account's identity (an Ed25519 public key) and, per device, its signing key and the
    # identity's certificate or revocation: opaque base64 the clients sign and check.
    await run(conn, "ALTER TABLE users ADD COLUMN identity_key TEXT NOT NULL DEFAULT ''")
    for column in ("signing_key", "certificate", "revocation"):
        await run(conn, f"ALTER TABLE device_keys ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")


async def m013_transfer_headers(conn: AsyncConnection, t: Types) -> None:
    # Transfer protocol 2: the sender's signed header (the manifest) and seal, stored as opaque
    # base64 blobs and handed to receivers. Rows of protocol 1 (no header) are never offered
    # again; their spool goes with the usual clean-up.
    for column in ("header TEXT", "seal TEXT"):
        await run(conn, f"ALTER TABLE transfers ADD COLUMN {column}")


async def m014_room_invites_direct_rooms(conn: AsyncConnection, t: Types) -> None:
    # An invite may name a room its user joins (`videonet invite --room`); it goes with the room.
    await run(
        conn, "ALTER TABLE invites ADD COLUMN room_id TEXT REFERENCES rooms(id) ON DELETE CASCADE"
    )
    # A direct room (`videonet send @ben`): its two members' ids, "low:high", one room per pair.
    await run(conn, "ALTER TABLE rooms ADD COLUMN direct_key TEXT")
    await run(conn, "CREATE UNIQUE INDEX rooms_direct_key ON rooms (direct_key)")


async def m015_user_language(conn: AsyncConnection, t: Types) -> None:
    # The language the account's web page (and its error messages) speak: "" for none, then
    # the browser's Accept-Language decides (videonet_daemon.i18n).
    await run(conn, "ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT ''")


MIGRATIONS: list[tuple[int, str, Migration]] = [
    (1, "accounts_invites_rooms", m001_accounts_invites_rooms),
    (2, "chat_messages", m002_chat_messages),
    (3, "transfers", m003_transfers),
    (4, "transfer_owner", m004_transfer_owner),
    (5, "unique_names", m005_unique_names),
    (6, "private_rooms", m006_private_rooms),
    (7, "users_disabled", m007_users_disabled),
    (8, "device_keys", m008_device_keys),
    (9, "transfer_batches", m009_transfer_batches),
    (10, "transfer_keys", m010_transfer_keys),
    (11, "visible_names", m011_visible_names),
    (12, "identities", m012_identities),
    (13, "transfer_headers", m013_transfer_headers),
    (14, "room_invites_direct_rooms", m014_room_invites_direct_rooms),
    (15, "user_language", m015_user_language),
]


async def migrate(db: Database) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied now."""
    types = _types(db.dialect)
    applied_now: list[int] = []
    async with db.transaction() as conn:
        if db.dialect == "postgresql":
            await run(conn, f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        await run(
            conn,
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TEXT NOT NULL)""",
        )
        done = {row[0] for row in await run(conn, "SELECT version FROM schema_migrations")}
        unknown = sorted(done - {version for version, _, _ in MIGRATIONS})
        if unknown:
            raise SchemaTooNew(
                f"the database is at schema version {max(done)}, newer than this "
                f"videonet-daemon knows ({MIGRATIONS[-1][0]}; unknown: "
                f"{', '.join(map(str, unknown))}): run the release that wrote it, or restore "
                "a backup made before the upgrade"
            )
        for version, name, step in MIGRATIONS:
            if version in done:
                continue
            await step(conn, types)
            await run(
                conn,
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)",
                v=version,
                n=name,
                t=now_iso(),
            )
            applied_now.append(version)
    return applied_now
