"""Helpers for the chat tests: fast users, rooms, and Socket.IO peers that record what arrives.

Waiting is always for an event or an ack; `WAIT` only bounds how long a broken build hangs.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio

from videonet_protocol import protocol

from conftest import TEST_PASSWORD, Daemon, User, http

WAIT = 15.0


class Accounts:
    """Registers users with one many-use operator invite (one subprocess per test session)."""

    def __init__(self, daemon: Daemon, tmp_root: Path) -> None:
        self.daemon = daemon
        self.tmp_root = tmp_root
        self.invite = daemon.mint_invite(uses=5000)

    def make(self, name: str | None = None) -> User:
        name = name or f"c{uuid.uuid4().hex[:10]}"
        email = f"{name}@example.test"
        body = {"email": email, "username": name, "password": TEST_PASSWORD}
        status, reply, _ = http(
            "POST", self.daemon.api(protocol.API_REGISTER), {**body, "invite_code": self.invite}
        )
        assert status == 201, reply
        status, reply, _ = http(
            "POST", self.daemon.api(protocol.API_LOGIN), {"email": email, "password": TEST_PASSWORD}
        )
        assert status == 200, reply
        config = self.tmp_root / f"cfg-{name}"
        config.mkdir(parents=True, exist_ok=True)
        return User(email, name, TEST_PASSWORD, reply["token"], reply["user"]["id"], config)


def create_room(daemon: Daemon, owner: User, *members: User) -> str:
    status, room, _ = http(
        "POST",
        daemon.api(protocol.API_ROOM_CREATE),
        {"name": f"r{uuid.uuid4().hex[:8]}"},
        token=owner.token,
    )
    assert status == 201, room
    for member in members:
        join_http(daemon, member, room["id"])
    return str(room["id"])


def join_http(daemon: Daemon, user: User, room_id: str) -> None:
    path = protocol.API_ROOM_JOIN.format(room_id=room_id)
    status, body, _ = http("POST", daemon.api(path), {}, token=user.token)
    assert status == 200, body


def leave_http(daemon: Daemon, user: User, room_id: str) -> None:
    path = protocol.API_ROOM_LEAVE.format(room_id=room_id)
    status, body, _ = http("POST", daemon.api(path), {}, token=user.token)
    assert status == 200, body


def history(daemon: Daemon, token: str | None, room_id: str, **query: Any) -> tuple[int, Any]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    path = protocol.API_ROOM_MESSAGES.format(room_id=room_id) + (f"?{qs}" if qs else "")
    status, body, _ = http("GET", daemon.api(path), token=token)
    return status, body


@dataclass
class Peer:
    """One Socket.IO connection that queues every server event it receives, per event name."""

    user: User
    sio: socketio.AsyncClient
    events: dict[str, asyncio.Queue[Any]] = field(default_factory=dict)

    def queue(self, event: str) -> asyncio.Queue[Any]:
        return self.events.setdefault(event, asyncio.Queue())

    async def next(self, event: str) -> Any:
        return await asyncio.wait_for(self.queue(event).get(), WAIT)

    def pending(self, event: str) -> list[Any]:
        q = self.queue(event)
        items = []
        while not q.empty():
            items.append(q.get_nowait())
        return items

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.sio.call(event, data, timeout=WAIT)

    async def join(self, room_id: str, **extra: Any) -> Any:
        ack = await self.call(protocol.EV_ROOM_JOIN, {"room_id": room_id, **extra})
        assert ack["ok"], ack
        return ack

    async def say(self, room_id: str, text: str) -> dict[str, Any]:
        ack = await self.call(protocol.EV_CHAT_SEND, {"room_id": room_id, "text": text})
        assert ack["ok"], ack
        message: dict[str, Any] = ack["message"]
        return message

    async def refused(self, event: str, data: Any, code: str) -> dict[str, Any]:
        """Send an event that must be refused with `code`: by the ack alone, and by a vn:error
        event when it is sent again without an ack."""
        ack = await self.call(event, data)
        assert ack["ok"] is False, ack
        assert ack["error"]["code"] == code, ack
        # A vn:error for the call would have come before its ack: none did.
        assert self.pending(protocol.EV_ERROR) == []
        await self.sio.emit(event, data)
        error = await self.next(protocol.EV_ERROR)
        assert error["code"] == code
        result: dict[str, Any] = ack["error"]
        return result

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def connect(daemon: Daemon, user: User) -> Peer:
    sio = socketio.AsyncClient(reconnection=False)
    peer = Peer(user, sio)
    for event in (
        protocol.EV_CHAT_MESSAGE,
        protocol.EV_PRESENCE,
        protocol.EV_ERROR,
        protocol.EV_ROOM_REMOVED,
    ):
        sio.on(event, _recorder(peer, event))
    await sio.connect(
        daemon.url,
        auth={"token": user.token},
        socketio_path=protocol.SOCKET_PATH,
        transports=["websocket"],
        wait_timeout=WAIT,
    )
    return peer


def _recorder(peer: Peer, event: str) -> Any:
    async def record(data: Any = None) -> None:
        peer.queue(event).put_nowait(data)

    return record
