"""Helpers for transfer tests: a room with members, background `videonet receive`, test files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import BIN, Cli, Daemon, User, http

MB = 1 << 20


@dataclass
class Member:
    user: User
    cli: Cli


def member(daemon: Daemon, tmp_path: Path, room_id: str | None = None) -> Member:
    user = daemon.make_user(tmp_path)
    if room_id:
        status, body, _ = http(
            "POST", daemon.api(f"/api/rooms/{room_id}/join"), {}, token=user.token
        )
        assert status == 200, body
    return Member(user, Cli(daemon.url, user.config_dir, user.token))


def with_device_keys(*members: Member) -> None:
    """Each member's CLI makes and publishes its device key, as its first `videonet login` does,
    so senders encrypt to it even when it receives after the sender has gone."""
    procs = [
        subprocess.Popen(
            [str(BIN / "videonet"), "keys", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=m.cli.env(),
        )
        for m in members
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err


def make_room(daemon: Daemon, owner: Member, name: str = "xfer") -> str:
    # Room names are unique on a daemon, and tests share one: each room gets its own name.
    unique = f"{name}-{uuid.uuid4().hex[:8]}"
    status, room, _ = http(
        "POST", daemon.api("/api/rooms/create"), {"name": unique}, token=owner.user.token
    )
    assert status == 201
    return str(room["id"])


def room_with_receivers(
    daemon: Daemon, tmp_path: Path, count: int, name: str = "xfer"
) -> tuple[str, Member, list[Member]]:
    """A room its owner made and `count` others joined, each with its device key published."""
    owner = member(daemon, tmp_path)
    room = make_room(daemon, owner, name)
    others = [member(daemon, tmp_path, room) for _ in range(count)]
    with_device_keys(*others)
    return room, owner, others


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def past_a_quarter(event: dict[str, Any]) -> bool:
    """A progress event well inside the transfer: a kill now leaves bytes on both sides."""
    return bool(
        event.get("event") == "progress" and event["total"] // 4 < event["bytes"] < event["total"]
    )


def json_events(out: str) -> list[dict[str, Any]]:
    """The events of a `--json` command's output, one a line."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def random_file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 1 << 20))
            fh.write(block)
            left -= len(block)
    return path


class Background:
    """A `videonet` command running in the background with --json output read line by line."""

    def __init__(self, cli: Cli, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [str(BIN / "videonet"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli.env(**env),
        )
        self.events: list[dict[str, Any]] = []
        self._stderr: str | None = None

    def wait_for(self, predicate: Any, timeout: float = 60) -> dict[str, Any]:
        """Read events until one matches (the process must still be producing them)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"ended before the event; stderr: {self.stderr()}")
            event = json.loads(line)
            self.events.append(event)
            if predicate(event):
                return event
        raise AssertionError("timed out waiting for an event")

    def finish(self, timeout: float = 120) -> int:
        out, err = self.proc.communicate(timeout=timeout)
        self._stderr = err
        for line in out.splitlines():
            if line.strip():
                self.events.append(json.loads(line))
        return self.proc.returncode

    def stderr(self) -> str:
        if self._stderr is not None:
            return self._stderr
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def result(self) -> dict[str, Any]:
        results = [e for e in self.events if e.get("event") == "result"]
        assert results, self.events
        return results[-1]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def paced_send(sender: Member, room: str, path: Path, timeout: str = "60") -> Background:
    """``send --json`` at 4 MiB/s in the background: a kill or a fault lands while bytes still
    move (a 16 MiB file takes about 4 s)."""
    return Background(
        sender.cli, "send", room, str(path), "--json", "--timeout", timeout, "--limit-rate", "4M"
    )


def listening_receiver(cli: Cli, room: str, out: Path, *extra: str, **env: str) -> Background:
    out.mkdir(parents=True, exist_ok=True)
    rx = Background(
        cli, "receive", room, "--out", str(out), "--json", "--yes", "--timeout", "60", *extra, **env
    )
    rx.wait_for(lambda e: e.get("event") == "listening")
    return rx


def offer_payload(
    room_id: str, name: str, size: int, transfer_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A transfer-protocol-2 offer of ``size`` ciphertext bytes as a raw client makes it, for
    daemon tests that upload bytes of their own (the header is opaque to the daemon)."""
    from videonet_protocol import protocol

    full = protocol.E2E_RECORD_BYTES + protocol.E2E_TAG_BYTES
    plains = [size - protocol.E2E_TAG_BYTES * r for r in range(1, size // full + 3)]
    plain = next(p for p in plains if p >= 0 and protocol.e2e_ciphertext_size(p) == size)
    return {
        "version": protocol.TRANSFER_PROTOCOL_VERSION,
        "transfer_id": transfer_id or uuid.uuid4().hex,
        "room_id": room_id,
        "name": name,
        "size": size,
        "kind": "files",
        "file_count": 1,
        "header": protocol.e2e_encode(b"signed header"),
        "e2e": {"stream_id": "ab" * 16, "plain_size": plain, "keys": []},
        **extra,
    }
