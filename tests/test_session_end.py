"""A socket ends with its login session: logout (on any daemon) and token expiry close it.

The token is checked once, when a socket connects; these tests prove that an open socket does
not outlive a logout or its token's expiry.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatkit import WAIT, Accounts, Peer, connect, create_room
from videonet_protocol import protocol

from conftest import POSTGRES, Daemon, http, postgres_admin, start_daemon

pytestmark = pytest.mark.one_pass("uses PostgreSQL itself in every pass")

REDIS = "redis://127.0.0.1:6379/0"


async def ended(peer: Peer) -> dict[str, Any]:
    """Wait for the session-ended notice, then for the daemon to close the socket."""
    peer.sio.on(protocol.EV_SESSION_ENDED, lambda data: peer.queue("ended").put_nowait(data))
    notice: dict[str, Any] = await peer.next("ended")
    for _ in range(int(WAIT / 0.05)):
        if not peer.sio.connected:
            break
        await asyncio.sleep(0.05)
    assert not peer.sio.connected, "the daemon kept the socket open"
    return notice


def logout(daemon: Daemon, token: str) -> None:
    status, body, _ = http("POST", daemon.api(protocol.API_LOGOUT), {}, token=token)
    assert status == 200, body


async def test_logout_closes_the_sessions_open_sockets(daemon: Daemon, tmp_path: Path) -> None:
    accounts = Accounts(daemon, tmp_path)
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    peer = await connect(daemon, alice)
    witness = await connect(daemon, bob)
    try:
        await peer.join(room)
        await witness.join(room)
        logout(daemon, alice.token)
        notice = await ended(peer)
        assert notice["code"] == protocol.ErrorCode.UNAUTHENTICATED
        # The logged-out user's earlier socket is gone: nothing it sent can reach the room,
        # and the other member's socket (another session) is untouched.
        assert witness.sio.connected
        await witness.say(room, "still here")
    finally:
        await peer.close()
        await witness.close()


async def test_a_socket_ends_when_its_token_expires(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(VIDEONET_TOKEN_LIFETIME="5")
    accounts = Accounts(d, tmp_path)
    alice = accounts.make()
    peer = await connect(d, alice)
    try:
        notice = await ended(peer)
        assert "expired" in notice["message"]
    finally:
        await peer.close()


@pytest.fixture
def two_daemons(tmp_path: Path) -> Iterator[tuple[Daemon, Daemon]]:
    try:
        postgres_admin("SELECT 1")
        import redis

        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except Exception as exc:
        print(f"skipped: needs PostgreSQL at {POSTGRES} and Redis at {REDIS}: {exc}")
        pytest.skip(f"needs PostgreSQL and Redis: {exc}")
    name = f"vn_end_{uuid.uuid4().hex[:12]}"
    postgres_admin(f"CREATE DATABASE {name}")
    env = {"VIDEONET_JWT_SECRET": uuid.uuid4().hex * 2, "VIDEONET_CLUSTER_NAME": name}
    args = ("--database-url", f"{POSTGRES}/{name}", "--redis-url", REDIS)
    started: list[Daemon] = []
    try:
        started.append(start_daemon(tmp_path / "a", *args, **env))
        started.append(start_daemon(tmp_path / "b", *args, **env))
        yield started[0], started[1]
    finally:
        for d in started:
            d.stop()
        postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_logout_on_one_daemon_closes_the_socket_on_the_other(
    two_daemons: tuple[Daemon, Daemon], tmp_path: Path
) -> None:
    a, b = two_daemons
    alice = Accounts(a, tmp_path).make()
    peer = await connect(b, alice)
    try:
        logout(a, alice.token)
        await ended(peer)
    finally:
        await peer.close()
