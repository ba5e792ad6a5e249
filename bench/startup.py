"""Start-up: a 1 KB send against magic-wormhole's, and the ``videonet`` command's own.

    python bench/startup.py [--runs 20] [--sends 7] [--compare-src BASE/src]

First, a 1 KB file sent and received with both ends started together, timed until both have
exited with the file verified (issue 26: at most 0.6x magic-wormhole's time): ``videonet send``
and ``videonet receive`` against a daemon that is already up (the users registered, in one room,
each end with its own data directory, keys published by one untimed send first), alternated with
``wormhole send``/``receive`` with a fixed code through its own mailbox and transit relay on
loopback (bench/_wormhole.py). Where VideoNet's time goes is read from the ends' JSON events as
they arrive (joined, offer, uploaded, result), beside the time to import the send path alone.

Then ``videonet --version`` (the entry point next to this interpreter) and ``python -c pass``
alternately: the median wall time of each, the difference and the ratio (target: the difference
under 0.3 s), and the modules that cost most to import, from ``-X importtime``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import _startup_send
from _common import print_table, ratio, src_dir

DEFAULT_RUNS = 20
TARGET_DIFFERENCE = 0.3
TOP_IMPORTS = 10
RUN_TIMEOUT = 30.0
IMPORT_UNDER_TEST = "videonet_cli.main"


def entry_point(name: str) -> Path:
    """The console script installed beside ``sys.executable`` (the venv's, not one on PATH)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{path} not found: install the package in this environment first")
    return path


def wall_time(argv: Sequence[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, timeout=RUN_TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip().splitlines()
        raise SystemExit(
            f"{' '.join(argv)} exited {done.returncode}: {stderr[-1] if stderr else ''}"
        )
    return elapsed


def import_times(module: str) -> list[tuple[str, int, int]]:
    """(module, self µs, cumulative µs) for every import, from ``python -X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:]
        raise SystemExit(f"import {module} failed: {last[0] if last else done.returncode}")
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append((name.strip(), int(self_us), int(cumulative_us)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="runs of each command")
    parser.add_argument(
        "--sends", type=int, default=_startup_send.DEFAULT_SENDS, help="1 KB sends (0: none)"
    )
    parser.add_argument("--compare-src", type=src_dir, help="also time another checkout's send")
    args = parser.parse_args(argv)
    if args.sends:
        _startup_send.report(args.sends, args.compare_src)
        print()

    videonet = [str(entry_point("videonet")), "--version"]
    bare = [sys.executable, "-c", "pass"]
    # One untimed run of each fills the page cache and the bytecode cache.
    wall_time(videonet)
    wall_time(bare)
    times: dict[str, list[float]] = {"videonet --version": [], "python -c pass": []}
    for _ in range(args.runs):
        times["videonet --version"].append(wall_time(videonet))
        times["python -c pass"].append(wall_time(bare))

    medians = {name: statistics.median(values) for name, values in times.items()}
    print_table(
        ["command", "median s", "min s", "max s"],
        [
            [name, f"{medians[name]:.3f}", f"{min(values):.3f}", f"{max(values):.3f}"]
            for name, values in times.items()
        ],
    )
    difference = medians["videonet --version"] - medians["python -c pass"]
    verdict = "under" if difference < TARGET_DIFFERENCE else "OVER"
    print(
        f"\ndifference {difference:.3f} s ({verdict} the {TARGET_DIFFERENCE} s target), "
        f"ratio {ratio(medians['videonet --version'], medians['python -c pass'])}, "
        f"{args.runs} runs each, {sys.executable}"
    )

    rows = sorted(import_times(IMPORT_UNDER_TEST), key=lambda row: row[2], reverse=True)
    print(f"\nslowest imports of {IMPORT_UNDER_TEST} (cumulative, -X importtime, one run):")
    print_table(
        ["module", "cumulative ms", "self ms"],
        [[name, f"{cum / 1000:.1f}", f"{own / 1000:.1f}"] for name, own, cum in rows[:TOP_IMPORTS]],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
