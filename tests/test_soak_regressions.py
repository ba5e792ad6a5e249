"""Regressions found by bench/soak.py (issue 25), each reproduced here without the soak.

- An abort heard by one daemon while the upload runs through another: the uploading daemon's
  end of upload wrote `uploaded` (or `interrupted`) over `aborted`, so an aborted transfer came
  back as resumable and kept its objects (soak seed 11: a one-off code mistyped, the sender
  exit 8, the transfer left `uploaded`).
- Redis restarted: a daemon's listener comes back up to 2 s after Redis does, and what another
  daemon published in between never reached its sockets, which stayed connected and so never
  asked for a replay (soak seed 101: one acknowledged chat message never reached a member).
  Now the daemon closes its sockets once it listens again; their clients join with `since`.
- Both daemons killed at once: nginx (the shipped site, nginx's default `max_fails=1
  fail_timeout=10s`) marked each down at every failed attempt while they restarted, and went on
  answering 502 "no live upstreams" 20-40 s after both answered again (soak seed 101). The
  site now says `max_fails=0`: the first request after a daemon is back reaches it.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from chatkit import Accounts, create_room
from daemons import postgres_admin, start_daemon
from fault_servers import PrivateRedis, Unavailable
from test_deploy import free_port, serve_site
from test_object_storage import (  # noqa: F401  (fixtures)
    Cluster,
    cluster,
    on,
    past,
    sent_id,
    socket_call,
    store,
    wait_until,
)
from transfer_helpers import Background, make_room, member, random_file
from videonet_protocol import protocol

from conftest import POSTGRES, http

MB = 1 << 20


def state_of(nodes: Cluster, transfer_id: str) -> str:
    import asyncpg

    async def read() -> str:
        conn = await asyncpg.connect(f"{POSTGRES}/{nodes.name}", timeout=10)
        try:
            return str(
                await conn.fetchval("SELECT state FROM transfers WHERE id = $1", transfer_id)
            )
        finally:
            await conn.close()

    return asyncio.run(read())


def test_abort_on_one_daemon_holds_while_the_upload_ends_on_another(
    cluster: Cluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    src = random_file(tmp_path / "aborted.bin", 12 * MB)
    # The upload runs through daemon B; the abort comes through daemon A.
    sender = Background(
        on(cluster.b, alice).cli, "send", room, str(src), "--json", "--no-wait",
        "--limit-rate", "3M",
    )  # fmt: skip
    sender.wait_for(past(0.2))
    tid = sent_id(sender.events)
    reply = socket_call(cluster.a, alice, room, "transfer:abort", {"transfer_id": tid})
    assert reply["ok"], reply
    sender.finish(timeout=60)  # however the sender takes it, its upload request ends on B
    # B's end of the upload must not bring the transfer back.
    assert wait_until(lambda: sender.proc.poll() is not None, 30)
    assert state_of(cluster, tid) == "aborted"


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    try:
        server = PrivateRedis()
    except Unavailable as exc:
        print(f"redis restart test skipped: {exc}")
        pytest.skip(str(exc))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.one_pass("restarts a private Redis it starts itself")
def test_a_member_connected_through_a_redis_restart_gets_every_message(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    name = f"vn_soak_{uuid.uuid4().hex[:12]}"
    postgres_admin(f"CREATE DATABASE {name}")
    env = {"VIDEONET_JWT_SECRET": uuid.uuid4().hex * 2, "VIDEONET_CLUSTER_NAME": name}
    args = ("--database-url", f"{POSTGRES}/{name}", "--redis-url", private_redis.url)
    a = start_daemon(tmp_path / "a", *args, **env)
    b = start_daemon(tmp_path / "b", *args, **env)
    try:
        accounts = Accounts(a, tmp_path)
        alice, bob = accounts.make(), accounts.make()
        room = create_room(a, alice, bob)
        sent, got, story = asyncio.run(
            _through_a_redis_restart(a, b, alice, bob, room, private_redis)
        )
        assert sent, "no message was stored after redis came back"
        missing = sorted(set(sent) - got)
        assert not missing, f"alice never got {missing}; what happened (s): {story}"
    finally:
        a.stop()
        b.stop()
        postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Follower:
    """Alice on daemon A as a client follows a room: after a lost connection she connects
    again and joins with `since` (the highest id she has), and the daemon replays the gap."""

    def __init__(self, daemon: Any, user: Any, room: str) -> None:
        self.daemon, self.user, self.room = daemon, user, room
        self.got: set[int] = set()
        self.reconnects = 0
        # What each connection did, for the failure's message: (seconds, what).
        self.story: list[tuple[float, str]] = []
        self._t0 = time.monotonic()
        self.joined = asyncio.Event()
        self.stop = asyncio.Event()

    def note(self, what: str) -> None:
        self.story.append((round(time.monotonic() - self._t0, 2), what))

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                await self._once()
            except Exception as exc:
                self.note(f"failed: {exc!r}")
            if not self.stop.is_set():
                self.reconnects += 1
                await asyncio.sleep(0.3)

    async def _once(self) -> None:
        sio = socketio.AsyncClient(reconnection=False)
        gone = asyncio.Event()

        async def on_message(msg: dict[str, Any]) -> None:
            self.got.add(int(msg["id"]))

        async def on_gone(*_: Any) -> None:
            gone.set()

        sio.on(protocol.EV_CHAT_MESSAGE, on_message)
        sio.on("disconnect", on_gone)
        try:
            await sio.connect(
                self.daemon.url, auth={"token": self.user.token},
                socketio_path=protocol.SOCKET_PATH, transports=["websocket"], wait_timeout=10,
            )  # fmt: skip
            since = max(self.got, default=0)
            self.note(f"connected; joining since {since}")
            join = {"room_id": self.room, "since": since}
            ack = await sio.call(protocol.EV_ROOM_JOIN, join, timeout=10)
            self.note(f"joined: ok={ack.get('ok')} synced={ack.get('synced')}")
            if ack.get("ok"):
                self.joined.set()
                stopped = asyncio.create_task(self.stop.wait())
                await asyncio.wait(
                    [stopped, asyncio.create_task(gone.wait())],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                self.note("disconnected" if gone.is_set() else "stopped")
        finally:
            if sio.connected:
                await sio.disconnect()


async def _through_a_redis_restart(
    a: Any, b: Any, alice: Any, bob: Any, room: str, redis_server: PrivateRedis
) -> tuple[list[int], set[int], list[tuple[float, str]]]:
    """Bob posts through daemon B over HTTP from the moment Redis is back; alice follows on A.
    The ids bob's posts were stored with, the ids alice received, what her connections did."""
    alice_on_a = Follower(a, alice, room)
    follower = asyncio.create_task(alice_on_a.run())
    await asyncio.wait_for(alice_on_a.joined.wait(), 15)
    # Redis away long enough for A's listener to be waiting its longest between attempts.
    redis_server.stop()
    alice_on_a.note("redis stopped")
    await asyncio.sleep(4)
    await asyncio.to_thread(redis_server.start)
    alice_on_a.note("redis started")
    sent: list[int] = []
    post = b.api(protocol.API_ROOM_MESSAGES.format(room_id=room))
    deadline = time.monotonic() + 5
    n = 0
    while time.monotonic() < deadline:
        n += 1
        status, body, _ = await asyncio.to_thread(
            http, "POST", post, {"text": f"m{n}"}, token=bob.token
        )
        if status == 201:
            sent.append(int(body["id"]))
        await asyncio.sleep(0.1)
    alice_on_a.note(f"bob posted {len(sent)} of {n}; alice has {len(alice_on_a.got)}")
    # Long enough for alice to connect again and be replayed what she missed.
    until = time.monotonic() + 15
    while not set(sent) <= alice_on_a.got and time.monotonic() < until:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    alice_on_a.stop.set()
    await follower
    alice_on_a.note(f"ended: sent {sent[:1]}..{sent[-1:]}")
    return sent, alice_on_a.got, alice_on_a.story


