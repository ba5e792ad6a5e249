"""File transfer benchmark: VideoNet against the seed's protocol and a bare TCP relay.

Every measurement runs three OS processes on 127.0.0.1 (relay or server, sender, receiver) on a
random file, and checks the SHA-256 computed by the sender and by the receiver against the one
computed while the file was made. Speeds are the file size over the wall time from starting the
sender to the exit of both ends (the receiver is already connected), so process start-up counts,
as it does for a user. MB = 10^6 bytes.

    python bench/transfer.py                      # 1 GiB ceiling, 20 MB seed reference
    python bench/transfer.py --size 4GiB --skip-seed

Rows:
  seed     the seed's protocol re-created (_seed_protocol.py): Socket.IO, base64, 16 KiB, 10 ms
  ceiling  a bare asyncio TCP relay with hashing on both ends (_tcp_relay.py); the receiver
           writes the file, as VideoNet's must
  ceiling-nowrite  the same with the receiver discarding the bytes: the disk's share of the time
  videonet the real daemon and CLI (measure_videonet)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    MB,
    BenchError,
    Child,
    MiB,
    human_bytes,
    parse_size,
    print_table,
    random_file,
    ratio,
)

HERE = Path(__file__).resolve().parent
SEED_SCRIPT = HERE / "_seed_protocol.py"
TCP_SCRIPT = HERE / "_tcp_relay.py"
DEFAULT_SIZE = "1GiB"
DEFAULT_SEED_SIZE = "20MB"
DEFAULT_REPEAT = 3
# Timeouts assume a floor speed far below what is expected, plus start-up slack, so that a hung
# measurement ends instead of the run.
SLACK_SECONDS = 60.0
SEED_FLOOR_BPS = 0.4 * MB
FAST_FLOOR_BPS = 5 * MB


@dataclass
class Result:
    """One measurement. ``peak_rss`` maps a role (relay, sender, receiver) to bytes."""

    name: str
    size: int
    seconds: float
    sender_sha256: str
    receiver_sha256: str
    peak_rss: dict[str, int] = field(default_factory=dict)
    transfer_seconds: float | None = None
    expected_sha256: str | None = None

    @property
    def sha256_ok(self) -> bool:
        expected = self.expected_sha256 or self.sender_sha256
        return self.sender_sha256 == self.receiver_sha256 == expected

    @property
    def mb_per_s(self) -> float:
        return self.size / self.seconds / MB

    @property
    def mib_per_s(self) -> float:
        return self.size / self.seconds / MiB


def size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def timeout_for(size: int, floor_bps: float) -> float:
    return SLACK_SECONDS + size / floor_bps


def run_relayed(
    name: str,
    relay_argv: Sequence[str],
    sender_argv: Callable[[int], Sequence[str]],
    receiver_argv: Callable[[int], Sequence[str]],
    size: int,
    workdir: Path,
    timeout: float,
) -> Result:
    """Start the relay, then the receiver, then time the sender; always reap all three."""
    deadline = time.monotonic() + timeout
    logs = Path(tempfile.mkdtemp(prefix=f"logs-{name}-", dir=workdir))
    children: list[Child] = []
    try:
        relay = Child.start("relay", relay_argv, logs)
        children.append(relay)
        port = int(relay.wait_event("listening", deadline)["port"])
        receiver = Child.start("receiver", receiver_argv(port), logs)
        children.append(receiver)
        receiver.wait_event("ready", deadline)
        started = time.perf_counter()
        sender = Child.start("sender", sender_argv(port), logs)
        children.append(sender)
        for child in (sender, receiver):
            if child.wait_exit(deadline) != 0:
                raise BenchError(f"{name}: {child.role} failed {child.tail()}")
        ended = max(sender.ended or 0.0, receiver.ended or 0.0)
        relay.stop()
        sent, received = sender.result(), receiver.result()
        if received["bytes"] != size:
            raise BenchError(f"{name}: receiver got {received['bytes']} of {size} bytes")
        return Result(
            name=name,
            size=size,
            seconds=ended - started,
            sender_sha256=sent["sha256"],
            receiver_sha256=received["sha256"],
            peak_rss={c.role: c.peak_rss_bytes for c in (relay, sender, receiver)},
            transfer_seconds=received.get("seconds"),
        )
    finally:
        for child in children:
            child.kill()


def measure_seed(path: Path, size: int, workdir: Path) -> Result:
    out = workdir / "seed.out"
    try:
        return run_relayed(
            "seed",
            [sys.executable, str(SEED_SCRIPT), "server"],
            lambda port: [sys.executable, str(SEED_SCRIPT), "send", "--port", str(port), str(path)],
            lambda port: [
                sys.executable,
                str(SEED_SCRIPT),
                "receive",
                "--port",
                str(port),
                str(out),
            ],
            size,
            workdir,
            timeout_for(size, SEED_FLOOR_BPS),
        )
    finally:
        out.unlink(missing_ok=True)


def measure_ceiling(path: Path, size: int, workdir: Path, write: bool = True) -> Result:
    """With ``write=False`` the receiver discards the bytes: how much of the time is the disk's."""
    out = workdir / "ceiling.out" if write else Path(os.devnull)
    try:
        return run_relayed(
            "ceiling" if write else "ceiling-nowrite",
            [sys.executable, str(TCP_SCRIPT), "relay"],
            lambda port: [sys.executable, str(TCP_SCRIPT), "send", "--port", str(port), str(path)],
            lambda port: [
                sys.executable,
                str(TCP_SCRIPT),
                "receive",
                "--port",
                str(port),
                str(out),
            ],
            size,
            workdir,
            timeout_for(size, FAST_FLOOR_BPS),
        )
    finally:
        if write:
            out.unlink(missing_ok=True)


