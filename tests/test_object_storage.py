"""Transfer bytes in S3-compatible object storage (issue 16), against a real SeaweedFS.

One daemon on SQLite + S3 covers the layout, clean-up, `check` and store outages; two daemons on
PostgreSQL + Redis + S3 cover what the shared store is for: any daemon serves any transfer, and a
daemon killed with SIGKILL loses no byte. Skipped, with the reason printed, where `weed`,
PostgreSQL or Redis is missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import socketio

from object_store import ObjectStore, weed_s3
from test_scaleout import REDIS, _postgres_answers, _redis_answers
from transfer_helpers import (
    Background,
    Member,
    listening_receiver,
    make_room,
    member,
    offer_payload,
    random_file,
    with_device_keys,
)
from videonet_cli.crypto.stream import StreamLayout

from conftest import BIN, POSTGRES, Cli, Daemon, base_env, http, postgres_admin, start_daemon

# The two-daemon tests run on PostgreSQL in every pass; the rest is the store, not the database.
pytestmark = pytest.mark.one_pass("uses PostgreSQL itself in every pass")

MB = 1 << 20
SEGMENT = 1 << 20  # small segments: a few MiB make several objects


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    started = weed_s3(tmp_path_factory.mktemp("weed"))
    if isinstance(started, str):
        print(f"object storage tests skipped: {started}")
        pytest.skip(started)
    yield started
    started.stop()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def on(daemon: Daemon, m: Member) -> Member:
    """The same user, talking to another daemon."""
    return Member(m.user, Cli(daemon.url, m.user.config_dir, m.user.token))


def sent_id(events: list[dict[str, Any]]) -> str:
    """The transfer id a `send --json` reported."""
    return str(next(e["transfer_id"] for e in events if e.get("transfer_id")))


def json_events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def socket_call(daemon: Daemon, m: Member, room: str, event: str, data: dict[str, Any]) -> Any:
    async def call() -> Any:
        client = socketio.AsyncClient()
        await client.connect(daemon.url, auth={"token": m.user.token}, transports=["websocket"])
        try:
            assert (await client.call("room:join", {"room_id": room}, timeout=10))["ok"]
            return await client.call(event, data, timeout=30)
        finally:
            await client.disconnect()

    return asyncio.run(call())


def wait_until(predicate: Any, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


def past(fraction: float) -> Any:
    def check(event: dict[str, Any]) -> bool:
        total = event.get("total") or 0
        return bool(event.get("event") == "progress" and total * fraction < event["bytes"] < total)

    return check


def send_and_receive(
    sender: Member, receiver: Member, room: str, src: Path, tmp_path: Path, *extra: str
) -> Any:
    """`send` from one member while the other listens: both succeed, the file arrives whole
    in tmp_path/in; the sender's result."""
    rx = listening_receiver(receiver.cli, room, tmp_path / "in")
    r = sender.cli("send", room, str(src), "--timeout", "60", "--json", *extra)
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    assert sha(tmp_path / "in" / src.name) == sha(src)
    return r


# --- one daemon ----------------------------------------------------------------------------


