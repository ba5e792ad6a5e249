"""The spool under faults: a full disk, a daemon restart mid-upload, a sender that stalls.

The full-disk test mounts a small tmpfs (the tests run as root); where mount is not permitted it
skips, saying why.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from transfer_helpers import make_room, member, offer_payload

from conftest import Daemon, http

pytestmark = pytest.mark.one_pass(
    "the local spool's disk faults; they matter where the database shares that disk (SQLite)"
)

MB = 1 << 20


class Sock:
    """One Socket.IO connection of a user, joined to a room, for the transfer control plane."""

    def __init__(self, daemon: Daemon, token: str, room: str) -> None:
        self.daemon, self.token, self.room = daemon, token, room
        self.client = socketio.AsyncClient(reconnection=False)

    async def __aenter__(self) -> Sock:
        await self.client.connect(
            self.daemon.url, auth={"token": self.token}, transports=["websocket"]
        )
        assert (await self.call("room:join", {"room_id": self.room}))["ok"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.disconnect()

    async def call(self, event: str, data: dict[str, Any]) -> Any:
        return await self.client.call(event, data, timeout=20)

    async def offer(self, name: str, size: int, transfer_id: str | None = None) -> Any:
        return await self.call("transfer:offer", offer_payload(self.room, name, size, transfer_id))


def offer(
    daemon: Daemon, token: str, room: str, name: str, size: int, transfer_id: str | None = None
) -> Any:
    async def go() -> Any:
        async with Sock(daemon, token, room) as s:
            return await s.offer(name, size, transfer_id)

    return asyncio.run(go())


def put(daemon: Daemon, token: str, transfer: str, body: Any, length: int) -> tuple[int, str]:
    """PUT the bytes; (status, body) or (0, the error) if the daemon cut the connection."""
    import http.client as httplib

    parts = urllib.parse.urlsplit(daemon.url)
    conn = httplib.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Length": str(length)}
    try:
        conn.request("PUT", f"/api/transfers/{transfer}/data?offset=0", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    except OSError as exc:
        return 0, repr(exc)
    finally:
        conn.close()


def spool_fds(pid: int) -> list[str]:
    """The spool files the daemon process holds open (deleted ones say so)."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with_target = os.readlink(fd) if fd.is_symlink() else ""
        if ".spool" in with_target:
            found.append(with_target)
    return found


# --- 2: a full spool ---------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs for the full-disk test: {done.stderr.strip()}"
        print(reason)
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_spool_does_not_wedge_the_daemon(
    daemon_factory: Any, small_disk: Path, tmp_path: Path
) -> None:
    d = daemon_factory(data_dir=small_disk / "data", VIDEONET_SPOOL_MIN_FREE_BYTES=str(8 * MB))
    alice = member(d, tmp_path)
    room = make_room(d, alice)
    token = alice.user.token

    # Space is reserved per transfer: two 60 MB offers on a 96 MB disk cannot both pass.
    first = offer(d, token, room, "one.bin", 60 * MB)
    assert first["ok"], first
    second = offer(d, token, room, "two.bin", 60 * MB)
    assert second["ok"] is False and second["error"]["code"] == "insufficient_storage", second
    transfer = first["transfer"]["transfer_id"]

    # Something else fills the disk; the upload runs into it and ends cleanly (507, no 500).
    free = shutil.disk_usage(small_disk).free
    filler = small_disk / "filler"
    with filler.open("wb") as fh:
        fh.truncate(0)
        left = free - 2 * MB
        while left > 0:
            left -= fh.write(b"\0" * min(left, 4 * MB))
    status, body = put(d, token, transfer, b"\1" * (60 * MB), 60 * MB)
    assert status in (0, 507), (status, body)
    if status:
        assert "insufficient_storage" in body
    assert shutil.disk_usage(small_disk).free < 8 * MB  # full but for the daemon's reserve
    assert spool_fds(d.proc.pid) == []  # the upload closed its descriptor

    # The sender can still abort on a full disk: the spool file goes before the database write.
    async def abort() -> Any:
        async with Sock(d, token, room) as s:
            return await s.call("transfer:abort", {"transfer_id": transfer})

    ack = asyncio.run(abort())
    assert ack["ok"], ack
    assert not (small_disk / "data" / "spool" / f"{transfer}.spool").exists()
    # …and the database is writable again: a login, a new room.
    status, _, _ = http(
        "POST",
        d.api("/api/auth/login"),
        {"email": alice.user.email, "password": alice.user.password},
    )
    assert status == 200
    assert make_room(d, alice, "after the storm")
    assert spool_fds(d.proc.pid) == []
    log = (d.data_dir.parent / f"{d.data_dir.name}.log").read_text()
    assert "Traceback" not in log
    filler.unlink()


