"""File transfer benchmark: VideoNet against magic-wormhole, a bare TCP relay and the seed.

Every measurement runs three OS processes on 127.0.0.1 (relay or server, sender, receiver) on a
random file, and checks the SHA-256 computed by the sender and by the receiver against the one
computed while the file was made. Speeds are the file size over the wall time from starting the
sender to the exit of both ends (the receiver is already connected), so process start-up counts,
as it does for a user. MB = 10^6 bytes.

    python bench/transfer.py                      # 1 GiB ceiling, 20 MB seed reference
    python bench/transfer.py --size 4GiB --skip-seed
    python bench/transfer.py --size 512MB --skip-seed --skip-nowrite   # issue 13's rows

Rows:
  wormhole magic-wormhole 0.24's relay path (_wormhole.py): mailbox and transit relay servers on
           loopback, both ends with --no-listen; installed in its own venv under bench/out/
  seed     the seed's protocol re-created (_seed_protocol.py): Socket.IO, base64, 16 KiB, 10 ms
  ceiling  a bare asyncio TCP relay with hashing on both ends (_tcp_relay.py); the receiver
           writes the file, as VideoNet's must
  ceiling-nowrite  the same with the receiver discarding the bytes: the disk's share of the time
  ceiling-durable  the same relay keeping a copy of every byte in a spool file, both writers
           dropping behind in 8 MiB steps and the receiver fsyncing before it exits, as
           VideoNet's daemon and receiver do (--durable): the disk's floor under VideoNet's
           design, without its crypto and HTTP
  videonet the real daemon and CLI (measure_videonet); every send is end-to-end encrypted
           (issue 14), so this is the encrypted row
  videonet-enrolled  the same with the sender's identity made before the clock starts
           (--enrolled): a later send, where the videonet row is each sender's first command
  videonet-2rx  the same with two receivers of the file at once (--two-receivers); its speed
           is the slower receiver's
  videonet-base VideoNet imported from another checkout's src (--compare-src), same run;
           with a checkout from before issue 14 (git archive 2079c0c src) it is the
           unencrypted reference: the encryption's cost is videonet / videonet-base
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

import _wormhole
from _common import (
    MB,
    BenchError,
    Child,
    MiB,
    cpu_marks,
    cpu_since,
    enroll,
    human_bytes,
    own_dirs,
    parse_size,
    print_table,
    random_file,
    ratio,
    src_dir,
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
    # role -> (user, system) CPU seconds, polled like the peak RSS (the last 20 ms may be missed)
    cpu: dict[str, tuple[float, float]] = field(default_factory=dict)
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
        marks = cpu_marks(children)
        started = time.perf_counter()
        sender = Child.start("sender", sender_argv(port), logs)
        children.append(sender)
        for child in (sender, receiver):
            if child.wait_exit(deadline) != 0:
                raise BenchError(
                    f"{name}: {child.role} failed {child.tail()}\n relay's log:{relay.tail()}"
                )
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
            cpu=cpu_since((relay, sender, receiver), marks),
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


def measure_ceiling(
    path: Path, size: int, workdir: Path, write: bool = True, durable: bool = False
) -> Result:
    """With ``write=False`` the receiver discards the bytes: how much of the time is the disk's;
    with ``durable`` the relay keeps a spool copy and the receiver fsyncs (VideoNet's disk work)."""
    out = workdir / "ceiling.out" if write else Path(os.devnull)
    spool = workdir / "ceiling.spool"
    name = "ceiling-durable" if durable else "ceiling" if write else "ceiling-nowrite"
    keep = ["--spool", str(spool)] if durable else []
    try:
        return run_relayed(
            name,
            [sys.executable, str(TCP_SCRIPT), "relay", *keep],
            lambda port: [sys.executable, str(TCP_SCRIPT), "send", "--port", str(port), str(path)],
            lambda port: [
                sys.executable,
                str(TCP_SCRIPT),
                "receive",
                "--port",
                str(port),
                *(["--durable"] if durable else []),
                str(out),
            ],
            size,
            workdir,
            timeout_for(size, FAST_FLOOR_BPS),
        )
    finally:
        if write:
            out.unlink(missing_ok=True)
        spool.unlink(missing_ok=True)


def measure_ceiling_nowrite(path: Path, size: int, workdir: Path) -> Result:
    return measure_ceiling(path, size, workdir, write=False)


def measure_ceiling_durable(path: Path, size: int, workdir: Path) -> Result:
    return measure_ceiling(path, size, workdir, durable=True)


def wormhole_measure(venv: Path) -> Callable[[Path, int, Path], Result]:
    """A measure function for magic-wormhole's relay path, installed in ``venv`` if missing."""
    bin_dir = _wormhole.ensure_venv(venv)
    print(f"magic-wormhole: {_wormhole.version(bin_dir)} from {venv}")

    def measure(path: Path, size: int, workdir: Path) -> Result:
        run = _wormhole.measure(bin_dir, path, workdir, timeout_for(size, FAST_FLOOR_BPS))
        return Result(
            name="wormhole",
            size=size,
            seconds=run.seconds,
            # wormhole reports no digest; the receiver's file is hashed after the run
            sender_sha256=run.receiver_sha256,
            receiver_sha256=run.receiver_sha256,
            peak_rss=run.peak_rss,
            cpu=run.cpu,
        )

    return measure


BIN = Path(sys.executable).parent
BENCH_PASSWORD = "bench-password-123"
QUIET = ("--json", "--no-progress")


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


def measure_videonet_enrolled(path: Path, size: int, workdir: Path) -> Result:
    return measure_videonet(path, size, workdir, name="videonet-enrolled", enrolled=True)


def measure_videonet_two_receivers(path: Path, size: int, workdir: Path) -> Result:
    return measure_videonet(path, size, workdir, name="videonet-2rx", receivers=2)


def videonet_from(src: Path) -> Callable[[Path, int, Path], Result]:
    """VideoNet with its packages imported from another checkout's ``src`` (the same venv)."""

    def measure(path: Path, size: int, workdir: Path) -> Result:
        return measure_videonet(path, size, workdir, name="videonet-base", pythonpath=src)

    return measure


def measure_videonet(
    path: Path,
    size: int,
    workdir: Path,
    spool: Path | None = None,
    name: str = "videonet",
    pythonpath: Path | None = None,
    receivers: int = 1,
    enrolled: bool = False,
) -> Result:
    """Daemon, sender and receiver as three processes, through the real CLI.

    With ``receivers=2`` a second receiver takes the same file at the same time; the speed is
    then the slower receiver's (the wall time ends when both have the file). Without
    ``enrolled`` the send is the sender's first command, which also makes and publishes its
    identity; with it the identity is made before the clock starts, as for any later send.
    """
    deadline = time.monotonic() + timeout_for(size, FAST_FLOOR_BPS)
    logs = Path(tempfile.mkdtemp(prefix="logs-videonet-", dir=workdir))
    data = Path(tempfile.mkdtemp(prefix="daemon-", dir=workdir))
    out = Path(tempfile.mkdtemp(prefix="received-", dir=workdir))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEONET_")}
    env["VIDEONET_BCRYPT_ROUNDS"] = "4"
    if spool is not None:
        env["VIDEONET_SPOOL_DIR"] = str(spool)
    if pythonpath is not None:
        # Ahead of the venv's editable install, so these packages are the ones imported.
        env["PYTHONPATH"] = str(pythonpath.resolve())
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
        receiver_roles = ["receiver", *(f"receiver{n}" for n in range(2, receivers + 1))]
        for role in ("sender", *receiver_roles):
            email = f"{role}@bench.test"
            registered = _http_json(
                url + "/api/auth/register",
                {
                    "email": email,
                    "username": role,
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
        for token in tokens[1:]:
            _http_json(url + f"/api/rooms/{room}/join", {}, token)

        def cli_env(token: str, role: str) -> dict[str, str]:
            # The bench's users are new to each other: accept them as --trust-new does.
            return {
                **env,
                **own_dirs(logs / role),
                "VIDEONET_SERVER": url,
                "VIDEONET_TOKEN": token,
                "VIDEONET_TRUST_NEW": "1",
            }

        if enrolled:
            enroll(BIN / "videonet", cli_env(tokens[0], "sender"), logs)
        receiving = []
        for role, token in zip(receiver_roles, tokens[1:], strict=True):
            into = out / role
            into.mkdir()
            child = Child.start(
                role,
                [str(BIN / "videonet"), "receive", room, "--yes", "--out", str(into), *QUIET],
                logs,
                env=cli_env(token, role),
            )
            children.append(child)
            receiving.append(child)
        for child in receiving:
            child.wait_event("listening", deadline)
        receiver = receiving[0]
        os.sync()
        marks = cpu_marks(children)
        started = time.perf_counter()
        sender = Child.start(
            "sender",
            [str(BIN / "videonet"), "send", room, str(path), "--json", "--no-progress"],
            logs,
            env=cli_env(tokens[0], "sender"),
        )
        children.append(sender)
        for child in (sender, *receiving):
            if child.wait_exit(deadline) != 0:
                # The daemon's side too: a cut connection is often the daemon's doing (its
                # work directory, with the logs, goes when the bench ends).
                raise BenchError(
                    f"videonet: {child.role} failed {child.tail()}\n daemon's log:{daemon.tail()}"
                )
        ended = max(child.ended or 0.0 for child in (sender, *receiving))
        daemon.stop()
        sent, received = sender.result(), receiver.result()
        digests = set()
        for child in receiving:
            got = child.result()
            if got["bytes"] != size or not got["ok"]:
                raise BenchError(f"videonet: {child.role} result {got}")
            digests.add(got["sha256"])
        peak = {c.role: c.peak_rss_bytes for c in (daemon, sender, receiver)}
        peak["receiver"] = max(c.peak_rss_bytes for c in receiving)
        return Result(
            name=name,
            size=size,
            seconds=ended - started,
            sender_sha256=sent["sha256"],
            receiver_sha256=received["sha256"] if len(digests) == 1 else "differ",
            peak_rss=peak,
            cpu=cpu_since((daemon, sender, receiver), marks),
            transfer_seconds=max(float(c.result().get("seconds") or 0) for c in receiving),
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
    print()
    cpu_table = []
    for name, row in rows.items():
        r = row.median
        cells = [
            f"{r.cpu[role][0]:.2f} / {r.cpu[role][1]:.2f}" if role in r.cpu else "-"
            for role in ("relay", "sender", "receiver")
        ]
        total = sum(u + s for u, s in r.cpu.values())
        cpu_table.append([name, *cells, f"{total:.2f}", f"{total / r.seconds:.2f}"])
    print_table(
        [
            "row (median run)",
            "relay user/sys s",
            "sender user/sys s",
            "receiver user/sys s",
            "CPU s",
            "cores busy",
        ],
        cpu_table,
    )
    speed = {name: row.median.mb_per_s for name, row in rows.items()}
    print()
    for top, bottom in (
        ("videonet", "wormhole"),
        ("videonet", "ceiling"),
        ("videonet", "seed"),
        ("videonet", "videonet-base"),
        ("videonet-enrolled", "wormhole"),
        ("videonet-enrolled", "ceiling"),
        ("videonet-enrolled", "ceiling-nowrite"),
        ("videonet", "ceiling-nowrite"),
        ("videonet", "ceiling-durable"),
        ("videonet-enrolled", "ceiling-durable"),
        ("ceiling-durable", "ceiling-nowrite"),
        ("videonet-2rx", "videonet"),
        ("videonet-base", "wormhole"),
        ("videonet-base", "ceiling"),
        ("videonet-tmpfs-spool", "wormhole"),
        ("videonet-tmpfs-spool", "ceiling"),
        ("videonet-tmpfs-spool", "seed"),
        ("wormhole", "ceiling"),
        ("ceiling", "seed"),
    ):
        if top in speed and bottom in speed:
            print(f"{top} / {bottom}: {ratio(speed[top], speed[bottom])}")
    print(
        "\nMedian run by wall time. wall s: sender start to both ends' exit; recv s: receiver's"
        "\nfirst to last byte; RSS: highest VmHWM over the runs, per process (relay = Socket.IO"
        "\nserver, TCP relay, wormhole's transit relay or daemon); MB = 10^6 bytes; ceiling ="
        "\nthe bare asyncio relay."
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
        "--skip-wormhole", action="store_true", help="do not measure magic-wormhole"
    )
    parser.add_argument(
        "--skip-nowrite", action="store_true", help="do not measure ceiling-nowrite"
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="also measure ceiling-durable (the bare relay with VideoNet's spool copy and fsync)",
    )
    parser.add_argument(
        "--wormhole-venv",
        type=Path,
        default=_wormhole.DEFAULT_VENV,
        help="the venv magic-wormhole is installed into and run from "
        "(default bench/out/wormhole-venv)",
    )
    parser.add_argument(
        "--enrolled",
        action="store_true",
        help="also measure VideoNet with the sender's identity made before the clock starts "
        "(videonet-enrolled: a later send; the videonet row is each sender's first command)",
    )
    parser.add_argument(
        "--two-receivers",
        action="store_true",
        help="also measure VideoNet with two receivers of the same file at once (videonet-2rx)",
    )
    parser.add_argument(
        "--compare-src",
        type=src_dir,
        help="also measure VideoNet imported from this src directory (e.g. an exported older "
        "commit: git archive REV src | tar -x -C DIR), as the row videonet-base",
    )
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
    if not args.skip_nowrite:
        plan.append(("ceiling-nowrite", measure_ceiling_nowrite, args.size))
    if args.durable:
        plan.append(("ceiling-durable", measure_ceiling_durable, args.size))
    if not args.skip_wormhole:
        plan.append(("wormhole", wormhole_measure(args.wormhole_venv), args.size))
    if not args.skip_videonet:
        plan.append(("videonet", measure_videonet, args.size))
        if args.enrolled:
            plan.append(("videonet-enrolled", measure_videonet_enrolled, args.size))
        if args.two_receivers:
            plan.append(("videonet-2rx", measure_videonet_two_receivers, args.size))
        if args.compare_src:
            plan.append(("videonet-base", videonet_from(args.compare_src), args.size))
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
