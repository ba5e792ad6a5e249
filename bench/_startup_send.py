"""A 1 KB send with both ends started together: VideoNet against magic-wormhole (bench/startup.py).

VideoNet's daemon is started once per checkout and stays up (its start-up is not a send's); two
users are registered and joined to one room, and each end keeps its own data and config
directories (two machines), warmed by one untimed send that publishes the device keys and pins
the identities, as for a user's second send. Each timed run starts ``videonet receive`` and
``videonet send`` at the same instant and ends when both have exited with the file verified (the
sender exits 0 only with the receiver's authenticated verdict; the received file's SHA-256 is
checked after the clock stops). magic-wormhole's runs are alternated with VideoNet's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import _wormhole
from _common import BenchError, Child, print_table, ratio
from transfer import BENCH_PASSWORD, BIN, _http_json, _wait_text

DEFAULT_SENDS = 7
SIZE = 1000
TIMEOUT = 120.0
IMPORT_RUNS = 5
# What `videonet send` imports before its first round trip, as the entry point does it.
# What the process does before the send path (a checkout from before session 15 readied
# aiohttp's and python-socketio's imports; one after imports neither).
SEND_IMPORTS = (
    "import videonet_cli.main as m; "
    "f = getattr(m, '_prepare_imports', None) or getattr(m, '_skip_unused_optional_modules', "
    "None); f and f(); "
    "import videonet_cli.commands.transfer, videonet_cli.transfer.sender"
)
# (label, role, event): each end's JSON events, in order, as the bench saw them arrive.
MARKS = (
    ("sender joined the room", "sender", "joined"),
    ("sender offered", "sender", "offer"),
    ("sender sealed the upload", "sender", "uploaded"),
    ("receiver listening", "receiver", "listening"),
    ("receiver's result", "receiver", "result"),
    ("sender's result", "sender", "result"),
)


@dataclass
class Send:
    seconds: float
    ok: bool
    marks: dict[str, float]  # label -> seconds from the start
    exits: dict[str, float]  # role -> seconds from the start
    cpu: dict[str, tuple[float, float]]


class VideonetSetup:
    """A daemon with two users in one room, and one data directory per end."""

    def __init__(self, workdir: Path, pythonpath: Path | None) -> None:
        self.workdir = workdir
        self.env = installed_env(pythonpath)
        self.env["VIDEONET_BCRYPT_ROUNDS"] = "4"
        data = workdir / "daemon"
        data.mkdir()
        self.daemon = Child.start(
            "relay",
            [str(BIN / "videonet-daemon"), "serve", "--port", "0", "--data-dir", str(data)],
            workdir,
            env=self.env,
        )
        deadline = time.monotonic() + TIMEOUT
        text = _wait_text(self.daemon, "listening on ", deadline)
        self.url = text.split("listening on ", 1)[1].strip()
        invite = (data / "bootstrap-invite").read_text().strip()
        self.tokens: dict[str, str] = {}
        for role in ("sender", "receiver"):
            email = f"{role}@bench.test"
            registered = _http_json(
                self.url + "/api/auth/register",
                {"email": email, "username": role, "password": BENCH_PASSWORD,
                 "invite_code": invite},
            )  # fmt: skip
            invite = registered["invite_code"]
            login = _http_json(
                self.url + "/api/auth/login", {"email": email, "password": BENCH_PASSWORD}
            )
            self.tokens[role] = login["token"]
        self.room = _http_json(
            self.url + "/api/rooms/create", {"name": "bench"}, self.tokens["sender"]
        )["id"]
        _http_json(self.url + f"/api/rooms/{self.room}/join", {}, self.tokens["receiver"])

    def role_env(self, role: str) -> dict[str, str]:
        home = self.workdir / role
        return {
            **self.env,
            "VIDEONET_SERVER": self.url,
            "VIDEONET_TOKEN": self.tokens[role],
            "VIDEONET_TRUST_NEW": "1",
            "VIDEONET_DATA_DIR": str(home / "data"),
            "VIDEONET_CONFIG_DIR": str(home / "config"),
        }

    def send(self, path: Path, digest: str, together: bool = True) -> Send:
        out = Path(tempfile.mkdtemp(prefix="out-", dir=self.workdir))
        logs = Path(tempfile.mkdtemp(prefix="logs-", dir=self.workdir))
        deadline = time.monotonic() + TIMEOUT
        children: list[Child] = []
        try:
            started = time.perf_counter()
            receiver = Child.start(
                "receiver",
                [str(BIN / "videonet"), "receive", self.room, "--out", str(out), "--yes",
                 "--json", "--no-progress", "--timeout", "60"],
                logs,
                env=self.role_env("receiver"),
            )  # fmt: skip
            children.append(receiver)
            if not together:  # the first send: the receiver's device key published before
                receiver.wait_event("listening", deadline)
            sender = Child.start(
                "sender",
                [str(BIN / "videonet"), "send", self.room, str(path), "--json", "--no-progress",
                 "--timeout", "60"],
                logs,
                env=self.role_env("sender"),
            )  # fmt: skip
            children.append(sender)
            for child in (sender, receiver):
                if child.wait_exit(deadline) != 0:
                    raise BenchError(f"videonet: {child.role} failed {child.tail()}")
            ended = max(c.ended or 0.0 for c in children)
            got = out / path.name
            ok = got.is_file() and hashlib.sha256(got.read_bytes()).hexdigest() == digest
            by_role = {c.role: c for c in children}
            marks = {}
            for label, role, name in MARKS:
                for event in by_role[role].events:
                    if event.get("event") == name:
                        marks[label] = float(event["_at"]) - started
                        break
            return Send(
                seconds=ended - started,
                ok=ok,
                marks=marks,
                exits={c.role: (c.ended or 0.0) - started for c in children},
                cpu={c.role: c.cpu_seconds for c in children},
            )
        finally:
            for child in children:
                child.kill()
            shutil.rmtree(out, ignore_errors=True)

    def close(self) -> None:
        self.daemon.stop()


@contextmanager
def videonet_setup(workdir: Path, pythonpath: Path | None) -> Iterator[VideonetSetup]:
    setup = VideonetSetup(workdir, pythonpath)
    try:
        yield setup
    finally:
        setup.close()
        setup.daemon.kill()


def installed_env(pythonpath: Path | None) -> dict[str, str]:
    """The environment of an installed ``videonet``: bytecode cached (pip compiles it at install;
    with PYTHONDONTWRITEBYTECODE a checkout's modules are compiled again by every process, about
    0.1 s of CPU each here), no VIDEONET_ settings of the caller's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VIDEONET_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath.resolve())
    return env