# --- 7: a restart keeps resumable uploads -----------------------------------------------------


def test_a_restart_keeps_an_upload_that_was_receiving_bytes(
    daemon_factory: Any, tmp_path: Path
) -> None:
    env = {"VIDEONET_TRANSFER_IDLE_TIMEOUT": "4"}
    d = daemon_factory(**env)
    alice = member(d, tmp_path)
    room = make_room(d, alice)
    token = alice.user.token
    first = offer(d, token, room, "long.bin", 32 * MB)
    transfer = first["transfer"]["transfer_id"]

    def slow_body() -> Iterator[bytes]:
        for _ in range(32):  # 2 MiB a second: bytes keep arriving for longer than the idle limit
            yield b"\2" * MB
            time.sleep(0.5)

    uploader = threading.Thread(target=put, args=(d, token, transfer, slow_body(), 32 * MB))
    uploader.start()
    # Killed before the upload first records its progress (routes.PROGRESS_EVERY_SECONDS, 5 s):
    # the stored row looks idle for longer than the limit, and only the restart's recovery
    # (idle time counted from the start-up) keeps it.
    time.sleep(4.5)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    uploader.join(timeout=60)

    d2 = daemon_factory(data_dir=d.data_dir, **env)
    time.sleep(1.5)  # the start-up clean-up has run (every second with this idle limit)
    again = offer(d2, token, room, "long.bin", 32 * MB, transfer)
    assert again["ok"], again
    assert again["resumed"] is True, again
    assert again["transfer"]["transfer_id"] == transfer
    assert again["offset"] >= 4 * MB


# --- 12: a stalled upload is ended and reclaimed ----------------------------------------------


def test_a_stalled_upload_is_ended_and_reclaimed(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(
        VIDEONET_TRANSFER_STALL_TIMEOUT="2",
        VIDEONET_TRANSFER_IDLE_TIMEOUT="4",
        VIDEONET_TRANSFER_MAX_ACTIVE="1",
    )
    alice = member(d, tmp_path)
    room = make_room(d, alice)
    token = alice.user.token
    first = offer(d, token, room, "stall.bin", 4 * MB)
    transfer = first["transfer"]["transfer_id"]

    host, port = urllib.parse.urlsplit(d.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(
            f"PUT /api/transfers/{transfer}/data?offset=0 HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {4 * MB}\r\n\r\n".encode()
        )
        s.sendall(b"\3" * MB)  # then nothing, with the connection left open
        reply = s.recv(4096)  # the daemon gives up after the stall timeout
    assert reply.startswith(b"HTTP/1.1 409"), reply

    # Until it is reclaimed it counts against the sender's limit; then it is gone.
    blocked = offer(d, token, room, "next.bin", 26)
    assert blocked["ok"] is False and blocked["error"]["code"] == "too_many_transfers"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        later = offer(d, token, room, "next.bin", 26)
        if later["ok"]:
            break
        time.sleep(1.0)
    assert later["ok"], later
    assert not (d.data_dir / "spool" / f"{transfer}.spool").exists()
