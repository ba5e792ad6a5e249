"""Helpers shared by the benchmarks: child processes and their peak RSS, random files, output.

Standard library only, so that a benchmark measures the code under test and not its harness.

Peak RSS
--------
The peak resident set size of a child is read from ``VmHWM`` in ``/proc/PID/status``: the kernel's
high-water mark of the *current* address space of that process.

``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in the child, and ``os.wait4()`` in the parent, look
simpler but are wrong here: on Linux both include the high-water mark of the address space the
child had *before* ``exec``, which for ``subprocess`` (vfork + exec) is the parent's. Measured on
this machine: a parent holding 300 MiB starts ``python -c ...``; the child's ``VmHWM`` says 13 MiB,
its ``ru_maxrss`` and ``wait4`` both say 314 MiB.

``VmHWM`` disappears once the process has exited, so it is taken two ways and the larger wins:

* the parent polls it every ``POLL_INTERVAL`` seconds while the child runs (works for any command,
  such as the ``videonet`` CLI, and loses at most the growth in the child's last interval, when a
  streaming transfer has long reached its peak), and
* the benchmark's own children print it in their final JSON line (``"vmhwm_kib"``), read just
  before they exit, which is exact.

Random files
------------
``random_file`` expands a counter with SHAKE-128, 1 MiB per call. On this machine (2 cores, 1 GiB
written to disk, two rounds each) it took 2.6–3.4 s against 3.9–6.1 s for ``os.urandom`` and
5.3–6.3 s for ``random.randbytes``; the bytes are as incompressible as either.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MB = 1_000_000
MiB = 1 << 20
GiB = 1 << 30
BLOCK = MiB
POLL_INTERVAL = 0.02
LOOPBACK = "127.0.0.1"

_VMHWM = re.compile(rb"^VmHWM:\s+(\d+)\s+kB", re.MULTILINE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "k": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tib": 1 << 40,
}


class BenchError(RuntimeError):
    """A measurement could not be completed; the message says why."""


# --- sizes and formatting -------------------------------------------------------------------


def parse_size(text: str) -> int:
    """``"4GiB"`` -> 4294967296. KB/MB/GB are powers of ten; K/M/G and KiB/MiB/GiB powers of two."""
    match = _SIZE.match(text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 1GiB, 20MB, 512MiB, 1048576)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def src_dir(text: str) -> Path:
    """An argparse type for --compare-src: a directory holding both packages. A wrong path
    must stop the run: PYTHONPATH would skip it silently and measure this checkout twice."""
    path = Path(text)
    for package in ("videonet_cli", "videonet_daemon"):
        if not (path / package / "__init__.py").is_file():
            raise argparse.ArgumentTypeError(f"{path} has no {package} package (want a src dir)")
    return path.resolve()


def human_bytes(n: float) -> str:
    """Binary units, since that is how ``--size`` is usually given."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def ratio(numerator: float | None, denominator: float | None) -> str:
    """``"273.4x"``; a dash when either side was not measured or is zero."""
    if not numerator or not denominator:
        return "-"
    value = numerator / denominator
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x" if value >= 1000 else f"{value:.1f}x"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        return "  ".join(parts).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


# --- files and ports ------------------------------------------------------------------------


def own_dirs(home: Path) -> dict[str, str]:
    """The environment that gives one end of a run its own data and config directories under
    ``home``: its device key, identity and pins are made in that run, as on a new machine, and
    never the user's own. (Before, every bench run used the user's directories: both ends
    shared one device key, and the pins of every daemon any earlier run had talked to piled up
    in one file that each send reads twice and writes once: 126 daemons and 93 KB, about 10 ms
    per send, after one session's benches.)"""
    return {
        "VIDEONET_DATA_DIR": str(home / "data"),
        "VIDEONET_CONFIG_DIR": str(home / "config"),
    }


def enroll(videonet: Path, env: dict[str, str], log_dir: Path) -> None:
    """Make and publish the identity of the end that ``env`` describes before the clock starts
    (what its first command does once; every later send finds it made): `videonet devices`."""
    with (log_dir / "enroll.log").open("wb") as log:
        done = subprocess.run(
            [str(videonet), "devices", "--json"], env=env, stdout=log, stderr=log, timeout=60
        )
    if done.returncode != 0:
        raise BenchError(f"videonet devices failed ({done.returncode}): see {log_dir}/enroll.log")