def import_seconds(pythonpath: Path | None) -> float:
    """Median wall time of importing the send path, less ``python -c pass``'s."""
    env = installed_env(pythonpath)

    def timed(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=TIMEOUT)
        return time.perf_counter() - started

    timed(SEND_IMPORTS)
    imports, bare = [], []
    for _ in range(IMPORT_RUNS):
        imports.append(timed(SEND_IMPORTS))
        bare.append(timed("pass"))
    return statistics.median(imports) - statistics.median(bare)


def report(sends: int, compare_src: Path | None) -> None:
    """Print the table: VideoNet's and magic-wormhole's 1 KB sends, and where the time goes."""
    bin_dir = _wormhole.ensure_venv(_wormhole.DEFAULT_VENV)
    workdir = Path(tempfile.mkdtemp(prefix="videonet-startup-"))
    try:
        path = workdir / f"small-{uuid.uuid4().hex[:8]}.bin"
        data = os.urandom(SIZE)
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        sources: dict[str, Path | None] = {"videonet": None}
        if compare_src is not None:
            sources["videonet-base"] = compare_src
        runs: dict[str, list[Send]] = {name: [] for name in sources}
        runs["wormhole"] = []
        with ExitStack() as stack:
            setups = {}
            for name, src in sources.items():
                home = workdir / name
                home.mkdir()
                setups[name] = stack.enter_context(videonet_setup(home, src))
                setups[name].send(path, digest, together=False)  # keys published, identities pinned
            for _ in range(sends):
                for name, setup in setups.items():
                    runs[name].append(setup.send(path, digest))
                worm = _wormhole.measure(bin_dir, path, workdir, TIMEOUT, together=True)
                runs["wormhole"].append(
                    Send(worm.seconds, worm.receiver_sha256 == digest, {}, {}, worm.cpu)
                )
        imports = {name: import_seconds(src) for name, src in sources.items()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    load = os.getloadavg()
    print(
        f"1 KB send, both ends started together, {sends} runs each, alternated "
        f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )
    medians = {name: statistics.median(r.seconds for r in rs) for name, rs in runs.items()}
    rows = []
    for name, rs in runs.items():
        times = [r.seconds for r in rs]
        cpu = statistics.median(sum(u + s for u, s in r.cpu.values()) for r in rs)
        rows.append(
            [
                name,
                f"{medians[name]:.3f}",
                f"{min(times):.3f}-{max(times):.3f}",
                f"{cpu:.2f}",
                "ok" if all(r.ok for r in rs) else "MISMATCH",
                ratio(medians[name], medians["wormhole"]) if name != "wormhole" else "",
            ]
        )
    print_table(["row", "median s", "range", "CPU s (ends)", "sha256", "/ wormhole"], rows)
    for name in sources:
        print(f"\nwhere {name}'s time goes (median seconds from the start of both ends):")
        marks = [
            [label, f"{statistics.median(r.marks[label] for r in runs[name]):.3f}"]
            for label, _, _ in MARKS
            if all(label in r.marks for r in runs[name])
        ]
        for role in ("receiver", "sender"):
            exited = statistics.median(r.exits[role] for r in runs[name])
            marks.append([f"{role} exited", f"{exited:.3f}"])
        marks.sort(key=lambda row: float(row[1]))
        marks.insert(0, ["importing the send path alone (separate runs)", f"{imports[name]:.3f}"])
        print_table(["mark", "s"], marks)
