"""Finding one room by name: the daemon's lookup against downloading every room, in one run.

    python bench/rooms_lookup.py [--rooms 5000] [--runs 20]

Starts a daemon (SQLite, temporary data dir) on a free port, creates ``--rooms`` rooms, then times
``GET /api/rooms/lookup?ref=NAME`` (what every command that takes a room name does now) against
fetching every page of ``GET /api/rooms`` and matching the name on the client (what the commands
did before), and prints the median time and bytes of each and their ratio; and the time of a
miss, which reads every visible name to suggest close ones.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from _common import human_bytes, print_table, ratio

PASSWORD = "bench password 1"


def call(url: str, method: str = "GET", body: Any = None, token: str = "") -> tuple[Any, int]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        raw = resp.read()
    return json.loads(raw), len(raw)


def start(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    daemon = Path(sys.executable).parent / "videonet-daemon"
    proc = subprocess.Popen(
        [str(daemon), "serve", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={"VIDEONET_BCRYPT_ROUNDS": "4", "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on " in line:
            return proc, line.split("listening on ", 1)[1].strip()
    raise SystemExit("the daemon did not start")


def median_of(runs: int, fn: Any) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        size = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(Path(tmp) / "data")
        try:
            invite = (Path(tmp) / "data" / "bootstrap-invite").read_text().strip()
            user = {"email": "b@example.test", "username": "bench", "password": PASSWORD}
            call(url + "/api/auth/register", "POST", {**user, "invite_code": invite})
            token = call(url + "/api/auth/login", "POST", user)[0]["token"]
            names = [f"room {i:05d}" for i in range(args.rooms)]
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda n: call(url + "/api/rooms/create", "POST", {"name": n},
                                             token), names))  # fmt: skip
            wanted = names[len(names) // 2]

            def lookup() -> int:
                ref = urllib.parse.quote(wanted)
                room, size = call(f"{url}/api/rooms/lookup?ref={ref}", token=token)
                assert room["name"] == wanted
                return size

            def miss() -> int:
                ref = urllib.parse.quote(wanted + "x")
                try:
                    call(f"{url}/api/rooms/lookup?ref={ref}", token=token)
                except urllib.error.HTTPError as exc:
                    body = exc.read()
                    assert b"did you mean" in body
                    return len(body)
                raise AssertionError("a missing name was found")

            def every_page() -> int:
                total, cursor, found = 0, "", None
                while True:
                    page, size = call(f"{url}/api/rooms?limit=500{cursor}", token=token)
                    total += size
                    found = found or next((r for r in page["rooms"] if r["name"] == wanted), None)
                    if page["next_cursor"] is None:
                        break
                    cursor = f"&cursor={page['next_cursor']}"
                assert found is not None
                return total

            lookup_s, lookup_bytes = median_of(args.runs, lookup)
            miss_s, miss_bytes = median_of(args.runs, miss)
            list_s, list_bytes = median_of(max(3, args.runs // 4), every_page)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    print(f"{args.rooms} rooms, one looked up by name (median)")
    print_table(
        ["way", "time", "bytes"],
        [
            ["lookup endpoint", f"{lookup_s * 1000:.1f} ms", human_bytes(lookup_bytes)],
            ["lookup, a miss (did you mean)", f"{miss_s * 1000:.1f} ms", human_bytes(miss_bytes)],
            ["every page, match here", f"{list_s * 1000:.1f} ms", human_bytes(list_bytes)],
            [
                "ratio (every page / lookup)",
                ratio(list_s, lookup_s),
                ratio(list_bytes, lookup_bytes),
            ],
        ],
    )


if __name__ == "__main__":
    main()