def _status_through(url: str, context: ssl.SSLContext) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.one_pass("nginx in front of two daemons: the database is not what it tests")
def test_nginx_uses_a_daemon_as_soon_as_it_is_back_after_both_died(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    dirs = [tmp_path / "a", tmp_path / "b"]
    daemons = [start_daemon(d, "--port", str(p)) for d, p in zip(dirs, ports, strict=True)]
    restarted: list[Any] = []
    try:
        with serve_site([f"127.0.0.1:{p}" for p in ports], tmp_path) as url:
            context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
            health = url + protocol.API_HEALTH
            assert _status_through(health, context) == 200
            for d in daemons:
                d.proc.send_signal(signal.SIGKILL)
                d.proc.wait()
            # Clients go on asking while both are down and daemon A starts again, as they do.
            asking = threading.Event()
            asking.set()
            seen: list[int] = []

            def ask() -> None:
                while asking.is_set():
                    seen.append(_status_through(health, context))
                    time.sleep(0.1)

            clients = threading.Thread(target=ask)
            clients.start()
            try:
                restarted.append(start_daemon(dirs[0], "--port", str(ports[0])))
            finally:
                asking.clear()
                clients.join()
            assert 502 in seen, seen  # both were down: nginx had nobody to ask
            # Daemon A answers on its own port: through nginx it must answer too, at once.
            direct, _, _ = http("GET", restarted[0].api(protocol.API_HEALTH))
            assert direct == 200
            assert _status_through(health, context) == 200
    finally:
        for d in daemons + restarted:
            d.stop()
