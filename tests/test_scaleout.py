"""Two daemons on one PostgreSQL and one Redis behave as one service.

Skipped, with the reason printed, where no PostgreSQL or Redis server answers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import socketio

from transfer_helpers import (
    Member,
    listening_receiver,
    make_room,
    member,
    offer_payload,
    random_file,
)

from conftest import POSTGRES, TEST_PASSWORD, Cli, Daemon, http, postgres_admin, start_daemon

pytestmark = pytest.mark.one_pass("uses PostgreSQL itself in every pass")

REDIS = "redis://127.0.0.1:6379/0"


def _redis_answers() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"no Redis at {REDIS}: {exc}"
    return None


def _postgres_answers() -> str | None:
    try:
        postgres_admin("SELECT 1")
    except Exception as exc:
        return f"no PostgreSQL at {POSTGRES}: {exc}"
    return None


@dataclass
class Cluster:
    a: Daemon
    b: Daemon


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    for problem in (_postgres_answers(), _redis_answers()):
        if problem:
            print(f"scale-out test skipped: {problem}")
            pytest.skip(problem)
    name = f"vn_cluster_{uuid.uuid4().hex[:12]}"
    postgres_admin(f"CREATE DATABASE {name}")
    common = {
        "VIDEONET_JWT_SECRET": uuid.uuid4().hex * 2,
        "VIDEONET_CLUSTER_NAME": name,
        # A killed daemon's call participants are removed after three missed beats (a shorter
        # beat would take a daemon stalled by a busy machine for dead).
        "VIDEONET_NODE_HEARTBEAT_INTERVAL": "1",
        # As docs/deploy sets it: behind nginx the browser's origin is https (X-Forwarded-Proto).
        "VIDEONET_TRUST_PROXY": "1",
    }
    args = ("--database-url", f"{POSTGRES}/{name}", "--redis-url", REDIS)
    a = start_daemon(tmp_path / "a", *args, **common)
    b = start_daemon(tmp_path / "b", *args, **common)
    try:
        yield Cluster(a, b)
    finally:
        for d in (a, b):
            d.stop()
        postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def on(daemon: Daemon, m: Member) -> Member:
    """The same user, talking to another daemon."""
    return Member(m.user, Cli(daemon.url, m.user.config_dir, m.user.token))


def test_transfer_from_a_sender_on_a_to_a_receiver_on_b(cluster: Cluster, tmp_path: Path) -> None:
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    bob = on(cluster.b, member(cluster.a, tmp_path, room))
    src = random_file(tmp_path / "across.bin", 3 << 20)
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    r = alice.cli("send", room, str(src), "--timeout", "60", "--json")
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    got = (tmp_path / "in" / "across.bin").read_bytes()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(src.read_bytes()).hexdigest()
    # The bytes stayed in A's spool; B streamed them from A.
    assert list((cluster.a.data_dir / "spool").glob("*.spool"))
    assert not list((cluster.b.data_dir / "spool").glob("*.spool"))


def test_upload_through_the_other_daemon_is_forwarded(cluster: Cluster, tmp_path: Path) -> None:
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)

    async def offer() -> Any:
        client = socketio.AsyncClient()
        await client.connect(
            cluster.a.url, auth={"token": alice.user.token}, transports=["websocket"]
        )
        try:
            assert (await client.call("room:join", {"room_id": room}, timeout=10))["ok"]
            return await client.call("transfer:offer", offer_payload(room, "f.bin", 21), timeout=10)
        finally:
            await client.disconnect()

    ack = asyncio.run(offer())
    tid = ack["transfer"]["transfer_id"]
    url = cluster.b.api(f"/api/transfers/{tid}/data?offset=0")
    status, body, _ = http("PUT", url, token=alice.user.token, raw=b"hello-encrypted-bytes")
    assert status == 200, body
    assert (cluster.a.data_dir / "spool" / f"{tid}.spool").read_bytes() == b"hello-encrypted-bytes"


def test_invite_consumed_once_across_daemons(cluster: Cluster) -> None:
    invite = cluster.a.mint_invite(uses=1)

    def register(i: int) -> int:
        d = cluster.a if i % 2 else cluster.b
        body = {
            "email": f"race{i}@example.test",
            "username": f"race{i}",
            "password": TEST_PASSWORD,
            "invite_code": invite,
        }
        return http("POST", d.api("/api/auth/register"), body)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(register, range(20)))
    assert results.count(201) == 1 and results.count(400) == 19


def test_one_daemon_killed_the_other_keeps_serving(cluster: Cluster, tmp_path: Path) -> None:
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    cluster.a.proc.kill()
    cluster.a.proc.wait()
    assert http("GET", cluster.b.api("/api/health"))[0] == 200
    status, login, _ = http(
        "POST",
        cluster.b.api("/api/auth/login"),
        {"email": alice.user.email, "password": TEST_PASSWORD},
    )
    assert status == 200
    status, rooms, _ = http("GET", cluster.b.api("/api/rooms"), token=login["token"])
    assert status == 200 and room in {r["id"] for r in rooms["rooms"]}
    # A token issued by A still works on B (shared key and sessions).
    assert http("GET", cluster.b.api("/api/auth/me"), token=alice.user.token)[0] == 200


def test_events_cross_daemons_and_leaving_drops_sockets_everywhere(
    cluster: Cluster, tmp_path: Path
) -> None:
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    bob = member(cluster.a, tmp_path, room)

    async def scenario() -> tuple[list[str], list[str]]:
        seen: list[str] = []
        listener = socketio.AsyncClient()
        listener.on("transfer:offer", lambda data: seen.append(data["name"]))
        await listener.connect(
            cluster.b.url, auth={"token": bob.user.token}, transports=["websocket"]
        )
        sender = socketio.AsyncClient()
        await sender.connect(
            cluster.a.url, auth={"token": alice.user.token}, transports=["websocket"]
        )
        try:
            assert (await listener.call("room:join", {"room_id": room}, timeout=10))["ok"]
            assert (await sender.call("room:join", {"room_id": room}, timeout=10))["ok"]
            await sender.call("transfer:offer", offer_payload(room, "one", 17), timeout=10)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.05)
            before = list(seen)
            # bob leaves the room over HTTP on daemon A; his socket on B must stop hearing it.
            status, _, _ = await asyncio.to_thread(
                http, "POST", cluster.a.api(f"/api/rooms/{room}/leave"), {}, bob.user.token
            )
            assert status == 200
            await asyncio.sleep(0.5)
            await sender.call("transfer:offer", offer_payload(room, "two", 17), timeout=10)
            await asyncio.sleep(1.0)
            return before, list(seen)
        finally:
            await listener.disconnect()
            await sender.disconnect()

    before, after = asyncio.run(scenario())
    assert before == ["one"]
    assert after == ["one"]


def test_chat_and_presence_across_daemons(cluster: Cluster, tmp_path: Path) -> None:
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    bob = member(cluster.a, tmp_path, room)

    async def scenario() -> tuple[list[str], list[str], list[dict[str, Any]]]:
        heard: list[str] = []
        presence: list[dict[str, Any]] = []
        ws = ["websocket"]
        on_b = socketio.AsyncClient()
        on_b.on("chat:message", lambda m: heard.append(m["text"]))
        on_b.on("presence", lambda p: presence.append(p))
        await on_b.connect(cluster.b.url, auth={"token": bob.user.token}, transports=ws)
        on_a = socketio.AsyncClient()
        await on_a.connect(cluster.a.url, auth={"token": alice.user.token}, transports=ws)
        try:
            assert (await on_b.call("room:join", {"room_id": room}, timeout=10))["ok"]
            joined = await on_a.call("room:join", {"room_id": room}, timeout=10)
            online = sorted(u["username"] for u in joined["online"])
            sent = await on_a.call("chat:send", {"room_id": room, "text": "hi from A"}, timeout=10)
            assert sent["ok"], sent
            for _ in range(100):
                if heard and presence:
                    break
                await asyncio.sleep(0.05)
            return heard, online, presence
        finally:
            await on_a.disconnect()
            await on_b.disconnect()

    heard, online, presence = asyncio.run(scenario())
    assert heard == ["hi from A"]
    # alice (on A) sees bob (on B) online, and bob heard alice come online.
    assert online == sorted([alice.user.username, bob.user.username])
    assert presence[0]["username"] == alice.user.username and presence[0]["status"] == "online"
