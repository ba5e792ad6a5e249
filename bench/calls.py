"""Calls as a mesh against calls through Janus (an SFU), with 2, 4 and 6 participants.

Each participant is a real `videonet call --play CLIP` process (aiortc) sending a generated
320x240 15 fps clip with a tone. For every (mode, N) the bench measures, per participant:

* upload: bytes per second its peer connections send (transport bytes, from the CLI's own stats
  events: `uplink.bytes_sent`), over a steady window once everyone receives everyone;
* CPU: % of one core the participant's process used over that window (/proc/PID/stat);
* time to media: seconds from its `joined` until it receives from every other participant;
* video streams it sends (one per peer in a mesh, one with the SFU);

and the CPU of the daemon and of Janus over the same window.

Everything runs inside a network namespace the bench makes (tests/netns.py: a veth pair with
both ends inside and private addresses), with Janus started from a written configuration
(tests/janus_server.py). Needs root, `ip netns`, Debian's janus. Bounded: each run lasts about
`--window` + 20 seconds, and stops by itself.

    .venv/bin/python bench/calls.py [--sizes 2,4,6] [--window 10] [--modes mesh,sfu]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from _common import print_table  # noqa: E402

BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


@dataclass
class Participant:
    name: str
    proc: subprocess.Popen[str]
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    joined_at: float | None = None

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            now = time.monotonic()
            if event.get("event") == "joined":
                self.joined_at = now
            self.events.append((now, event))

    def full_at(self, others: int) -> float | None:
        for at, event in self.events:
            if event.get("event") != "stats":
                continue
            if sum(p["bytes_received"] > 5_000 for p in event["peers"]) >= others:
                return at
        return None

    def uplink_at(self, since: float) -> tuple[float, int, int] | None:
        """(when, bytes sent, video streams) of the first stats event at or after ``since``."""
        for at, event in self.events:
            if at >= since and event.get("event") == "stats" and "uplink" in event:
                up = event["uplink"]
                return at, int(up["bytes_sent"]), int(up["video_streams"])
        return None


def run_call(
    daemon: Any, users: list[Any], room: str, clip: Path, window: float, extra: list[int]
) -> dict[str, Any]:
    from conftest import Cli

    people: list[Participant] = []
    for user in users:
        cli = Cli(daemon.url, user.config_dir, user.token)
        proc = subprocess.Popen(
            [str(BIN / "videonet"), "call", room, "--play", str(clip), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=cli.env(),
        )
        person = Participant(user.username, proc)
        threading.Thread(target=person.read, daemon=True).start()
        people.append(person)
    n = len(people)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if all(p.full_at(n - 1) is not None for p in people):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"not everyone received everyone within 90 s ({n} participants)")
        start = time.monotonic() + 2.0  # let the encoders settle
        time.sleep(2.0)
        cpu0 = {p.name: cpu_seconds(p.proc.pid) for p in people}
        cpu_extra0 = [cpu_seconds(pid) for pid in extra]
        t0 = time.monotonic()
        time.sleep(window)
        t1 = time.monotonic()
        cpu1 = {p.name: cpu_seconds(p.proc.pid) for p in people}
        cpu_extra1 = [cpu_seconds(pid) for pid in extra]
        time.sleep(1.5)  # one more stats event after the window
        rows = []
        for p in people:
            first = p.uplink_at(start)
            last = p.uplink_at(t1)
            assert first is not None and last is not None
            upload = (last[1] - first[1]) / max(last[0] - first[0], 1e-3)
            full = p.full_at(n - 1)
            assert full is not None and p.joined_at is not None
            rows.append(
                {
                    "upload_kbps": upload * 8 / 1000,
                    "cpu_pct": 100 * (cpu1[p.name] - cpu0[p.name]) / (t1 - t0),
                    "to_media_s": full - p.joined_at,
                    "video_streams": last[2],
                }
            )
        extra_cpu = [100 * (b - a) / (t1 - t0) for a, b in zip(cpu_extra0, cpu_extra1, strict=True)]
    finally:
        for p in people:
            if p.proc.poll() is None:
                p.proc.send_signal(signal.SIGTERM)
        for p in people:
            try:
                p.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.proc.kill()
    return {"rows": rows, "extra_cpu": extra_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2,4,6")
    parser.add_argument("--modes", default="mesh,sfu")
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")

    import janus_server
    import netns
    from calls_helpers import make_clip

    from conftest import http, start_daemon

    reason = netns.unavailable() or (janus_server.unavailable() if "sfu" in modes else None)
    if reason:
        sys.exit(f"calls bench: {reason}")
    results: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="vn-bench-calls-") as tmp, netns.namespace() as ns:
        root = Path(tmp)
        clip = make_clip(root / "clip.mp4", 90.0, 320, 240, fps=15)
        janus = janus_server.start_janus(root / "janus", ns.address) if "sfu" in modes else None
        try:
            for mode in modes:
                env = janus.daemon_env() if mode == "sfu" and janus is not None else {}
                daemon = start_daemon(root / f"data-{mode}", **env)
                try:
                    extra = [daemon.proc.pid] + (
                        [janus.proc.pid] if mode == "sfu" and janus and janus.proc else []
                    )
                    for n in sizes:
                        users = [daemon.make_user(root / mode) for _ in range(n)]
                        status, room, _ = http(
                            "POST",
                            daemon.api("/api/rooms/create"),
                            {"name": f"bench-{mode}-{n}"},
                            token=users[0].token,
                        )
                        assert status == 201, room
                        for user in users[1:]:
                            http(
                                "POST",
                                daemon.api(f"/api/rooms/{room['id']}/join"),
                                {},
                                token=user.token,
                            )
                        print(f"{mode}, {n} participants ...", file=sys.stderr, flush=True)
                        got = run_call(daemon, users, room["id"], clip, args.window, extra)
                        rows = got["rows"]
                        results.append(
                            [
                                mode,
                                n,
                                f"{statistics.median(r['upload_kbps'] for r in rows):.0f}",
                                f"{max(r['upload_kbps'] for r in rows):.0f}",
                                f"{statistics.median(r['cpu_pct'] for r in rows):.0f}",
                                f"{statistics.median(r['to_media_s'] for r in rows):.1f}",
                                "/".join(sorted({str(r["video_streams"]) for r in rows})),
                                f"{got['extra_cpu'][0]:.1f}",
                                f"{got['extra_cpu'][1]:.1f}" if len(got["extra_cpu"]) > 1 else "-",
                            ]
                        )
                finally:
                    daemon.stop()
        finally:
            if janus is not None:
                janus.stop()
    print_table(
        [
            "mode",
            "N",
            "upload kbit/s (median)",
            "upload max",
            "CPU % of a core per participant (median)",
            "s to receive all (median)",
            "video streams sent",
            "daemon CPU %",
            "Janus CPU %",
        ],
        results,
    )
    base = {row[0]: float(str(row[2])) for row in results if row[1] == min(sizes)}
    for row in results:
        mode = str(row[0])
        if mode in base and base[mode] > 0:
            times = float(str(row[2])) / base[mode]
            print(f"{mode} N={row[1]}: upload {times:.2f}x its N={min(sizes)} call")


if __name__ == "__main__":
    main()
