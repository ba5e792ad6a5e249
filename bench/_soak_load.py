"""The steady load of bench/soak.py, and what it records for the end-of-run checks.

- `ChatLoad`: Socket.IO clients (one per chat user, several rooms each) that send numbered
  lines with acks and follow every room; after a lost connection they come back and join with
  `since` (the daemon replays the gap). A churn user is taken out of a room over HTTP now and
  then (it must hear `room:removed`) and joins again; calls are joined and left; one account
  logs in and out over HTTP.
- `TransferLane`: one thread per lane running the real `videonet send` / `videonet receive`
  (so the harness follows the CLI, not the wire protocol): single files, a directory batch,
  a sender whose network drops (through `DropProxy`), and a one-off-code pair with a wrong code
  (the sender aborts: exit 8 on both sides). An interrupted transfer is sent again (resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
PASSWORD = "soak-password-123"
CALL_TIMEOUT = 10.0
CLI_TIMEOUT = 240.0
MAX_ATTEMPTS = 8
RETRY_PAUSE = 3.0


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            payload, status = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        payload, status = exc.read(), exc.code
    except OSError:
        return 0, None
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, None


@dataclass
class Account:
    name: str
    email: str
    token: str
    user_id: int
    home: Path

    def env(self, server: str, cert: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEONET_")}
        env.update(
            VIDEONET_SERVER=server,
            VIDEONET_CONFIG_DIR=str(self.home / "config"),
            VIDEONET_DATA_DIR=str(self.home / "data"),
            VIDEONET_TOKEN=self.token,
            VIDEONET_TRUST_NEW="1",  # the load's members are new to each other: no one to ask
            SSL_CERT_FILE=str(cert),
        )
        return env


def make_account(url: str, invite: str, name: str, workdir: Path) -> Account:
    email = f"{name}@soak.test"
    body = {"email": email, "username": name, "password": PASSWORD, "invite_code": invite}
    status, reply = http("POST", url + "/api/auth/register", body)
    if status != 201:
        raise RuntimeError(f"register {name}: {status} {reply}")
    status, reply = http("POST", url + "/api/auth/login", {"email": email, "password": PASSWORD})
    if status != 200:
        raise RuntimeError(f"login {name}: {status} {reply}")
    home = workdir / "users" / name
    (home / "config").mkdir(parents=True)
    return Account(name, email, reply["token"], reply["user"]["id"], home)


# --- chat -----------------------------------------------------------------------------------


@dataclass
class ChatRecord:
    acked: list[dict[str, Any]] = field(default_factory=list)  # {room, id, text, sender}
    unacked: int = 0
    received: dict[str, dict[str, set[int]]] = field(default_factory=dict)  # user -> room -> ids
    first_seen: dict[str, dict[str, int]] = field(default_factory=dict)  # user -> room -> floor
    reconnects: int = 0
    truncated: int = 0
    removals: int = 0
    removals_heard: int = 0
    calls: int = 0
    call_failures: int = 0
    logins: int = 0
    login_failures: int = 0
    session_breaches: list[str] = field(default_factory=list)


class ChatLoad:
    """Chat users in their rooms on one asyncio loop in a thread of its own."""

    def __init__(
        self, url: str, members: dict[str, list[str]], accounts: dict[str, Account],
        churn: Account, churn_room: str, rng: random.Random,
    ) -> None:  # fmt: skip
        self.url = url
        self.members = members  # user -> rooms
        self.accounts = accounts
        self.churn = churn
        self.churn_room = churn_room
        self.rng = rng
        self.record = ChatRecord()
        self.stopping = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, settle: float) -> None:
        """Stop sending, let followers catch up for `settle` seconds, then close."""
        self.stopping.set()
        time.sleep(settle)
        self._closing = True
        self._thread.join(60)

    _closing = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        tasks = [self._user(name, rooms) for name, rooms in self.members.items()]
        tasks.append(self._churn())
        tasks.append(self._logins())
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    async def _connect(self, account: Account) -> Any:
        import socketio

        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(
            self.url, auth={"token": account.token}, socketio_path="/socket.io",
            transports=["websocket"], wait_timeout=10,
        )  # fmt: skip
        return sio

    async def _user(self, name: str, rooms: list[str]) -> None:
        account = self.accounts[name]
        received = self.record.received.setdefault(name, {r: set() for r in rooms})
        floors = self.record.first_seen.setdefault(name, {})
        last: dict[str, int] = {}
        seq = 0
        while not self._closing:
            try:
                sio = await self._connect(account)
            except Exception:
                await asyncio.sleep(1 + self.rng.random())
                continue
            gone = asyncio.Event()

            @sio.on("chat:message")  # type: ignore[misc]
            async def on_message(msg: dict[str, Any]) -> None:
                room = msg.get("room_id")
                if room in received:
                    received[room].add(int(msg["id"]))
                    last[room] = max(last.get(room, 0), int(msg["id"]))

            sio.on("disconnect", _setter(gone))

            try:
                for room in rooms:
                    ack = await sio.call(
                        "room:join", {"room_id": room, "since": last.get(room, 0)},
                        timeout=CALL_TIMEOUT,
                    )  # fmt: skip
                    if not ack.get("ok"):
                        raise ConnectionError(str(ack))
                    if ack.get("truncated"):
                        self.record.truncated += 1
                    # The first join is with since=0: every message of the room must arrive.
                    floors.setdefault(room, 0)
                while not gone.is_set() and not self._closing:
                    if self.stopping.is_set():
                        await asyncio.sleep(0.5)
                        continue
                    await asyncio.sleep(0.6 + self.rng.random())
                    room = self.rng.choice(rooms)
                    seq += 1
                    text = f"{name}:{seq}:{uuid.uuid4().hex[:8]}"
                    if self.rng.random() < 0.05:
                        await self._call_once(sio, room)
                    try:
                        ack = await sio.call(
                            "chat:send", {"room_id": room, "text": text}, timeout=CALL_TIMEOUT
                        )
                    except Exception:
                        self.record.unacked += 1
                        continue
                    if ack.get("ok"):
                        m = ack["message"]
                        self.record.acked.append(
                            {"room": room, "id": int(m["id"]), "text": text, "sender": name}
                        )
                    else:
                        self.record.unacked += 1
            except Exception:
                pass
            finally:
                with contextlib.suppress(Exception):
                    await sio.disconnect()
            if not self._closing:
                self.record.reconnects += 1
                await asyncio.sleep(0.5 + self.rng.random())

    async def _call_once(self, sio: Any, room: str) -> None:
        self.record.calls += 1
        try:
            ack = await sio.call("call:join", {"room_id": room}, timeout=CALL_TIMEOUT)
            await asyncio.sleep(0.3)
            if ack.get("ok"):
                await sio.call("call:leave", {"room_id": room}, timeout=CALL_TIMEOUT)
            else:
                self.record.call_failures += 1
        except Exception:
            self.record.call_failures += 1

    async def _churn(self) -> None:
        """A member taken out of a room over HTTP while connected: it must hear room:removed."""
        base = self.url
        account = self.churn
        while not self.stopping.is_set():
            await asyncio.sleep(15 + 10 * self.rng.random())
            try:
                sio = await self._connect(account)
            except Exception:
                continue
            removed = asyncio.Event()

            sio.on("room:removed", _setter(removed))

            try:
                join = f"{base}/api/rooms/{self.churn_room}/join"
                await asyncio.to_thread(http, "POST", join, {}, account.token)
                ack = await sio.call("room:join", {"room_id": self.churn_room}, timeout=10)
                if ack.get("ok"):
                    leave = f"{base}/api/rooms/{self.churn_room}/leave"
                    status, _ = await asyncio.to_thread(http, "POST", leave, {}, account.token)
                    if status == 200:
                        self.record.removals += 1
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(removed.wait(), 10)
                            self.record.removals_heard += 1
            except Exception:
                pass
            finally:
                with contextlib.suppress(Exception):
                    await sio.disconnect()

    async def _logins(self) -> None:
        """Log in, use the token, log out: the token must stop working at once."""
        account = self.churn
        while not self.stopping.is_set():
            await asyncio.sleep(5 + 5 * self.rng.random())
            body = {"email": account.email, "password": PASSWORD}
            status, reply = await asyncio.to_thread(
                http, "POST", self.url + "/api/auth/login", body
            )
            if status != 200:
                self.record.login_failures += 1
                continue
            self.record.logins += 1
            token = reply["token"]
            status, _ = await asyncio.to_thread(http, "GET", self.url + "/api/auth/me", None, token)
            if status != 200:
                self.record.login_failures += 1
            status, _ = await asyncio.to_thread(
                http, "POST", self.url + "/api/auth/logout", {}, token
            )
            if status != 200:
                self.record.login_failures += 1
                continue
            status, _ = await asyncio.to_thread(http, "GET", self.url + "/api/auth/me", None, token)
            if status == 200:
                self.record.session_breaches.append("a token still worked after its logout")


def _setter(event: asyncio.Event) -> Any:
    async def handler(*_: Any) -> None:
        event.set()

    return handler


# --- transfers ------------------------------------------------------------------------------


@dataclass
class Transfer:
    lane: str
    files: dict[str, str]  # relative name -> sha256
    receivers: list[str]
    transfer_ids: set[str] = field(default_factory=set)
    attempts: int = 0
    interruptions: int = 0
    sender_verified: bool = False
    sender_exit: int | None = None
    received: dict[str, dict[str, str | None]] = field(default_factory=dict)  # rx -> name -> sha
    expected_abort: bool = False
    receiver_exits: list[int] = field(default_factory=list)
    verdicts: set[str] = field(default_factory=set)  # receivers the sender heard verify


def sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def random_bytes_file(path: Path, size: int, rng: random.Random) -> str:
    h = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            block = rng.randbytes(min(left, 1 << 20))
            fh.write(block)
            h.update(block)
            left -= len(block)
    return h.hexdigest()


LIVE: set[subprocess.Popen[str]] = set()  # every CLI still running, for `kill_clis`


def kill_clis() -> None:
    """At the end (or on Ctrl-C): no CLI of the harness outlives it."""
    for proc in list(LIVE):
        if proc.poll() is None:
            proc.kill()
    LIVE.clear()


class Cli:
    def __init__(self, account: Account, server: str, cert: Path) -> None:
        self.account = account
        self.env = account.env(server, cert)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [str(BIN / "videonet"), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
        )  # fmt: skip
        LIVE.add(proc)
        return proc

    def run(
        self, *args: str, timeout: float = CLI_TIMEOUT
    ) -> tuple[int, list[dict[str, Any]], str]:
        proc = self.popen(*args)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return -9, _events(out), "timed out"
        return proc.returncode, _events(out), err


def _events(out: str) -> list[dict[str, Any]]:
    events = []
    for line in out.splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    return events


class TransferLane:
    """Transfers one after another in a room of their own, each to every receiver."""

    def __init__(
        self, name: str, kind: str, room: str, sender: Cli, receivers: dict[str, Cli],
        workdir: Path, rng: random.Random, stopping: threading.Event,
    ) -> None:  # fmt: skip
        self.name = name
        self.kind = kind  # single | batch | dropped | aborted
        self.room = room
        self.sender = sender
        self.receivers = receivers
        self.workdir = workdir / "lanes" / name
        self.workdir.mkdir(parents=True)
        self.rng = rng
        self.stopping = stopping
        self.done: list[Transfer] = []
        self.uploading = threading.Event()  # the dropped lane's sender is sending now
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            try:
                if self.kind == "aborted":
                    self.done.append(self._aborted(n))
                    pause = 40.0
                else:
                    self.done.append(self._one(n))
                    pause = 3.0
            except Exception as exc:  # the harness keeps going; the table says it
                print(f"[{self.name}] transfer {n}: harness error {exc!r}", flush=True)
                pause = 5.0
            self.stopping.wait(pause * (0.5 + self.rng.random()))

    def _make_files(self, n: int) -> tuple[Path, dict[str, str]]:
        base = self.workdir / f"src{n}"
        base.mkdir()
        if self.kind == "batch":
            tree = base / f"batch{n}"
            (tree / "sub").mkdir(parents=True)
            files = {}
            for i, rel in enumerate(("a.bin", "sub/b.bin", "c.bin")):
                size = self.rng.randint(100_000, 3 << 20) + i
                files[f"batch{n}/{rel}"] = random_bytes_file(tree / rel, size, self.rng)
            return tree, files
        size = self.rng.randint(2 << 20, 16 << 20)
        if self.kind == "dropped":
            size = self.rng.randint(24 << 20, 40 << 20)
        path = base / f"{self.name}-{n}.bin"
        return path, {path.name: random_bytes_file(path, size, self.rng)}

    def _receive_args(self, out: Path) -> list[str]:
        sender = self.sender.account.name
        return ["receive", self.room, "--out", str(out), "--count", "1", "--yes", "--json",
                "--from", sender, "--timeout", "120", "--no-progress"]  # fmt: skip

    def _log(self, n: int, role: str, code: int | None, out: str, err: str) -> None:
        """Every CLI's output is kept in the lane's directory (for a breach's post-mortem)."""
        path = self.workdir / "logs" / f"{n:03d}-{role}.txt"
        path.parent.mkdir(exist_ok=True)
        with path.open("a") as fh:
            fh.write(f"--- exit {code} at {time.strftime('%H:%M:%S')}\n{out}\n--- stderr\n{err}\n")

    def _budget(self) -> float:
        """Seconds a CLI may still take: bounded once the load stops (the run ends by itself)."""
        if self.finish_by is None:
            return CLI_TIMEOUT
        return max(5.0, min(CLI_TIMEOUT, self.finish_by - time.monotonic()))

    finish_by: float | None = None

    def _one(self, n: int) -> Transfer:
        source, files = self._make_files(n)
        t = Transfer(self.name, files, list(self.receivers))
        outs = {r: self.workdir / f"out{n}-{r}" for r in self.receivers}
        running: dict[str, subprocess.Popen[str]] = {}
        finished: set[str] = set()
        send_args = ["send", self.room, str(source), "--json", "--timeout", "90",
                     "--no-progress"]  # fmt: skip
        if self.kind == "dropped":
            send_args += ["--limit-rate", "4M"]

        reaped: set[int] = set()

        def reap(r: str, proc: subprocess.Popen[str], wait: float) -> None:
            if proc.pid in reaped:
                return
            reaped.add(proc.pid)
            try:
                out, err = proc.communicate(timeout=wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            t.receiver_exits.append(proc.returncode)
            self._log(n, f"receive-{r}", proc.returncode, out, err)
            if proc.returncode == 0:
                finished.add(r)

        while t.attempts < MAX_ATTEMPTS and self._budget() > 5:
            for r, cli in self.receivers.items():
                proc = running.get(r)
                if proc is not None and proc.poll() is not None:
                    reap(r, proc, 1)  # it ended (the upload it read was cut): start it again
                if r in finished or (proc is not None and proc.poll() is None):
                    continue
                outs[r].mkdir(exist_ok=True)
                running[r] = cli.popen(*self._receive_args(outs[r]))
            if len(finished) == len(self.receivers):
                break  # every receiver has it whole; the sender only missed the verdicts
            time.sleep(1.5)  # listening before the offer (a later receiver still finds it)
            t.attempts += 1
            self.uploading.set()
            code, events, err = self._send(send_args, running, reap, outs)
            self.uploading.clear()
            self._log(n, "send", code, json.dumps(events), err)
            t.transfer_ids |= {str(e["transfer_id"]) for e in events if e.get("transfer_id")}
            t.sender_exit = code
            for e in events:
                if e.get("event") == "result":
                    t.verdicts |= {v["username"] for v in e.get("receivers", []) if v.get("ok")}
            if code == 0:
                t.sender_verified = True
                break
            t.interruptions += 1
            time.sleep(RETRY_PAUSE)
        for r, proc in running.items():
            reap(r, proc, self._budget() if t.sender_verified else 10)
        # A receiver that failed (an outage) while the others verified takes the transfer now,
        # resuming its part file; otherwise it would take this one in place of the next.
        for _ in range(3):
            late = [r for r in self.receivers if r not in finished]
            if not t.sender_verified or not late or self._budget() <= 5:
                break
            for r in late:
                reap(r, self.receivers[r].popen(*self._receive_args(outs[r])), self._budget())
            time.sleep(RETRY_PAUSE)
        for r in self.receivers:
            t.received[r] = {name: sha256(outs[r] / name) for name in files}
        shutil.rmtree(source.parent, ignore_errors=True)
        if t.sender_verified and all(
            t.received[r][name] == sha for r in self.receivers for name, sha in files.items()
        ):
            for r in self.receivers:
                shutil.rmtree(outs[r], ignore_errors=True)
        return t

    def _send(
        self, args: list[str], running: dict[str, subprocess.Popen[str]], reap: Any,
        outs: dict[str, Path],
    ) -> tuple[int, list[dict[str, Any]], str]:  # fmt: skip
        """Run the sender; a receiver that fails meanwhile (an outage) is started again, as a
        user runs `receive` again, so the sender's wait for verdicts is not spent for nothing."""
        proc = self.sender.popen(*args)
        deadline = time.monotonic() + self._budget()
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(1.0)
            for r, rx in list(running.items()):
                if rx.poll() is not None and rx.returncode != 0:
                    reap(r, rx, 1)
                    running[r] = self.receivers[r].popen(*self._receive_args(outs[r]))
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
        return proc.returncode, _events(out), err

    def _aborted(self, n: int) -> Transfer:
        """A one-off code mistyped by the receiver: both sides exit 8, the transfer is aborted."""
        source, files = self._make_files(n)
        t = Transfer(self.name, files, list(self.receivers), expected_abort=True)
        nameplate = self.rng.randint(1, 999)
        right, wrong = f"{nameplate}-apple-bagel", f"{nameplate}-apple-banjo"
        sender = self.sender.popen("send", self.room, str(source), "--code", right, "--json",
                                   "--timeout", "60", "--no-progress")  # fmt: skip
        time.sleep(3)
        (receiver,) = self.receivers.values()
        out = self.workdir / f"out{n}"
        out.mkdir()
        code, _, _ = receiver.run("receive", self.room, "--code", wrong, "--out", str(out),
                                  "--json", "--yes", "--no-progress", timeout=90)  # fmt: skip
        t.receiver_exits.append(code)
        try:
            out_s, _ = sender.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            sender.kill()
            out_s, _ = sender.communicate()
        t.sender_exit = sender.returncode
        self._log(n, "send-code", sender.returncode, out_s, "")
        t.attempts = 1
        t.transfer_ids |= {str(e["transfer_id"]) for e in _events(out_s) if e.get("transfer_id")}
        shutil.rmtree(source.parent, ignore_errors=True)
        return t