def measure_ceiling_nowrite(path: Path, size: int, workdir: Path) -> Result:
    return measure_ceiling(path, size, workdir, write=False)


BIN = Path(sys.executable).parent
BENCH_PASSWORD = "bench-password-123"


def _http_json(url: str, body: dict[str, Any], token: str | None = None) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _wait_text(child: Child, needle: str, deadline: float) -> str:
    while time.monotonic() < deadline:
        for event in list(child.events):
            text = str(event.get("text", ""))
            if needle in text:
                return text
        if child.proc.poll() is not None:
            raise BenchError(f"{child.role} exited {child.tail()}")
        time.sleep(0.05)
    raise BenchError(f"{child.role}: no {needle!r} before the timeout {child.tail()}")


def measure_videonet_tmpfs_spool(path: Path, size: int, workdir: Path) -> Result:
    """The same, with the daemon's spool on /dev/shm (VIDEONET_SPOOL_DIR)."""
    spool = Path(tempfile.mkdtemp(prefix="videonet-spool-", dir="/dev/shm"))
    try:
        return measure_videonet(path, size, workdir, spool, name="videonet-tmpfs-spool")
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def measure_videonet(
    path: Path, size: int, workdir: Path, spool: Path | None = None, name: str = "videonet"
) -> Result:
    """Daemon, sender and receiver as three processes, through the real CLI."""
    deadline = time.monotonic() + timeout_for(size, FAST_FLOOR_BPS)
    logs = Path(tempfile.mkdtemp(prefix="logs-videonet-", dir=workdir))
    data = Path(tempfile.mkdtemp(prefix="daemon-", dir=workdir))
    out = Path(tempfile.mkdtemp(prefix="received-", dir=workdir))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEONET_")}
    env["VIDEONET_BCRYPT_ROUNDS"] = "4"
    if spool is not None:
        env["VIDEONET_SPOOL_DIR"] = str(spool)
    children: list[Child] = []
    try:
        daemon = Child.start(
            "relay",
            [str(BIN / "videonet-daemon"), "serve", "--port", "0", "--data-dir", str(data)],
            logs,
            env=env,
        )
        children.append(daemon)
        url = _wait_text(daemon, "listening on ", deadline).split("listening on ", 1)[1].strip()
        invite = (data / "bootstrap-invite").read_text().strip()
        tokens = []
        for name in ("sender", "receiver"):
            email = f"{name}@bench.test"
            registered = _http_json(
                url + "/api/auth/register",
                {
                    "email": email,
                    "username": name,
                    "password": BENCH_PASSWORD,
                    "invite_code": invite,
                },
            )
            invite = registered["invite_code"]
            login = _http_json(
                url + "/api/auth/login", {"email": email, "password": BENCH_PASSWORD}
            )
            tokens.append(login["token"])
        room = _http_json(url + "/api/rooms/create", {"name": "bench"}, tokens[0])["id"]
        _http_json(url + f"/api/rooms/{room}/join", {}, tokens[1])

        def cli_env(token: str) -> dict[str, str]:
            return {**env, "VIDEONET_SERVER": url, "VIDEONET_TOKEN": token}

        receiver = Child.start(
            "receiver",
            [
                str(BIN / "videonet"),
                "receive",
                room,
                "--yes",
                "--out",
                str(out),
                "--json",
                "--no-progress",
            ],
            logs,
            env=cli_env(tokens[1]),
        )
        children.append(receiver)
        receiver.wait_event("listening", deadline)
        os.sync()
        started = time.perf_counter()
        sender = Child.start(
            "sender",
            [str(BIN / "videonet"), "send", room, str(path), "--json", "--no-progress"],
            logs,
            env=cli_env(tokens[0]),
        )
        children.append(sender)
        for child in (sender, receiver):
            if child.wait_exit(deadline) != 0:
                raise BenchError(f"videonet: {child.role} failed {child.tail()}")
        ended = max(sender.ended or 0.0, receiver.ended or 0.0)
        daemon.stop()
        sent, received = sender.result(), receiver.result()
        if received["bytes"] != size or not received["ok"]:
            raise BenchError(f"videonet: receiver result {received}")
        return Result(
            name=name,
            size=size,
            seconds=ended - started,
            sender_sha256=sent["sha256"],
            receiver_sha256=received["sha256"],
            peak_rss={c.role: c.peak_rss_bytes for c in (daemon, sender, receiver)},
            transfer_seconds=received.get("seconds"),
        )
    finally:
        for child in children:
            child.kill()
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


