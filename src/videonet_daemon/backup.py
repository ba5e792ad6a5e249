"""`videonet-daemon backup DEST` and `restore SRC`: the database and what must be kept beside it.

A backup is a directory: the database (SQLite copied with its online backup API, consistent
while the daemon serves; PostgreSQL dumped by `pg_dump --format=custom`), the data dir's files
that the database needs (the JWT signing key, the node id that owns local spool files, the
bootstrap invite), the local spool's files, and `backup.json` saying what is in it, the schema
version, and where the spool was when it lives in object storage (the bucket is not copied:
back it up with the store's own tools). docs/deploy/backup.md is the operator's page.

A serving daemon holds a shared lock on DATA_DIR/serving.lock (`hold_serving_lock`); restore
takes it exclusively, so it never writes under a running daemon.
"""

from __future__ import annotations

import asyncio
import fcntl
import glob
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videonet_daemon.auth.tokens import KEY_FILE
from videonet_daemon.cluster import NODE_ID_FILE
from videonet_daemon.settings import Settings

SERVING_LOCK_FILE = "serving.lock"
MANIFEST = "backup.json"
FORMAT = 1
SQLITE_FILE = "videonet.db"
PG_DUMP_FILE = "videonet.pgdump"
SPOOL_DIR = "spool"
BOOTSTRAP_INVITE_FILE = "bootstrap-invite"  # app.BOOTSTRAP_INVITE_FILE (app imports the world)
KEPT_FILES = (KEY_FILE, NODE_ID_FILE, BOOTSTRAP_INVITE_FILE)
PG_TOOL_TIMEOUT = 3600
DOC = "docs/deploy/backup.md"


class BackupError(Exception):
    """A backup or restore refused or failed; the message is the one line the operator reads."""


@dataclass(frozen=True)
class Outcome:
    """What a backup or restore did, for the command to print."""

    path: Path
    engine: str
    schema_version: int
    kept: list[str]
    spool: str


