"""How a receiver could write a file: through the page cache (dropped behind) or with O_DIRECT.

    python bench/receiver_writes.py [--size 512MB] [--rounds 3] [--dir DIR]

Writes ``--size`` bytes in 1 MiB records from page-aligned buffers into a file in ``--dir``
(default: the system temp, which is where received files usually land: the same disk), the way
the receiver writes decrypted records, and prints each way's wall time and the process's user
and system CPU seconds, rounds alternated:

  page-cache   os.write + ReleaseBehind (POSIX_FADV_DONTNEED behind the writer): the way the
               receiver writes (transfer/receiver.py)
  o-direct     the file opened with O_DIRECT, each record written straight to the disk

Each run ends with fsync, as a receive does before the rename, so both ways pay for the disk.
O_DIRECT costs a fraction of the CPU here but makes each write wait for the disk; in whole
transfers it was slower (docs/performance.md, issue 13 phase 3), so the receiver does not use it.
"""

from __future__ import annotations

import argparse
import fcntl
import mmap
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import MiB, parse_size, print_table, ratio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from videonet_cli.transfer.files import ReleaseBehind

DEFAULT_SIZE = "512MB"
DEFAULT_ROUNDS = 3


def page_cache(fd: int, records: list[mmap.mmap], count: int) -> None:
    release = ReleaseBehind(fd, 0)
    for i in range(count):
        view = memoryview(records[i % len(records)])
        while view:
            view = view[os.write(fd, view) :]
        release.written_to((i + 1) * MiB)


def o_direct(fd: int, records: list[mmap.mmap], count: int) -> None:
    # The records are page-aligned mappings of 1 MiB: what O_DIRECT asks of buffer and offset.
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
    for i in range(count):
        view = memoryview(records[i % len(records)])
        while view:
            view = view[os.pwrite(fd, view, i * MiB + MiB - len(view)) :]


def measure(
    path: Path, write: Callable[[int, list[mmap.mmap], int], None], count: int
) -> tuple[float, float, float]:
    records = []
    for n in range(2):
        record = mmap.mmap(-1, MiB)
        record.write(bytes([n]) * MiB)
        records.append(record)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    try:
        write(fd, records, count)
        os.fsync(fd)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    path.unlink()
    return seconds, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--size", default=DEFAULT_SIZE, help=f"bytes to write (default {DEFAULT_SIZE})"
    )
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="alternated rounds")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    count = max(1, parse_size(args.size) // MiB)
    path = args.dir / f"videonet-bench-writes-{os.getpid()}"
    ways = {"page-cache": page_cache, "o-direct": o_direct}
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, write in ways.items():
            results[name].append(measure(path, write, count))
    rows = []
    for name, runs in results.items():
        wall, user, system = sorted(runs)[(len(runs) - 1) // 2]
        rows.append(
            [
                name,
                f"{count} MiB",
                f"{wall:.2f}",
                f"{count * MiB / wall / 1e6:.0f}",
                f"{user:.2f}",
                f"{system:.2f}",
            ]
        )
    print_table(["way", "size", "wall s", "MB/s", "user s", "sys s"], rows)
    cpu = {name: sorted(runs)[(len(runs) - 1) // 2] for name, runs in results.items()}
    print(
        "CPU, page-cache / o-direct: "
        + ratio(sum(cpu["page-cache"][1:]), sum(cpu["o-direct"][1:]))
        + " (median run by wall time)"
    )


if __name__ == "__main__":
    main()
