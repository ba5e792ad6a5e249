"""Outages of the daemons' dependencies, on PRIVATE servers this test starts (free ports), so the
machine's shared Redis and PostgreSQL are never touched: Redis stopped and started again under
two daemons, PostgreSQL stopped and started again under one, a daemon killed with -9, two
daemons starting at once. Skipped, with the reason printed, where a server binary is missing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatkit import Accounts, Peer, connect, create_room, history
from fault_servers import PrivatePostgres, PrivateRedis, Unavailable

from conftest import Daemon, http, start_daemon

pytestmark = pytest.mark.one_pass(
    "its outages are of private Redis and PostgreSQL servers it starts itself"
)

RECOVERY_SECONDS = 30.0


def _skip(reason: str) -> None:
    print(f"outage test skipped: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    try:
        server = PrivatePostgres()
    except Unavailable as exc:
        _skip(str(exc))
        raise
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    try:
        server = PrivateRedis()
    except Unavailable as exc:
        _skip(str(exc))
        raise
    server.start()
    try:
        yield server
    finally:
        server.stop()


def new_database(pg: PrivatePostgres) -> str:
    import asyncpg

    name = f"vn_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(f"{pg.url}/postgres", timeout=10)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result()
    return f"{pg.url}/{name}"


def cluster_env() -> dict[str, str]:
    return {
        "VIDEONET_JWT_SECRET": uuid.uuid4().hex * 2,
        "VIDEONET_CLUSTER_NAME": f"vn{uuid.uuid4().hex[:8]}",
        # Three missed beats of 1 s: a killed daemon's users are swept within seconds.
        "VIDEONET_NODE_HEARTBEAT_INTERVAL": "1",
    }


def health(daemon: Daemon) -> tuple[int, Any]:
    status, body, _ = http("GET", daemon.api("/api/health"))
    return status, body


def _wait_until(predicate: Any, timeout: float = RECOVERY_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


# --- 15: Redis stopped and started again under two daemons ------------------------------------


def test_a_redis_outage_is_named_and_chat_comes_back(
    pg: PrivatePostgres, redis_server: PrivateRedis, tmp_path: Path
) -> None:
    db = new_database(pg)
    env = cluster_env()
    args = ("--database-url", db, "--redis-url", redis_server.url)
    a = start_daemon(tmp_path / "a", *args, **env)
    b = start_daemon(tmp_path / "b", *args, **env)
    try:
        accounts = Accounts(a, tmp_path)
        alice, bob = accounts.make(), accounts.make()
        room = create_room(a, alice, bob)
        status, body = health(a)
        assert status == 200 and body["status"] == "ok", body
        assert body["dependencies"] == {"database": "ok", "redis": "ok"}
        asyncio.run(_chat_through_an_outage(a, b, alice, bob, room, redis_server))
        # Nothing stored was lost: the history has the messages from before and after.
        status, page = history(b, bob.token, room, limit=100)
        texts = [m["text"] for m in page["messages"]]
        assert status == 200 and "before" in texts and any(t.startswith("after") for t in texts)
    finally:
        a.stop()
        b.stop()


async def _chat_through_an_outage(
    a: Daemon, b: Daemon, alice: Any, bob: Any, room: str, redis_server: PrivateRedis
) -> None:
    pa, pb = await connect(a, alice), await connect(b, bob)
    try:
        await pa.join(room)
        await pb.join(room)
        await pa.say(room, "before")
        assert (await pb.next("chat:message"))["text"] == "before"

        redis_server.stop()
        status, body = await asyncio.to_thread(health, a)
        assert status == 503, body
        assert body["status"] == "degraded"
        assert body["dependencies"] == {"database": "ok", "redis": "unavailable"}
        ack = await _until_refused(pa, room)
        assert ack["error"]["code"] == "unavailable", ack
        assert ack["error"]["message"].startswith("redis unavailable"), ack

        redis_server.start()
        # What was published while a daemon did not listen never reached its sockets: once
        # it listens again it closes them, and their clients join again with `since`.
        for peer in (pa, pb):
            assert await _until_closed(peer), "a socket outlived the daemon's lost fan-out"
        pa, pb = await connect(a, alice), await connect(b, bob)
        await pa.join(room)
        await pb.join(room)
        assert await _until_delivered(pa, pb, room), "chat did not come back after redis"
        status, body = await asyncio.to_thread(health, b)
        assert status == 200 and body["dependencies"]["redis"] == "ok", body
    finally:
        await pa.close()
        await pb.close()


async def _until_refused(peer: Peer, room: str) -> Any:
    deadline = time.monotonic() + 15
    while True:
        ack = await peer.call("chat:send", {"room_id": room, "text": "during"})
        if not ack["ok"] or time.monotonic() > deadline:
            return ack
        await asyncio.sleep(0.2)


async def _until_closed(peer: Peer) -> bool:
    deadline = time.monotonic() + RECOVERY_SECONDS
    while peer.sio.connected and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    return not peer.sio.connected


async def _until_delivered(pa: Peer, pb: Peer, room: str) -> bool:
    deadline = time.monotonic() + RECOVERY_SECONDS
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        ack = await pa.call("chat:send", {"room_id": room, "text": f"after {attempt}"})
        if ack["ok"]:
            try:
                got = await asyncio.wait_for(pb.queue("chat:message").get(), 2.0)
            except TimeoutError:
                continue
            if got["text"].startswith("after"):
                return True
        else:
            assert ack["error"]["code"] == "unavailable", ack
            await asyncio.sleep(0.5)
    return False


# --- 15: PostgreSQL stopped and started again -------------------------------------------------


def test_a_postgres_restart_fails_cleanly_and_recovers(pg: PrivatePostgres, tmp_path: Path) -> None:
    d = start_daemon(tmp_path / "d", "--database-url", new_database(pg))
    try:
        accounts = Accounts(d, tmp_path)
        alice = accounts.make()
        pg.stop()
        try:
            status, body, _ = http("GET", d.api("/api/auth/me"), token=alice.token)
            assert status == 503, body
            assert body["error"]["code"] == "unavailable"
            assert body["error"]["message"].startswith("database unavailable")
            status, body = health(d)
            assert status == 503 and body["dependencies"] == {"database": "unavailable"}, body
        finally:
            pg.start()
        # Back without restarting the daemon.
        assert _wait_until(
            lambda: http("GET", d.api("/api/auth/me"), token=alice.token)[0] == 200
        ), "the daemon did not recover after PostgreSQL came back"
        assert create_room(d, alice)
        assert health(d)[0] == 200
        log = (d.data_dir.parent / f"{d.data_dir.name}.log").read_text()
        assert "Traceback" not in log
    finally:
        d.stop()


# --- 14: a killed daemon's users go offline; one bootstrap invite -----------------------------


def test_the_users_of_a_killed_daemon_go_offline(
    pg: PrivatePostgres, redis_server: PrivateRedis, tmp_path: Path
) -> None:
    db = new_database(pg)
    env = cluster_env()
    args = ("--database-url", db, "--redis-url", redis_server.url)
    a = start_daemon(tmp_path / "a", *args, **env)
    b = start_daemon(tmp_path / "b", *args, **env)
    try:
        accounts = Accounts(a, tmp_path)
        alice, bob = accounts.make(), accounts.make()
        room = create_room(a, alice, bob)
        online_before, online_after, event = asyncio.run(_kill_and_watch(a, b, alice, bob, room))
        assert alice.user_id in online_before
        assert event is not None, "the room was not told that alice left"
        assert (event["user_id"], event["status"]) == (alice.user_id, "offline")
        assert alice.user_id not in online_after
    finally:
        a.stop()
        b.stop()


async def _kill_and_watch(
    a: Daemon, b: Daemon, alice: Any, bob: Any, room: str
) -> tuple[list[int], list[int], Any]:
    pa, pb = await connect(a, alice), await connect(b, bob)
    try:
        await pa.join(room)
        await pb.join(room)
        who = await pb.call("presence:who", {"room_id": room})
        before = [u["user_id"] for u in who["online"]]
        pb.pending("presence")
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        event = None
        deadline = time.monotonic() + RECOVERY_SECONDS
        while time.monotonic() < deadline and event is None:
            try:
                got = await asyncio.wait_for(pb.queue("presence").get(), 2.0)
            except TimeoutError:
                continue
            if got["user_id"] == alice.user_id and got["status"] == "offline":
                event = got
        who = await pb.call("presence:who", {"room_id": room})
        return before, [u["user_id"] for u in who["online"]], event
    finally:
        await pb.close()
        await pa.close()


def test_daemons_starting_together_make_one_bootstrap_invite(
    pg: PrivatePostgres, tmp_path: Path
) -> None:
    db = new_database(pg)
    env = cluster_env()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        started = list(
            pool.map(
                lambda name: start_daemon(tmp_path / name, "--database-url", db, **env),
                ["a", "b", "c"],
            )
        )
    try:
        made = [d for d in started if (d.data_dir / "bootstrap-invite").exists()]
        assert len(made) == 1, [d.stdout_lines for d in started]
    finally:
        for d in started:
            d.stop()
