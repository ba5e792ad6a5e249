"""Many small files in one send: files per second through VideoNet, before and after batches.

N random files of SIZE bytes (default 1,000 x 10 KB) go from one sender to one receiver through
the real daemon and CLI, timed from the sender's start to the exit of both ends (process start-up
counts, as for a user). Every received file's SHA-256 is checked against its source afterwards.

    python bench/many_files.py                                 # videonet and videonet-dir
    python bench/many_files.py --compare-src /tmp/base/src     # + the per-file path (before)
    python bench/many_files.py --wormhole                      # + magic-wormhole with the dir

Rows:
  videonet       `videonet send ROOM f1 ... fN`: one batch (one offer, one upload, one verdict)
  videonet-dir   `videonet send ROOM DIR`: the same files as a directory tree
  videonet-base  `videonet send ROOM f1 ... fN` with another checkout's src (--compare-src):
                 before batches, one offer, upload, seal and verdict per file
  videonet-enrolled, videonet-dir-enrolled  the same two with the sender's identity made
                 before the clock starts (--enrolled): a later send; in the rows above the
                 send is each sender's first command, which also makes its identity
  wormhole-dir   `wormhole send DIR` (it zips the directory; --no-listen, relay on loopback)
  create-only    no transfer: one process creates the same files (exclusive create, write,
                 close) in a new directory beside the receivers' and syncs the file system once,
                 as a receive ends: the kernel's share of any receive of these files in this
                 place, the floor under every row (--create-only)

After the table: where each videonet row's time goes (the median seconds from the sender's start
to each end's first JSON line of each event, and to each end's exit), and what one create costs
in the work directory before and after the rows (see KEPT: a run just after another that deleted
its files pays the kernel's inode search on every create, as magic-wormhole's receiver does).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import _wormhole
from _common import (
    BenchError,
    Child,
    cpu_marks,
    cpu_since,
    enroll,
    own_dirs,
    parse_size,
    print_table,
    ratio,
    src_dir,
)
from _startup_send import installed_env
from transfer import BENCH_PASSWORD, BIN, _http_json, _wait_text

DEFAULT_COUNT = 1000
DEFAULT_SIZE = "10KB"
TIMEOUT_SECONDS = 600.0
# KEPT: every run's received files stay until the bench ends (its work directory goes then).
# On ext4 without a journal, as here, the kernel skips inodes freed in the last 60 s (360 s while
# their inode table block is dirty) one by one when it allocates new ones (`recently_deleted` in
# fs/ext4/ialloc.c, 60-70 % of a receiver's samples under `perf` then): deleting 1,000-20,000
# files made the next minute's creates 10-25x slower (0.7 ms per create against 28 us), so each
# row's figure depended on the row before it. No row deletes files while the clock runs, and
# `probe_creates` prints what a create costs at the start and the end (a bench or suite run just
# before this one, which deleted its files, shows there).


@dataclass
class Run:
    seconds: float
    files: int
    ok: bool
    cpu: dict[str, tuple[float, float]]
    # "role event" -> seconds from the start to that event's first line, and "role exited"
    marks: dict[str, float] = field(default_factory=dict)

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds


def _accept_all(pythonpath: Path | None) -> list[str]:
    """`--yes` (receive asks before taking a file, and here there is no terminal); a base
    checkout from before that prompt takes every offer and has no such option."""
    if pythonpath is None:
        return ["--yes"]
    command = pythonpath / "videonet_cli" / "commands" / "transfer.py"
    return ["--yes"] if '"--yes"' in command.read_text() else []


def make_files(directory: Path, count: int, size: int) -> dict[str, str]:
    directory.mkdir(parents=True)
    digests = {}
    for i in range(count):
        data = os.urandom(size)
        name = f"f{i:05}.bin"
        (directory / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def check_tree(root: Path, expected: dict[str, str]) -> bool:
    if not root.is_dir():
        return False
    got = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}
    return got == expected


def measure_videonet(
    src: Path,
    expected: dict[str, str],
    workdir: Path,
    as_dir: bool,
    pythonpath: Path | None,
    enrolled: bool = False,
) -> Run:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    run_dir = Path(tempfile.mkdtemp(prefix="videonet-", dir=workdir))
    data, out = run_dir / "daemon", run_dir / "received"
    data.mkdir()
    out.mkdir()
    env = installed_env(pythonpath)  # bytecode cached, as pip installs it
    env["VIDEONET_BCRYPT_ROUNDS"] = "4"
    children: list[Child] = []
    try:
        daemon = Child.start(
            "relay",
            [str(BIN / "videonet-daemon"), "serve", "--port", "0", "--data-dir", str(data)],
            run_dir,
            env=env,
        )
        children.append(daemon)
        url = _wait_text(daemon, "listening on ", deadline).split("listening on ", 1)[1].strip()
        invite = (data / "bootstrap-invite").read_text().strip()
        tokens = []
        for role in ("sender", "receiver"):
            email = f"{role}@bench.test"
            registered = _http_json(
                url + "/api/auth/register",
                {"email": email, "username": role, "password": BENCH_PASSWORD,
                 "invite_code": invite},
            )  # fmt: skip
            invite = registered["invite_code"]
            login = _http_json(
                url + "/api/auth/login", {"email": email, "password": BENCH_PASSWORD}
            )
            tokens.append(login["token"])
        room = _http_json(url + "/api/rooms/create", {"name": "bench"}, tokens[0])["id"]
        _http_json(url + f"/api/rooms/{room}/join", {}, tokens[1])

        def cli_env(token: str, role: str) -> dict[str, str]:
            # The bench's users are new to each other: accept them as --trust-new does.
            return {
                **env,
                **own_dirs(run_dir / role),
                "VIDEONET_SERVER": url,
                "VIDEONET_TOKEN": token,
                "VIDEONET_TRUST_NEW": "1",
            }

        if enrolled:  # the sender's identity made before the clock, as for any later send
            enroll(BIN / "videonet", cli_env(tokens[0], "sender"), run_dir)
        count = "1" if as_dir else str(len(expected))
        receiver = Child.start(
            "receiver",
            [str(BIN / "videonet"), "receive", room, "--out", str(out), "--count", count,
             *_accept_all(pythonpath), "--json", "--no-progress", "--timeout", "120"],
            run_dir,
            env=cli_env(tokens[1], "receiver"),
        )  # fmt: skip
        children.append(receiver)
        receiver.wait_event("listening", deadline)
        what = [str(src)] if as_dir else [str(src / name) for name in sorted(expected)]
        os.sync()
        marks = cpu_marks(children)
        started = time.perf_counter()
        sender = Child.start(
            "sender",
            [str(BIN / "videonet"), "send", room, *what, "--json", "--no-progress"],
            run_dir,
            env=cli_env(tokens[0], "sender"),
        )
        children.append(sender)
        for child in (sender, receiver):
            if child.wait_exit(deadline) != 0:
                raise BenchError(f"videonet: {child.role} failed {child.tail()}")
        ended = max(c.ended or 0.0 for c in (sender, receiver))
        daemon.stop()
        ok = check_tree(out / src.name if as_dir else out, expected)
        return Run(
            ended - started, len(expected), ok, cpu_since(children, marks),
            timeline((sender, receiver), started),
        )  # fmt: skip
    finally:
        for child in children:
            child.kill()
        # run_dir is kept until the bench ends: see KEPT


def timeline(children: Sequence[Child], started: float) -> dict[str, float]:
    """Seconds from the clock's start to each end's first line of each event, and its exit."""
    marks: dict[str, float] = {}
    for child in children:
        for event in child.events:
            key = f"{child.role} {event.get('event')}"
            marks.setdefault(key, max(0.0, float(event["_at"]) - started))
        if child.ended is not None:
            marks[f"{child.role} exited"] = child.ended - started
    return marks


def probe_creates(workdir: Path, count: int = 1000) -> str:
    """What one empty exclusive create costs in ``workdir`` now (the files are kept: KEPT)."""
    where = Path(tempfile.mkdtemp(prefix="probe-", dir=workdir))
    began = time.perf_counter()
    for i in range(count):
        os.close(os.open(where / f"p{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return f"{(time.perf_counter() - began) / count * 1e6:.0f} us per create"


CREATE_ONLY = """
import json, os, resource, sys, time
src, out = sys.argv[1], sys.argv[2]
names = sorted(os.listdir(src))
blobs = []
for name in names:
    with open(os.path.join(src, name), "rb") as fh:
        blobs.append(fh.read())
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for name, blob in zip(names, blobs):
    fd = os.open(os.path.join(out, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, blob)
    os.close(fd)
fd = os.open(out, os.O_RDONLY)
os.sync() if not hasattr(os, "syncfs") else os.syncfs(fd)
os.close(fd)
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
print(json.dumps({"seconds": t1 - t0, "user": r1.ru_utime - r0.ru_utime,
                  "sys": r1.ru_stime - r0.ru_stime}))
"""


def measure_create_only(src: Path, expected: dict[str, str], workdir: Path) -> Run:
    """The same files created in a new directory beside the receivers' (no transfer); the
    directory is kept until the bench ends (see KEPT)."""
    out = Path(tempfile.mkdtemp(prefix="videonet-", dir=workdir)) / "received"
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", CREATE_ONLY, str(src), str(out)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"create-only failed: {done.stderr.strip()[-300:]}")
    spent = json.loads(done.stdout)
    return Run(
        spent["seconds"],
        len(expected),
        check_tree(out, expected),
        {"creator": (spent["user"], spent["sys"])},
    )


def measure_wormhole(venv: Path) -> Callable[[Path, dict[str, str], Path], Run]:
    bin_dir = _wormhole.ensure_venv(venv)

    def measure(src: Path, expected: dict[str, str], workdir: Path) -> Run:
        run = _wormhole.measure(bin_dir, src, workdir, TIMEOUT_SECONDS, keep_output=True)
        return Run(run.seconds, len(expected), run.receiver_sha256 == tree_sha(expected), run.cpu)

    return measure


def tree_sha(expected: dict[str, str]) -> str:
    """What _wormhole reports for a received directory: its files' digests, by name."""
    return _wormhole.tree_digest(expected)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="files (default 1000)")
    parser.add_argument("--size", default=DEFAULT_SIZE, help="bytes per file (default 10KB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each row (default 3)")
    parser.add_argument("--compare-src", type=src_dir, help="also run another checkout's src")
    parser.add_argument("--wormhole", action="store_true", help="also run magic-wormhole")
    parser.add_argument("--workdir", type=Path, help="where the files go (default system temp)")
    parser.add_argument(
        "--enrolled",
        action="store_true",
        help="also measure sends whose sender's identity was made before the clock starts "
        "(a later send; the videonet rows are each sender's first command)",
    )
    parser.add_argument(
        "--create-only",
        action="store_true",
        help="also time creating the same files with no transfer (the kernel's share)",
    )
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
        f"{args.count} files of {size} bytes, {args.repeat} run(s) each"
    )
    plan: list[tuple[str, Callable[[Path, dict[str, str], Path], Run]]] = [
        ("videonet", lambda s, e, w: measure_videonet(s, e, w, False, None)),
        ("videonet-dir", lambda s, e, w: measure_videonet(s, e, w, True, None)),
    ]
    if args.enrolled:
        plan.append(
            ("videonet-enrolled", lambda s, e, w: measure_videonet(s, e, w, False, None, True))
        )
        plan.append(
            ("videonet-dir-enrolled", lambda s, e, w: measure_videonet(s, e, w, True, None, True))
        )
    if args.compare_src:
        base = args.compare_src
        plan.append(("videonet-base", lambda s, e, w: measure_videonet(s, e, w, False, base)))
    if args.wormhole:
        plan.append(("wormhole-dir", measure_wormhole(_wormhole.DEFAULT_VENV)))
    if args.create_only:
        plan.append(("create-only", measure_create_only))
    workdir = Path(tempfile.mkdtemp(prefix="videonet-many-", dir=args.workdir))
    rows: dict[str, list[Run]] = {}
    failed = False
    try:
        src = workdir / "files"
        expected = make_files(src, args.count, size)
        print(f"creates in {workdir} before the rows: {probe_creates(workdir)}", flush=True)
        for round_no in range(1, args.repeat + 1):
            for name, measure in plan:
                try:
                    run = measure(src, expected, workdir)
                except BenchError as exc:
                    print(f"{name}: FAILED: {exc}")
                    failed = True
                    continue
                failed |= not run.ok
                rows.setdefault(name, []).append(run)
                cpu = ", ".join(f"{role} {u:.2f}/{s:.2f}" for role, (u, s) in run.cpu.items())
                print(
                    f"{name} #{round_no}: {run.files_per_s:.0f} files/s in {run.seconds:.2f} s, "
                    f"sha256 {'ok' if run.ok else 'MISMATCH'}; CPU user/sys s: {cpu}",
                    flush=True,
                )
        print(f"creates in {workdir} after the rows: {probe_creates(workdir)}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table = []
    medians = {}
    for name, runs in rows.items():
        ordered = sorted(runs, key=lambda r: r.seconds)
        median = ordered[(len(ordered) - 1) // 2]
        medians[name] = median.files_per_s
        rates = [r.files_per_s for r in runs]
        cpu = sum(u + s for u, s in median.cpu.values())
        table.append(
            [
                name,
                len(runs),
                f"{median.seconds:.2f}",
                f"{median.files_per_s:.0f}",
                f"{min(rates):.0f}-{max(rates):.0f}",
                f"{cpu:.2f}",
                "ok" if all(r.ok for r in runs) else "MISMATCH",
            ]
        )
    print()
    print_table(["row", "runs", "wall s", "files/s", "range", "CPU s", "sha256"], table)
    for name, runs in rows.items():
        keys = sorted({k for r in runs for k in r.marks if all(k in o.marks for o in runs)},
                      key=lambda k: statistics.median(r.marks[k] for r in runs))  # fmt: skip
        if keys:
            print(f"\nwhere {name}'s time goes (median seconds from the sender's start):")
            print_table(
                ["mark", "s"],
                [[k, f"{statistics.median(r.marks[k] for r in runs):.3f}"] for k in keys],
            )
    print()
    for top, bottom in (
        ("videonet", "videonet-base"),
        ("videonet-dir", "videonet-base"),
        ("videonet", "wormhole-dir"),
        ("videonet-dir", "wormhole-dir"),
        ("videonet-enrolled", "wormhole-dir"),
        ("videonet-dir-enrolled", "wormhole-dir"),
        # The most any receiver that creates these files here could reach against wormhole:
        ("create-only", "wormhole-dir"),
    ):
        if top in medians and bottom in medians:
            print(f"{top} / {bottom}: {ratio(medians[top], medians[bottom])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
