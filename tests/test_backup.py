"""`videonet-daemon backup` under load and `restore` into a fresh data dir (issue 25).

The backup is taken while a chat client sends messages and a paced upload is in flight; the
restored daemon must have the accounts, the room, a gap-free prefix of the chat holding every
message acknowledged before the backup began, the pending transfer (received and verified
after the restore) and the interrupted one (resumed by sending again).
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import threading
from pathlib import Path
from typing import Any

from chatkit import connect, history
from transfer_helpers import Background, make_room, member, random_file, with_device_keys
from videonet_protocol import protocol

from conftest import BACKEND, TEST_PASSWORD, Cli, Daemon, daemon_command, database_args, http

MB = 1 << 20


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ChatLoad:
    """A member saying numbered lines, one after another, until stopped; keeps what was acked."""

    def __init__(self, daemon: Daemon, user: Any, room_id: str) -> None:
        self.acked: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(daemon, user, room_id))
        self._thread.start()
        assert self._ready.wait(30), self.error

    def _run(self, daemon: Daemon, user: Any, room_id: str) -> None:
        async def go() -> None:
            peer = await connect(daemon, user)
            try:
                await peer.join(room_id)
                self._ready.set()
                n = 0
                while not self._stop.is_set():
                    text = f"line {n}"
                    await peer.say(room_id, text)
                    self.acked.append(text)
                    n += 1
            finally:
                await peer.close()

        try:
            asyncio.run(go())
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(60)
        assert self.error is None, self.error
        return self.acked


def all_messages(daemon: Daemon, token: str, room_id: str) -> list[str]:
    texts: list[str] = []
    before: int | None = None
    while True:
        query: dict[str, Any] = {"limit": 200}
        if before is not None:
            query["before"] = before
        status, page = history(daemon, token, room_id, **query)
        assert status == 200, page
        if not page["messages"]:
            return texts
        texts = [m["text"] for m in page["messages"]] + texts
        before = page["messages"][0]["id"]


def test_backup_under_load_restores_into_a_fresh_data_dir(
    daemon_factory: Any, tmp_path: Path
) -> None:
    # Chat as fast as acks come back: the load, not the rate limit, is the point here.
    fast = {"VIDEONET_CHAT_RATE": "10000", "VIDEONET_CHAT_BURST": "10000"}
    fast |= {"VIDEONET_SOCKET_EVENT_RATE": "10000", "VIDEONET_SOCKET_EVENT_BURST": "10000"}
    d1 = daemon_factory(**fast)
    alice = member(d1, tmp_path)
    room = make_room(d1, alice, "backup")
    bob = member(d1, tmp_path, room)
    with_device_keys(alice, bob)
    pending = random_file(tmp_path / "pending.bin", 3 * MB + 5)
    r = alice.cli("send", room, str(pending), "--no-wait", "--json")
    assert r.code == 0, r.err
    chat = ChatLoad(d1, alice.user, room)
    flying = random_file(tmp_path / "flying.bin", 12 * MB)
    sender = Background(
        alice.cli, "send", room, str(flying), "--json", "--no-wait", "--limit-rate", "2M"
    )
    sender.wait_for(lambda e: e.get("event") == "progress" and e["bytes"] >= 2 * MB)
    acked_before = len(chat.acked)

    dest = tmp_path / "backup"
    taken = daemon_command("backup", str(dest), data_dir=d1.data_dir)
    assert taken.returncode == 0, taken.stderr
    acked = chat.stop()
    sender.proc.send_signal(signal.SIGKILL)
    sender.proc.wait()
    assert "kept beside it: jwt-secret, node-id" in taken.stdout
    assert (dest / "jwt-secret").stat().st_mode & 0o777 == 0o600

    # Never under a running daemon, never over a data dir that holds something.
    refused = daemon_command("restore", str(dest), data_dir=d1.data_dir)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("stop it before restoring"), refused.stderr
    d1.stop()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "something").write_text("x")
    refused = daemon_command("restore", str(dest), data_dir=occupied)
    assert refused.returncode == 1 and "--force" in refused.stderr, refused.stderr

    fresh = tmp_path / "restored"
    if BACKEND == "postgresql":
        database_args(fresh)  # an empty database of its own
    done = daemon_command("restore", str(dest), data_dir=fresh)
    assert done.returncode == 0, done.stderr
    # Restored on the same address, as an operator would: each device keeps its identity and
    # pins per server origin, so a daemon that moved is another server to the CLI.
    d2 = daemon_factory("--port", d1.url.rsplit(":", 1)[1], data_dir=fresh)

    # Accounts: the password logs in; the old token still works (same key, same sessions).
    status, body, _ = http(
        "POST", d2.api(protocol.API_LOGIN), {"email": bob.user.email, "password": TEST_PASSWORD}
    )
    assert status == 200, body
    status, me, _ = http("GET", d2.api(protocol.API_ME), token=alice.user.token)
    assert status == 200 and me["username"] == alice.user.username, me
    # The room, with both members.
    status, members, _ = http(
        "GET", d2.api(protocol.API_ROOM_MEMBERS.format(room_id=room)), token=bob.user.token
    )
    assert status == 200, members
    names = {m["username"] for m in members}
    assert {alice.user.username, bob.user.username} <= names
    # Chat: a gap-free prefix of what was acknowledged, with everything acked before the backup.
    stored = all_messages(d2, bob.user.token, room)
    assert len(stored) >= acked_before > 0
    assert stored == acked[: len(stored)]

    # Transfers: the interrupted upload resumes where the backup had it, and both arrive whole.
    alice2 = Cli(d2.url, alice.cli.config_dir, alice.user.token)
    bob2 = Cli(d2.url, bob.cli.config_dir, bob.user.token)
    resumed = alice2("send", room, str(flying), "--no-wait", "--json", timeout=120)
    assert resumed.code == 0, resumed.err
    assert '"resumed_from":0' not in resumed.out.splitlines()[0], resumed.out.splitlines()[0]
    out = tmp_path / "in"
    out.mkdir()
    got = bob2("receive", room, "--out", str(out), "--count", "2", "--yes", "--json", timeout=120)
    assert got.code == 0, got.err
    assert sha(out / "pending.bin") == sha(pending)
    assert sha(out / "flying.bin") == sha(flying)
