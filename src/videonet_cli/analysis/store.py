"""SQLite in the user data dir: cached analyses and chat conversations, keyed by SHA-256.

Keyed by the video's content, not its name: a renamed or copied clip finds its analysis and its
conversation, and two different clips that share a name never mix. Schema changes are an ordered
list of small migrations recorded in ``PRAGMA user_version`` (the habit of simonw/llm).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STORE_FILE = "analysis.sqlite3"  # in the user data dir


def _m001_initial(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE analyses (
            sha256 TEXT NOT NULL,
            params TEXT NOT NULL,
            created_at REAL NOT NULL,
            result TEXT NOT NULL,
            PRIMARY KEY (sha256, params)
        );
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX conversations_sha256 ON conversations (sha256, id);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations (id),
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX messages_conversation ON messages (conversation_id, id);
        """
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_initial]


@dataclass(frozen=True)
class Message:
    role: str
    content: str


class Store:
    """One connection to the analysis database; use as a context manager."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not path.exists()
        self._db = sqlite3.connect(path, timeout=10)
        if fresh:
            os.chmod(path, 0o600)  # conversations may be private
        self._db.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._db:
                migration(self._db)
                self._db.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- analyses ---------------------------------------------------------------------------

    def get_analysis(self, sha256: str, params: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT result FROM analyses WHERE sha256 = ? AND params = ?", (sha256, params)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def latest_analysis(self, sha256: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT result FROM analyses WHERE sha256 = ? ORDER BY created_at DESC LIMIT 1",
            (sha256,),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put_analysis(self, sha256: str, params: str, result: dict[str, Any]) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO analyses (sha256, params, created_at, result) "
                "VALUES (?, ?, ?, ?)",
                (sha256, params, time.time(), json.dumps(result, ensure_ascii=False)),
            )

    # -- conversations ----------------------------------------------------------------------

    def latest_conversation(self, sha256: str) -> int | None:
        row = self._db.execute(
            "SELECT id FROM conversations WHERE sha256 = ? ORDER BY id DESC LIMIT 1", (sha256,)
        ).fetchone()
        return int(row[0]) if row else None

    def new_conversation(self, sha256: str) -> int:
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO conversations (sha256, created_at) VALUES (?, ?)",
                (sha256, time.time()),
            )
        return int(cursor.lastrowid or 0)

    def messages(self, conversation_id: int) -> list[Message]:
        rows = self._db.execute(
            "SELECT role, content FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        ).fetchall()
        return [Message(str(role), str(content)) for role, content in rows]

    def conversations(self, limit: int) -> list[dict[str, Any]]:
        """The newest stored conversations: the clip (its last analysed path), when, how many
        messages, the first question."""
        rows = self._db.execute(
            "SELECT c.id, c.sha256, c.created_at, "
            "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id), "
            "(SELECT content FROM messages m WHERE m.conversation_id = c.id AND m.role = 'user' "
            " ORDER BY m.id LIMIT 1), "
            "(SELECT json_extract(a.result, '$.video.path') FROM analyses a "
            " WHERE a.sha256 = c.sha256 ORDER BY a.created_at DESC LIMIT 1) "
            "FROM conversations c ORDER BY c.id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            {
                "id": int(cid),
                "video": path,
                "sha256": sha,
                "created_at": time.strftime("%Y-%m-%d %H:%M", time.localtime(created)),
                "messages": int(count),
                "first_question": first,
            }
            for cid, sha, created, count, first, path in rows
        ]

    def analysed_without_conversation(self) -> list[dict[str, Any]]:
        """The videos analysed here that no conversation is about (an offline analysis has
        none: the chat needs a model): each one's last analysed path and backend, newest first."""
        rows = self._db.execute(
            "SELECT json_extract(a.result, '$.video.path'), json_extract(a.result, '$.backend') "
            "FROM analyses a WHERE NOT EXISTS "
            "(SELECT 1 FROM conversations c WHERE c.sha256 = a.sha256) "
            "AND a.created_at = "
            "(SELECT MAX(b.created_at) FROM analyses b WHERE b.sha256 = a.sha256) "
            "ORDER BY a.created_at DESC"
        ).fetchall()
        return [{"video": path, "backend": backend} for path, backend in rows]

    def add_turn(self, conversation_id: int, question: str, answer: str) -> None:
        """Store a question and its answer together, so a crash never leaves half a turn."""
        now = time.time()
        with self._db:
            self._db.executemany(
                "INSERT INTO messages (conversation_id, role, content, created_at) "
                "VALUES (?, ?, ?, ?)",
                [
                    (conversation_id, "user", question, now),
                    (conversation_id, "assistant", answer, now),
                ],
            )