def hold_serving_lock(data_dir: Path) -> int:
    """Taken by `serve` for as long as it runs (the kernel drops it if the daemon is killed).
    Shared, so it never stops a daemon from starting; only `restore` asks for it exclusively."""
    fd = os.open(data_dir / SERVING_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def _served(data_dir: Path) -> bool:
    path = data_dir / SERVING_LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _pg_tool(name: str) -> str | None:
    """pg_dump/pg_restore on PATH, else the newest Debian one (a newer client reads older
    servers; an older one refuses a newer server with its own message)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def _sqlite_path(settings: Settings) -> Path:
    url = settings.resolved_database_url
    return Path(url.split(":///", 1)[1])


def _is_sqlite(settings: Settings) -> bool:
    return settings.resolved_database_url.startswith("sqlite")


def _plain_pg_url(settings: Settings) -> str:
    url = settings.resolved_database_url
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def _run_tool(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PG_TOOL_TIMEOUT)
    except OSError as exc:
        raise BackupError(f"{what} could not run: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{what} failed: {lines[0] if lines else f'exit {done.returncode}'}")


def _copy_private(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
        shutil.copyfileobj(inp, out, 1 << 20)


async def _schema_version_db(settings: Settings) -> int:
    from videonet_daemon.db.engine import Database

    db = Database(settings.resolved_database_url)
    try:
        row = await db.fetch_one("SELECT MAX(version) FROM schema_migrations")
        return int(row[0] or 0) if row else 0
    finally:
        await db.close()


def backup(settings: Settings, dest: Path) -> Outcome:
    """Write a backup of the configured database and data dir into `dest` (new or empty)."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty directory")
    data_dir = settings.resolved_data_dir
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)
    if _is_sqlite(settings):
        source = _sqlite_path(settings)
        if not source.exists():
            raise BackupError(f"no database at {source}")
        engine = "sqlite"
        target = dest / SQLITE_FILE
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600))
        # The online backup API: one consistent snapshot while the daemon keeps writing (WAL).
        src_conn = sqlite3.connect(source, timeout=30)
        dst_conn = sqlite3.connect(target)
        try:
            src_conn.backup(dst_conn)
            # One self-contained file (no -wal beside it); the daemon turns WAL on again.
            dst_conn.execute("PRAGMA journal_mode=DELETE")
            row = dst_conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        finally:
            dst_conn.close()
            src_conn.close()
        version = int(row[0] or 0)
    else:
        engine = "postgresql"
        tool = _pg_tool("pg_dump")
        if tool is None:
            raise BackupError(f"pg_dump not found: back up PostgreSQL as {DOC} says")
        target = dest / PG_DUMP_FILE
        _run_tool([tool, "--format=custom", "--file", str(target), _plain_pg_url(settings)], tool)
        os.chmod(target, 0o600)
        version = asyncio.run(_schema_version_db(settings))
    kept = [name for name in KEPT_FILES if (data_dir / name).is_file()]
    for name in kept:
        _copy_private(data_dir / name, dest / name)
    spool = _backup_spool(settings, dest)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "engine": engine,
        "schema_version": version,
        "kept": kept,
        "jwt_secret": "environment" if settings.jwt_secret else "file",
        "spool": spool,
    }
    fd = os.open(dest / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    return Outcome(dest, engine, version, kept, _spool_line(spool))


def _backup_spool(settings: Settings, dest: Path) -> dict[str, Any]:
    if settings.spool_url:
        # Copied after the database: a segment may be newer than the record, never missing.
        return {"kind": "object storage", "url": settings.spool_url}
    spool_dir = settings.spool_dir or settings.resolved_data_dir / SPOOL_DIR
    copied = 0
    # After the database snapshot: a spool file is at least as long as its recorded byte count
    # (an upload appends before it records), and a resumed upload starts at the record.
    for path in sorted(spool_dir.glob("*.spool")) if spool_dir.is_dir() else []:
        try:
            _copy_private(path, dest / SPOOL_DIR / path.name)
            copied += 1
        except FileNotFoundError:
            continue  # deleted since the listing: its transfer was finished or cleaned up
    return {"kind": "local", "dir": str(spool_dir), "files": copied}


def _spool_line(spool: dict[str, Any]) -> str:
    if spool["kind"] == "local":
        return f"local, {spool['files']} transfer files ({spool['dir']})"
    return f"in object storage at {spool['url']}: not copied; back the bucket up with its own tools"


def read_manifest(src: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(f"{src} is not a videonet backup (no {MANIFEST})") from exc
    except ValueError as exc:
        raise BackupError(f"{src / MANIFEST} is damaged: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{src} has backup format {manifest.get('format')!r}, not {FORMAT}")
    return manifest


def restore(settings: Settings, src: Path, force: bool) -> Outcome:
    """Put a backup back into the configured data dir and database (refusing a served data dir,
    and one that holds anything unless `force`)."""
    manifest = read_manifest(src)
    data_dir = settings.resolved_data_dir
    if data_dir.exists() and _served(data_dir):
        raise BackupError(f"a daemon is serving {data_dir}: stop it before restoring")
    engine = "sqlite" if _is_sqlite(settings) else "postgresql"
    if manifest["engine"] != engine:
        raise BackupError(
            f"{src} holds a {manifest['engine']} backup but the configured database is {engine}"
        )
    occupied = data_dir.exists() and any(p.name != SERVING_LOCK_FILE for p in data_dir.iterdir())
    if occupied and not force:
        raise BackupError(f"{data_dir} is not empty: restore with --force to replace it")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if engine == "sqlite":
        _restore_sqlite(src / SQLITE_FILE, _sqlite_path(settings))
    else:
        _restore_postgresql(settings, src / PG_DUMP_FILE, force)
    kept = [str(name) for name in manifest.get("kept", []) if (src / name).is_file()]
    for name in kept:
        _copy_private(src / name, data_dir / name)
    spool = manifest.get("spool", {})
    if spool.get("kind") == "local":
        spool_dir = settings.spool_dir or data_dir / SPOOL_DIR
        if force and spool_dir.is_dir():
            for old in spool_dir.glob("*.spool"):
                old.unlink()
        for path in sorted((src / SPOOL_DIR).glob("*.spool")):
            _copy_private(path, spool_dir / path.name)
        spool = {**spool, "dir": str(spool_dir)}
    return Outcome(data_dir, engine, int(manifest["schema_version"]), kept, _spool_line(spool))


def _restore_sqlite(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"the backup has no {SQLITE_FILE}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.restoring")
    _copy_private(source, tmp)
    os.replace(tmp, target)


def _restore_postgresql(settings: Settings, dump: Path, force: bool) -> None:
    tool = _pg_tool("pg_restore")
    if tool is None:
        raise BackupError(f"pg_restore not found: restore PostgreSQL as {DOC} says")
    if not dump.is_file():
        raise BackupError(f"the backup has no {PG_DUMP_FILE}")
    others, has_schema = asyncio.run(_pg_state(settings))
    if others:
        raise BackupError(
            f"{others} other connections to the database (a daemon serving it?): stop them first"
        )
    if has_schema and not force:
        raise BackupError("the database is not empty: restore with --force to replace it")
    cmd = [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if has_schema:
        cmd += ["--clean", "--if-exists"]
    _run_tool([*cmd, "--dbname", _plain_pg_url(settings), str(dump)], tool)


async def _pg_state(settings: Settings) -> tuple[int, bool]:
    from videonet_daemon.db.engine import Database

    db = Database(settings.resolved_database_url)
    try:
        row = await db.fetch_one(
            "SELECT COUNT(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        table = await db.fetch_one("SELECT to_regclass('schema_migrations') IS NOT NULL")
        return (int(row[0]) if row else 0), bool(table and table[0])
    finally:
        await db.close()