@dataclass
class Row:
    """Every run of one measurement; the table shows the median run and the range."""

    runs: list[Result]

    @property
    def median(self) -> Result:
        ordered = sorted(self.runs, key=lambda r: r.seconds)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def peak_rss(self) -> dict[str, int]:
        return {
            role: max(r.peak_rss.get(role, 0) for r in self.runs)
            for role in ("relay", "sender", "receiver")
        }


def report(rows: dict[str, Row]) -> None:
    table = []
    for name, row in rows.items():
        r = row.median
        speeds = [run.mb_per_s for run in row.runs]
        table.append(
            [
                name,
                human_bytes(r.size),
                len(row.runs),
                f"{r.seconds:.2f}",
                "-" if r.transfer_seconds is None else f"{r.transfer_seconds:.2f}",
                f"{r.mb_per_s:.1f}",
                f"{min(speeds):.1f}-{max(speeds):.1f}",
                f"{r.mib_per_s:.1f}",
                "ok" if all(run.sha256_ok for run in row.runs) else "MISMATCH",
                *(f"{rss / MB:.1f}" for rss in row.peak_rss.values()),
            ]
        )
    print()
    print_table(
        [
            "row",
            "size",
            "runs",
            "wall s",
            "recv s",
            "MB/s",
            "MB/s range",
            "MiB/s",
            "sha256",
            "relay RSS MB",
            "send RSS MB",
            "recv RSS MB",
        ],
        table,
    )
    speed = {name: row.median.mb_per_s for name, row in rows.items()}
    print()
    for top, bottom in (
        ("videonet", "ceiling"),
        ("videonet", "seed"),
        ("videonet-tmpfs-spool", "ceiling"),
        ("videonet-tmpfs-spool", "seed"),
        ("ceiling", "seed"),
    ):
        if top in speed and bottom in speed:
            print(f"{top} / {bottom}: {ratio(speed[top], speed[bottom])}")
    print(
        "\nMedian run by wall time. wall s: sender start to both ends' exit; recv s: receiver's"
        "\nfirst to last byte; RSS: highest VmHWM over the runs, per process (relay = Socket.IO"
        "\nserver, TCP relay or daemon); MB = 10^6 bytes."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size",
        type=size_arg,
        default=DEFAULT_SIZE,
        help=f"file size for the ceiling and VideoNet (default {DEFAULT_SIZE}; 4GiB, 500MB...)",
    )
    parser.add_argument(
        "--seed-size",
        type=size_arg,
        default=DEFAULT_SEED_SIZE,
        help=f"file size for the seed's protocol, ~1.6 MB/s (default {DEFAULT_SEED_SIZE})",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"runs of each measurement, interleaved; median shown (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--workdir", type=Path, help="where the temporary files go (default: the system temp)"
    )
    parser.add_argument("--skip-seed", action="store_true", help="do not measure the seed protocol")
    parser.add_argument("--skip-videonet", action="store_true", help="do not measure VideoNet")
    parser.add_argument(
        "--tmpfs-spool",
        action="store_true",
        help="also measure VideoNet with its spool on /dev/shm (VIDEONET_SPOOL_DIR)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, size {human_bytes(args.size)}, "
        f"seed size {human_bytes(args.seed_size)}, {args.repeat} run(s) each"
    )
    plan: list[tuple[str, Callable[[Path, int, Path], Result], int]] = []
    if not args.skip_seed:
        plan.append(("seed", measure_seed, args.seed_size))
    plan.append(("ceiling", measure_ceiling, args.size))
    plan.append(("ceiling-nowrite", measure_ceiling_nowrite, args.size))
    if not args.skip_videonet:
        plan.append(("videonet", measure_videonet, args.size))
        if args.tmpfs_spool and Path("/dev/shm").is_dir():
            plan.append(("videonet-tmpfs-spool", measure_videonet_tmpfs_spool, args.size))

    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="videonet-bench-", dir=args.workdir))
    rows: dict[str, Row] = {}
    skipped: set[str] = set()
    failed = False
    try:
        files: dict[int, tuple[Path, str]] = {}
        for size in dict.fromkeys(size for _, _, size in plan):
            path = workdir / f"random-{size}.bin"
            t0 = time.perf_counter()
            files[size] = (path, random_file(path, size))
            print(f"made a {human_bytes(size)} random file in {time.perf_counter() - t0:.1f} s")
        # Rounds are interleaved so that a slow spell of the machine hits every row alike.
        for round_no in range(1, args.repeat + 1):
            for name, measure, size in plan:
                if name in skipped:
                    continue
                path, sha256 = files[size]
                # Dirty pages left by the previous run would be written back during this one.
                os.sync()
                try:
                    result = measure(path, size, workdir)
                except NotImplementedError:
                    print(f"{name}: not measured (transfer not implemented yet)")
                    skipped.add(name)
                    continue
                except BenchError as exc:
                    print(f"{name}: FAILED: {exc}")
                    failed = True
                    skipped.add(name)
                    continue
                result.expected_sha256 = sha256
                failed |= not result.sha256_ok
                rows.setdefault(name, Row([])).runs.append(result)
                print(
                    f"{name} #{round_no}: {result.mb_per_s:.1f} MB/s in {result.seconds:.2f} s, "
                    f"sha256 {'ok' if result.sha256_ok else 'MISMATCH'}",
                    flush=True,
                )
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
    if rows:
        report(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