def segments(plaintext_size: int) -> int:
    """How many segment objects the encrypted stream of a file of this size fills."""
    return -(-StreamLayout(plaintext_size).ciphertext_size // SEGMENT)


def test_send_receive_and_expiry_through_object_storage(
    store: ObjectStore, daemon_factory: Any, tmp_path: Path
) -> None:
    bucket = store.new_bucket()
    d = daemon_factory(
        **store.env(bucket, VIDEONET_SPOOL_SEGMENT_BYTES=str(SEGMENT)),
        VIDEONET_TRANSFER_RETENTION="3",
        VIDEONET_TRANSFER_IDLE_TIMEOUT="3",
    )
    alice = member(d, tmp_path)
    room = make_room(d, alice)
    bob = member(d, tmp_path, room)
    src = random_file(tmp_path / "clip.bin", 5 * MB + 123)
    r = send_and_receive(alice, bob, room, src, tmp_path)
    # The encrypted stream (the plaintext and a 16-byte tag per 1 MiB record) in segment
    # objects: five full and one holding the rest; nothing in the local spool.
    tid = sent_id(json_events(r.out))
    assert store.objects(bucket, tid) == [f"{i:08d}" for i in range(segments(5 * MB + 123))]
    assert not list((d.data_dir / "spool").glob("*.spool"))
    status, health, _ = http("GET", d.api("/api/health"))
    assert status == 200 and health["dependencies"]["object storage"] == "ok"
    # Past retention, the clean-up deletes every object of it.
    assert wait_until(lambda: not store.objects(bucket, tid)), store.objects(bucket, tid)


def test_abort_deletes_every_object(
    store: ObjectStore, daemon_factory: Any, tmp_path: Path
) -> None:
    bucket = store.new_bucket()
    d = daemon_factory(**store.env(bucket, VIDEONET_SPOOL_SEGMENT_BYTES=str(SEGMENT)))
    alice = member(d, tmp_path)
    room = make_room(d, alice)
    src = random_file(tmp_path / "gone.bin", 4 * MB)
    sender = Background(alice.cli, "send", room, str(src), "--json", "--timeout", "60")
    sender.wait_for(lambda e: e.get("event") == "uploaded")
    sender.kill()
    tid = sent_id(sender.events)
    assert len(store.objects(bucket, tid)) == segments(4 * MB)
    reply = socket_call(d, alice, room, "transfer:abort", {"transfer_id": tid})
    assert reply["ok"], reply
    assert store.objects(bucket, tid) == []


def test_store_errors_are_503_and_named(
    store: ObjectStore, daemon_factory: Any, tmp_path: Path
) -> None:
    bucket = store.new_bucket()
    for env in (
        store.env(bucket, AWS_SECRET_ACCESS_KEY="not-the-secret"),
        store.env(bucket, VIDEONET_S3_ENDPOINT="http://127.0.0.1:1"),
    ):
        d = daemon_factory(**env)
        alice = member(d, tmp_path)
        room = make_room(d, alice)
        offer = socket_call(d, alice, room, "transfer:offer", offer_payload(room, "f.bin", 21))
        tid = offer["transfer"]["transfer_id"]
        url = d.api(f"/api/transfers/{tid}/data?offset=0")
        status, body, _ = http("PUT", url, token=alice.user.token, raw=b"hello-encrypted-bytes")
        assert status == 503, body
        assert body["error"]["message"] == "object storage unavailable; try again later"
        status, health, _ = http("GET", d.api("/api/health"))
        assert status == 503 and health["dependencies"]["object storage"] == "unavailable"
        status, body, _ = http("GET", d.api(f"/api/transfers/{tid}/data"), token=alice.user.token)
        assert status == 503 and body["error"]["code"], body
        assert d.proc.poll() is None  # still serving


def _check(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(BIN / "videonet-daemon"), "check", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=base_env(**env),
        timeout=120,
    )


def test_check_probes_the_bucket_and_names_the_problem(store: ObjectStore, tmp_path: Path) -> None:
    bucket = store.new_bucket()
    ok = _check(tmp_path / "d", **store.env(bucket))
    assert ok.returncode == 0, ok.stderr
    assert f"ok: object storage s3://{bucket}/vn (write, read, delete)" in ok.stdout
    cases = {
        "credentials refused": store.env(bucket, AWS_SECRET_ACCESS_KEY="wrong"),
        "endpoint unreachable": store.env(bucket, VIDEONET_S3_ENDPOINT="http://127.0.0.1:1"),
        # SeaweedFS answers AccessDenied (not NoSuchBucket) to a key that may not create it.
        "bucket 'nosuchbucket' missing": store.env("nosuchbucket"),
    }
    for words, env in cases.items():
        r = _check(tmp_path / "d", **env)
        assert r.returncode == 1, (words, r.returncode, r.stderr)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and words in lines[0], (words, r.stderr)
    bad = _check(tmp_path / "d", VIDEONET_SPOOL_URL="http://not-s3")
    assert bad.returncode == 2 and "spool_url must be s3://" in bad.stderr


# --- two daemons: PostgreSQL + Redis + S3 -----------------------------------------------------


@dataclass
class Cluster:
    a: Daemon
    b: Daemon
    name: str
    bucket: str


@pytest.fixture
def cluster(store: ObjectStore, tmp_path: Path) -> Iterator[Cluster]:
    for problem in (_postgres_answers(), _redis_answers()):
        if problem:
            print(f"object storage scale-out test skipped: {problem}")
            pytest.skip(problem)
    name = f"vn_s3_{uuid.uuid4().hex[:12]}"
    bucket = store.new_bucket()
    postgres_admin(f"CREATE DATABASE {name}")
    common = {
        "VIDEONET_JWT_SECRET": uuid.uuid4().hex * 2,
        "VIDEONET_CLUSTER_NAME": name,
        "VIDEONET_NODE_HEARTBEAT_INTERVAL": "1",
        **store.env(bucket, VIDEONET_SPOOL_SEGMENT_BYTES=str(SEGMENT)),
    }
    args = ("--database-url", f"{POSTGRES}/{name}", "--redis-url", REDIS)
    a = start_daemon(tmp_path / "a", *args, **common)
    b = start_daemon(tmp_path / "b", *args, **common)
    try:
        yield Cluster(a, b, name, bucket)
    finally:
        for d in (a, b):
            d.stop()
        postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _kill(daemon: Daemon, cluster: Cluster) -> None:
    """kill -9, then wait until the others stop counting it alive (its heartbeat expires)."""
    node = (daemon.data_dir / "node-id").read_text().strip()
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    keys = redis.Redis.from_url(REDIS)
    assert wait_until(lambda: not keys.exists(f"{cluster.name}:alive:{node}"), 30)


def test_sent_through_a_received_through_b_while_uploading(
    cluster: Cluster, tmp_path: Path
) -> None:
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    bob = on(cluster.b, member(cluster.a, tmp_path, room))
    with_device_keys(bob)  # published as a first login does: a late receiver gets a key
    src = random_file(tmp_path / "across.bin", 8 * MB)
    send_and_receive(alice, bob, room, src, tmp_path, "--limit-rate", "4M")
    # Neither daemon keeps the bytes: both read and write the store.
    for d in (cluster.a, cluster.b):
        assert not list((d.data_dir / "spool").glob("*.spool"))


def test_the_uploading_daemon_tells_the_others_each_stored_segment(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Daemon A announces on the cluster bus what it has stored (recorded in the database
    first), so B sends a receiver its new bytes without waiting for its next database poll."""
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    bob = on(cluster.b, member(cluster.a, tmp_path, room))
    with_device_keys(bob)
    listener = redis.Redis.from_url(REDIS).pubsub()
    listener.subscribe(f"{cluster.name}:cluster")
    src = random_file(tmp_path / "told.bin", 5 * MB + 123)
    r = send_and_receive(alice, bob, room, src, tmp_path)
    told: list[dict[str, Any]] = []
    while (item := listener.get_message(timeout=1.0)) is not None:
        if item["type"] == "message":
            message = json.loads(item["data"])
            if message.get("kind") == "transfer_stored":
                told.append(message)
    listener.close()
    transfer_id = sent_id(json_events(r.out))
    stored = [m["uploaded"] for m in told if m["transfer_id"] == transfer_id]
    cipher_size = StreamLayout(5 * MB + 123).ciphertext_size
    # One message a segment, in order, the last one the whole ciphertext.
    assert stored == sorted(stored) and len(stored) == segments(5 * MB + 123)
    assert stored[-1] == cipher_size


def test_bus_messages_that_make_no_sense_change_nothing(cluster: Cluster, tmp_path: Path) -> None:
    """A `transfer_stored` message of the wrong shape, for another transfer or past the end
    of this one is ignored by the receiver's daemon: no error, and the file arrives whole."""
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    bob = on(cluster.b, member(cluster.a, tmp_path, room))
    with_device_keys(bob)
    src = random_file(tmp_path / "noise.bin", 6 * MB)
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    sender = Background(
        alice.cli, "send", room, str(src), "--json", "--timeout", "60", "--limit-rate", "3M"
    )
    transfer_id = str(sender.wait_for(lambda e: e.get("event") == "offer")["transfer_id"])
    # B serves the receiver its first bytes: it knows the transfer now. (Not a fifth of it:
    # B hands out whole segments as the bus announces them, and on a slow machine the
    # receiver's next report after its first was already the last.)
    rx.wait_for(lambda e: e.get("event") == "progress" and e["bytes"] > 0)
    bus = redis.Redis.from_url(REDIS)
    for message in (
        {"kind": "transfer_stored", "transfer_id": transfer_id, "uploaded": "all of it"},
        {"kind": "transfer_stored", "transfer_id": transfer_id, "uploaded": 1 << 50},
        {"kind": "transfer_stored", "transfer_id": transfer_id, "uploaded": -5},
        {"kind": "transfer_stored", "transfer_id": "not-a-transfer", "uploaded": 1},
        {"kind": "transfer_stored", "uploaded": None},
    ):
        bus.publish(f"{cluster.name}:cluster", json.dumps(message))
    assert sender.finish() == 0, sender.stderr()
    assert rx.finish() == 0, rx.stderr()
    assert sha(tmp_path / "in" / "noise.bin") == sha(src)
    log = (tmp_path / "b.log").read_text()
    assert "cluster message failed" not in log, log[-2000:]


def test_a_killed_mid_upload_resumed_through_b(
    cluster: Cluster, store: ObjectStore, tmp_path: Path
) -> None:
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    bob = on(cluster.b, member(cluster.a, tmp_path, room))
    with_device_keys(bob)  # published as a first login does: a late receiver gets a key
    src = random_file(tmp_path / "half.bin", 12 * MB)
    out = tmp_path / "in"
    rx = listening_receiver(bob.cli, room, out)
    sender = Background(
        alice.cli, "send", room, str(src), "--json", "--timeout", "60", "--limit-rate", "3M"
    )
    sender.wait_for(past(0.4))
    # B's receiver past a fifth: at least two 1 MiB segments stored and recorded, so the resume
    # point is past the first 1 MiB record (the sender's own progress runs ahead of the store
    # by its socket buffers: on a loaded machine one segment had landed, and a resume from a
    # part of one record starts at 0).
    rx.wait_for(past(0.2))
    _kill(cluster.a, cluster)
    sender.kill()
    tid = sent_id(sender.events)
    assert store.objects(cluster.bucket, tid)  # some segments landed before the kill
    alice_b = on(cluster.b, alice)
    r = alice_b.cli("send", room, str(src), "--json", "--timeout", "60")
    assert r.code == 0, r.err
    assert '"resumed_from":0,' not in r.out.replace(" ", "")
    assert rx.finish() == 0, rx.stderr()
    assert sha(out / "half.bin") == sha(src)


def test_a_killed_after_upload_late_receiver_on_b(
    cluster: Cluster, store: ObjectStore, tmp_path: Path
) -> None:
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    bob = on(cluster.b, member(cluster.a, tmp_path, room))
    with_device_keys(bob)  # published as a first login does: a late receiver gets a key
    src = random_file(tmp_path / "late.bin", 5 * MB + 7)
    sender = Background(alice.cli, "send", room, str(src), "--json", "--timeout", "60")
    sender.wait_for(lambda e: e.get("event") == "uploaded")
    _kill(cluster.a, cluster)
    sender.kill()
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    assert rx.finish() == 0, rx.stderr()
    assert sha(tmp_path / "in" / "late.bin") == sha(src)
    # Aborted through B: every object goes.
    tid = sent_id(sender.events)
    assert len(store.objects(cluster.bucket, tid)) == segments(5 * MB + 7)
    reply = socket_call(cluster.b, alice, room, "transfer:abort", {"transfer_id": tid})
    assert reply["ok"], reply
    assert store.objects(cluster.bucket, tid) == []