def random_file(path: Path, size: int) -> str:
    """Write ``size`` pseudo-random bytes to ``path``; return their SHA-256 (hex)."""
    digest = hashlib.sha256()
    counter = 0
    with path.open("wb") as out:
        remaining = size
        while remaining > 0:
            block = hashlib.shake_128(counter.to_bytes(8, "little")).digest(min(BLOCK, remaining))
            digest.update(block)
            out.write(block)
            remaining -= len(block)
            counter += 1
    return digest.hexdigest()


def free_port() -> int:
    """A TCP port free on loopback right now. Racy by nature: prefer a child that binds port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# --- peak RSS -------------------------------------------------------------------------------


def read_vmhwm_kib(pid: int | str = "self") -> int | None:
    """``VmHWM`` of a live process in KiB, or None once it has gone (or become a zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_bytes()
    except OSError:
        return None
    match = _VMHWM.search(status)
    return int(match.group(1)) if match else None


_TICKS = os.sysconf("SC_CLK_TCK")


def read_cpu_seconds(pid: int) -> tuple[float, float] | None:
    """User and system CPU seconds of a live process (``/proc/PID/stat``), or None once gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    fields = stat.rsplit(b")", 1)[1].split()
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS


def emit(**fields: Any) -> None:
    """A child's one line of JSON on stdout, flushed at once so the parent sees it in time."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def emit_result(**fields: Any) -> None:
    """A child's last line: its result plus its own exact peak RSS."""
    emit(event="result", vmhwm_kib=read_vmhwm_kib(), **fields)


# --- child processes ------------------------------------------------------------------------

# A child's stdout pipe holds this much (Linux's default 64 KiB): a batch's --json results,
# 1,000 lines of ~400 bytes written at once, would otherwise wait on this process's reader
# thread line by line (40 ms of a 0.56 s send measured, docs/performance.md "Session 15"): the
# bench's own cost, not the CLI's, and a user's `> file` or `| jq` takes them at once.
PIPE_BYTES = 1 << 20


def _widen(pipe: IO[bytes] | None) -> None:
    if pipe is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: the default stays
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


@dataclass
class Child:
    """A child process whose stdout carries JSON lines and whose peak RSS is tracked.

    Use ``Child.start``; stderr goes to ``log_path`` so that a failure can show its tail.
    """

    role: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    started: float
    events: list[dict[str, Any]] = field(default_factory=list)
    ended: float | None = None  # its exit, once its stdout is read to the end too
    exited: float | None = None  # when the process exited (stamped by _await_exit)
    _polled_kib: int = 0
    cpu_seconds: tuple[float, float] = (0.0, 0.0)
    _cpu_final: bool = False  # cpu_seconds read at the exit, or before stop() signalled
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _threads: list[threading.Thread] = field(default_factory=list)
    _exit_seen: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(
        cls, role: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None
    ) -> Child:
        log_path = log_dir / f"{role}.log"
        log: IO[bytes] = log_path.open("wb")
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )
        log.close()
        _widen(proc.stdout)
        child = cls(role=role, proc=proc, log_path=log_path, started=time.perf_counter())
        for target in (child._await_exit, child._read_stdout, child._poll_rss):
            thread = threading.Thread(target=target, name=f"{role}-{target.__name__}", daemon=True)
            thread.start()
            child._threads.append(thread)
        return child

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                event = {"event": "text", "text": raw.decode(errors="replace").rstrip()}
            if not isinstance(event, dict):
                event = {"event": "json", "value": event}
            event.setdefault("_at", time.perf_counter())  # when it came: where time goes
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        self._exit_seen.wait()  # _await_exit stamps it before anything reaps the child
        # A reaped child's pid may be reused, so the poller stops on the returncode, not on /proc.
        self.proc.wait()
        with self._cond:
            # Its exit as _await_exit saw it: this thread may finish reading its lines later.
            self.ended = self.exited or time.perf_counter()
            self._cond.notify_all()

    def _await_exit(self) -> None:
        """Stamp the exit when it happens, and take the CPU then (still unreaped: WNOWAIT), not
        the poller's last reading up to POLL_INTERVAL earlier; a server that stop() signalled
        keeps the reading taken before."""
        try:
            os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT)
            exited = time.perf_counter()
            self._take_cpu(read_cpu_seconds(self.proc.pid), final=True)
            with self._cond:
                self.exited = exited
        except ChildProcessError:  # the poller reaped it first
            pass
        finally:
            self._exit_seen.set()

    def _poll_rss(self) -> None:
        while self.proc.poll() is None:
            kib = read_vmhwm_kib(self.proc.pid)
            if kib is not None:
                self._polled_kib = max(self._polled_kib, kib)
            self._take_cpu(read_cpu_seconds(self.proc.pid))
            time.sleep(POLL_INTERVAL)

    def _take_cpu(self, cpu: tuple[float, float] | None, final: bool = False) -> None:
        with self._cond:
            if cpu is not None and not self._cpu_final:
                self.cpu_seconds, self._cpu_final = cpu, final

    def wait_event(self, name: str, deadline: float) -> dict[str, Any]:
        """The first event called ``name``; raise if the child exits or the deadline passes."""
        with self._cond:
            while True:
                for event in self.events:
                    if event.get("event") == name:
                        return event
                if self.ended is not None:
                    raise BenchError(f"{self.role} exited ({self.proc.returncode}) {self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"{self.role}: no {name!r} before the timeout {self.tail()}")
                self._cond.wait(min(left, 0.5))

    def wait_exit(self, deadline: float) -> int:
        """Wait for the child to exit and its stdout to be read; raise if the deadline passes."""
        with self._cond:
            while self.ended is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"{self.role}: still running at the timeout {self.tail()}")
                self._cond.wait(min(left, 0.5))
        return int(self.proc.returncode)

    def result(self) -> dict[str, Any]:
        """The child's ``result`` event, which must have been printed already."""
        for event in reversed(self.events):
            if event.get("event") == "result":
                return event
        raise BenchError(f"{self.role} printed no result {self.tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the servers print their result on it), then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            kib = read_vmhwm_kib(self.proc.pid)
            if kib is not None:
                self._polled_kib = max(self._polled_kib, kib)
            # What it spent until now: its shutdown is not the measured work's.
            self._take_cpu(read_cpu_seconds(self.proc.pid), final=True)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for thread in self._threads:
            thread.join(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)

    @property
    def peak_rss_bytes(self) -> int:
        """The larger of the polled ``VmHWM`` and the one the child reported itself."""
        reported = max((e.get("vmhwm_kib") or 0 for e in self.events), default=0)
        return max(self._polled_kib, int(reported)) * 1024

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return ("\n  " + "\n  ".join(text[-lines:])) if text else ""


def cpu_marks(children: Sequence[Child]) -> dict[str, tuple[float, float]]:
    """Each running child's CPU seconds so far, to subtract its start-up from its total."""
    return {c.role: read_cpu_seconds(c.proc.pid) or (0.0, 0.0) for c in children}


def cpu_since(
    children: Sequence[Child], marks: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    spent = {}
    for c in children:
        user0, sys0 = marks.get(c.role, (0.0, 0.0))
        spent[c.role] = (c.cpu_seconds[0] - user0, c.cpu_seconds[1] - sys0)
    return spent


def run_roles(
    doc: str,
    server_role: str,
    server: Callable[[], Awaitable[None]],
    send: Callable[[int, Path], Awaitable[None]],
    receive: Callable[[int, Path], Awaitable[None]],
) -> None:
    """The command line every reference script has: SERVER_ROLE | send --port P FILE |
    receive --port P OUT."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    roles = parser.add_subparsers(dest="role", required=True)
    roles.add_parser(server_role)
    sender = roles.add_parser("send")
    sender.add_argument("--port", type=int, required=True)
    sender.add_argument("file", type=Path)
    receiver = roles.add_parser("receive")
    receiver.add_argument("--port", type=int, required=True)
    receiver.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.role == server_role:
        asyncio.run(server())
    elif args.role == "send":
        asyncio.run(send(args.port, args.file))
    else:
        asyncio.run(receive(args.port, args.out))
