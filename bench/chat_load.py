"""Chat load benchmark: many Socket.IO clients in many rooms, a steady message rate, over loopback.

    .venv/bin/python bench/chat_load.py                       # 1,000 clients, 100 rooms, 200 msg/s
    .venv/bin/python bench/chat_load.py --duration 10 --workers 2

It starts its own daemon (temporary data dir, port 0) unless --server is given (then it needs
--invite, an operator invite code with enough uses). Users, rooms and memberships are made over
HTTP; then --workers client processes each connect their share of python-socketio AsyncClients,
join their rooms, and send their share of the rate, round-robin over their clients. Every
`chat:message` received is timed against the send time carried in its text (CLOCK_MONOTONIC is
shared by all processes on one machine).

Printed: delivery latency p50/p99/max (send -> each member's receipt, all members including the
sender's own socket), ack latency, messages sent and deliveries per second, missing deliveries
(must be 0), the daemon's CPU use and peak RSS (/proc/PID/stat, VmHWM), and each client
process's CPU use, to see whether the load generator itself was the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
PASSWORD = "bench password 1234"
CONNECT_BATCH = 50  # clients connecting at once per worker, to keep the accept queue sane
SETTLE_SECONDS = 20.0  # most time to wait for the last deliveries after sending stops
QUIET_SECONDS = 2.0  # no delivery for this long after sending stopped: all is in
# The reference measured in the same run: an unknown event, which the daemon acknowledges from
# memory (an unknown_event error), sent once every REFERENCE_EVERY messages by another client.
# Its round trip is the floor set by the machine, the transport and the event loop; the chat
# figures above it are what storing and fanning out costs.
REFERENCE_EVENT = "bench:ping"
REFERENCE_EVERY = 5


# --- setup (parent process) ----------------------------------------------------------------
def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def start_daemon(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEONET_")}
    env["VIDEONET_BCRYPT_ROUNDS"] = "4"  # setup speed; bcrypt is not what is measured
    env["VIDEONET_LOG_LEVEL"] = "warning"
    # 1,000 sign-ups and log-ins at once from one address: the throttles would refuse them
    env["VIDEONET_REGISTER_FAILURES_MAX"] = env["VIDEONET_LOGIN_FAILURES_MAX"] = "100000"
    cmd = [str(BIN / "videonet-daemon"), "serve", "--port", "0", "--data-dir", str(data_dir)]
    log = open(data_dir.parent / "daemon.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on " in line:
            return proc, line.split("listening on ", 1)[1].strip()
    raise RuntimeError(f"daemon did not start; see {log.name}")


def mint_invite(data_dir: Path, uses: int) -> str:
    cmd = [str(BIN / "videonet-daemon"), "invite", "create", "--uses", str(uses)]
    out = subprocess.run([*cmd, "--data-dir", str(data_dir)], capture_output=True, text=True)
    out.check_returncode()
    return out.stdout.strip()


async def make_world(server: str, invite: str, clients: int, rooms: int) -> list[dict[str, Any]]:
    """Users (one per client), rooms, memberships; returns [{token, room_id}] per client."""
    import aiohttp

    tag = uuid.uuid4().hex[:6]
    sem = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(base_url=server) as http:

        async def call(method: str, path: str, body: Any, token: str | None = None) -> Any:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with sem, http.request(method, path, json=body, headers=headers) as resp:
                data = await resp.json()
                if resp.status >= 300:
                    raise RuntimeError(f"{method} {path}: {resp.status} {data}")
                return data

        async def user(i: int) -> str:
            email = f"b{tag}-{i}@bench.test"
            body = {"email": email, "username": f"b{tag}{i}", "password": PASSWORD}
            await call("POST", "/api/auth/register", {**body, "invite_code": invite})
            login = await call("POST", "/api/auth/login", {"email": email, "password": PASSWORD})
            return str(login["token"])

        tokens = await asyncio.gather(*(user(i) for i in range(clients)))
        room_ids = []
        for r in range(rooms):
            room = await call("POST", "/api/rooms/create", {"name": f"bench {tag} {r}"}, tokens[r])
            room_ids.append(room["id"])
        plan = [{"token": tokens[i], "room_id": room_ids[i % rooms]} for i in range(clients)]
        await asyncio.gather(
            *(
                call("POST", f"/api/rooms/{p['room_id']}/join", {}, p["token"])
                for i, p in enumerate(plan)
                if i >= rooms  # the creators are members already
            )
        )
    return plan


# --- load (worker processes) ---------------------------------------------------------------
@dataclass
class WorkerResult:
    connected: int
    sent: int
    acked: list[tuple[str, int]]  # (room_id, message id)
    received: dict[int, list[int]]  # client index -> message ids received
    latencies: list[float]  # seconds, one per delivery
    ack_latencies: list[float]
    ping_latencies: list[float]  # the reference: an event the daemon answers without the database
    errors: list[str]
    cpu_seconds: float  # this process's CPU during the sending phase
    last_delivery: float  # monotonic time of the last chat:message received


def worker(
    server: str,
    plan: list[dict[str, Any]],
    offset: int,
    rate: float,
    go: Any,
    duration: float,
    ready: Any,
    out: Any,
) -> None:
    result = asyncio.run(_worker(server, plan, offset, rate, go, duration, ready))
    out.put(result)


async def _worker(
    server: str,
    plan: list[dict[str, Any]],
    offset: int,
    rate: float,
    go: Any,
    duration: float,
    ready: Any,
) -> WorkerResult:
    import socketio

    received: dict[int, list[int]] = {}
    latencies: list[float] = []
    ack_latencies: list[float] = []
    ping_latencies: list[float] = []
    errors: list[str] = []
    clients: list[Any] = []
    last = [0.0]
    delivered = asyncio.Event()

    def on_message(index: int) -> Any:
        got = received.setdefault(index, [])

        async def handler(data: Any) -> None:
            now = last[0] = time.monotonic()
            got.append(data["id"])
            delivered.set()
            latencies.append(now - float(data["text"].split(" ", 1)[0]))

        return handler

    async def connect(index: int, entry: dict[str, Any]) -> None:
        sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        sio.on("chat:message", on_message(offset + index))
        await sio.connect(
            server,
            auth={"token": entry["token"]},
            transports=["websocket"],
            socketio_path="socket.io",
            wait_timeout=60,
        )
        ack = await sio.call("room:join", {"room_id": entry["room_id"]}, timeout=60)
        if not ack.get("ok"):
            raise RuntimeError(f"join refused: {ack}")
        clients.append((sio, entry["room_id"]))

    for first in range(0, len(plan), CONNECT_BATCH):
        batch = plan[first : first + CONNECT_BATCH]
        await asyncio.gather(*(connect(first + i, e) for i, e in enumerate(batch)))
    ready.put(len(clients))
    # The parent sets the common start time once every worker is connected.
    start_at = float(await asyncio.to_thread(go.get))
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    acked: list[tuple[str, int]] = []
    sends: set[asyncio.Task[None]] = set()
    cpu_start = time.process_time()

    async def send(sio: Any, room_id: str, seq: int) -> None:
        sent_at = time.monotonic()
        try:
            ack = await sio.call(
                "chat:send", {"room_id": room_id, "text": f"{sent_at:.6f} {seq}"}, timeout=30
            )
        except Exception as exc:
            errors.append(f"send: {exc!r}")
            return
        if ack.get("ok"):
            ack_latencies.append(time.monotonic() - sent_at)
            acked.append((room_id, ack["message"]["id"]))
        else:
            errors.append(f"refused: {ack.get('error')}")

    async def ping(sio: Any) -> None:
        sent_at = time.monotonic()
        try:
            await sio.call(REFERENCE_EVENT, {}, timeout=30)
        except Exception as exc:
            errors.append(f"ping: {exc!r}")
            return
        ping_latencies.append(time.monotonic() - sent_at)

    total = int(rate * duration)
    for seq in range(total):
        # A fixed schedule, not "sleep after each send", so slow acks do not lower the rate.
        await asyncio.sleep(max(0.0, start_at + seq / rate - time.monotonic()))
        sio, room_id = clients[seq % len(clients)]
        task = asyncio.create_task(send(sio, room_id, seq))
        sends.add(task)
        task.add_done_callback(sends.discard)
        if seq % REFERENCE_EVERY == 0:
            other, _ = clients[(seq + len(clients) // 2) % len(clients)]
            task = asyncio.create_task(ping(other))
            sends.add(task)
            task.add_done_callback(sends.discard)
    cpu = time.process_time() - cpu_start
    if sends:
        await asyncio.wait(sends)
    # Deliveries still in flight (also other workers' messages): wait for a quiet spell.
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        delivered.clear()
        try:
            await asyncio.wait_for(delivered.wait(), QUIET_SECONDS)
        except TimeoutError:
            break
    for sio, _ in clients:
        await sio.disconnect()
    return WorkerResult(
        len(clients),
        total,
        acked,
        received,
        latencies,
        ack_latencies,
        ping_latencies,
        errors,
        cpu,
        last[0],
    )


# --- measuring the daemon ------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s in total")
    parser.add_argument("--duration", type=float, default=25.0, help="seconds of sending")
    parser.add_argument("--workers", type=int, default=1, help="client processes")
    parser.add_argument("--server", help="use a running daemon instead of starting one")
    parser.add_argument("--invite", help="with --server: an invite code with enough uses")
    parser.add_argument(
        "--tmp", help="directory for the daemon's data (e.g. /dev/shm to take the disk out)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    raise_fd_limit(args.clients * 2 + 256)
    tmp = Path(tempfile.mkdtemp(prefix="chat-bench-", dir=args.tmp))
    proc = None
    if args.server:
        if not args.invite:
            parser.error("--server needs --invite")
        server, invite, pid = args.server, args.invite, None
    else:
        proc, server = start_daemon(tmp / "data")
        invite, pid = mint_invite(tmp / "data", args.clients + 10), proc.pid
    try:
        t0 = time.monotonic()
        plan = asyncio.run(make_world(server, invite, args.clients, args.rooms))
        print(f"setup: {args.clients} users in {args.rooms} rooms in {time.monotonic() - t0:.1f} s")
        figures = run_load(server, plan, args, pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:>28}: {value}")


def run_load(
    server: str, plan: list[dict[str, Any]], args: argparse.Namespace, pid: int | None
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    share = -(-len(plan) // args.workers)
    connect_budget = 60.0 + len(plan) / 20  # generous: connecting is not what is measured
    go = ctx.Queue()
    procs = []
    for w in range(args.workers):
        part = plan[w * share : (w + 1) * share]
        p = ctx.Process(
            target=worker,
            args=(
                server,
                part,
                w * share,
                args.rate / args.workers,
                go,
                args.duration,
                ready,
                out,
            ),
        )
        p.start()
        procs.append(p)
    t0 = time.monotonic()
    connected = sum(ready.get(timeout=connect_budget) for _ in procs)
    print(f"connected: {connected} clients in {time.monotonic() - t0:.1f} s")
    start_at = time.monotonic() + 1.0
    for _ in procs:
        go.put(start_at)
    time.sleep(max(0.0, start_at - time.monotonic()))
    cpu0 = cpu_seconds(pid) if pid else 0.0
    busy0 = machine_busy_seconds()
    # The daemon's CPU over the sending phase (the steady state).
    time.sleep(max(0.0, start_at + args.duration - time.monotonic()))
    cpu1 = cpu_seconds(pid) if pid else 0.0
    busy1 = machine_busy_seconds()
    results: list[WorkerResult] = [out.get(timeout=args.duration + 120) for _ in procs]
    # Delivery throughput over the whole load: first send to last delivery.
    wall = max(r.last_delivery for r in results) - start_at
    for p in procs:
        p.join(timeout=30)

    members: dict[str, list[int]] = {}
    for i, entry in enumerate(plan):
        members.setdefault(entry["room_id"], []).append(i)
    received: dict[int, set[int]] = {}
    for r in results:
        for index, ids in r.received.items():
            received.setdefault(index, set()).update(ids)
    acked = [a for r in results for a in r.acked]
    expected = sum(len(members[room]) for room, _ in acked)
    missing = sum(
        1 for room, mid in acked for index in members[room] if mid not in received.get(index, ())
    )
    latencies = [x for r in results for x in r.latencies]
    acks = [x for r in results for x in r.ack_latencies]
    pings = [x for r in results for x in r.ping_latencies]
    daemon_cpu = cpu1 - cpu0
    clients_cpu = sum(r.cpu_seconds for r in results)
    others_cpu = (busy1 - busy0) - daemon_cpu - clients_cpu
    errors = [e for r in results for e in r.errors]
    sent = sum(r.sent for r in results)
    return {
        "clients connected": connected,
        "rooms": len(members),
        "messages sent": sent,
        "messages acked": len(acked),
        "send rate (msg/s)": round(sent / args.duration, 1),
        "deliveries expected": expected,
        "deliveries received": len(latencies),
        "deliveries missing": missing,
        "deliveries/s": round(len(latencies) / wall, 1),
        "delivery p50 (ms)": round(percentile(latencies, 50) * 1000, 1),
        "delivery p99 (ms)": round(percentile(latencies, 99) * 1000, 1),
        "delivery max (ms)": round(max(latencies, default=float("nan")) * 1000, 1),
        "deliveries over 100 ms": sum(1 for x in latencies if x > 0.1),
        "reference p50 (ms)": round(percentile(pings, 50) * 1000, 1),
        "reference p99 (ms)": round(percentile(pings, 99) * 1000, 1),
        "delivery p99 / reference p99": round(percentile(latencies, 99) / percentile(pings, 99), 2),
        "ack p50 (ms)": round(percentile(acks, 50) * 1000, 1),
        "ack p99 (ms)": round(percentile(acks, 99) * 1000, 1),
        "errors": len(errors),
        "first errors": errors[:3],
        "daemon CPU (% of one core)": (
            round((cpu1 - cpu0) / args.duration * 100, 1) if pid else None
        ),
        "daemon peak RSS (MB)": round(peak_rss_mb(pid), 1) if pid else None,
        "other processes' CPU (% of one core)": round(others_cpu / args.duration * 100, 1),
        "client CPU per worker (%)": [
            round(r.cpu_seconds / args.duration * 100, 1) for r in results
        ],
        "mean latency (ms)": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
    }


if __name__ == "__main__":
    main()
