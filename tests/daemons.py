"""The test helpers every test folder shares: the real daemon as a subprocess on port 0 with a
temporary data dir (`start_daemon`, `Daemon`), the real CLI (`Cli`), HTTP with the standard
library (`http`), and the test run's database (`database_args`, `postgres_admin`).

Fixtures are in conftest.py, which re-exports these names (`from conftest import …` still
works); new tests import them from here (`from daemons import …`: pyproject puts tests/ on the
path, so this works from any folder under tests/, as conftest would not once folders have
their own conftest.py).

Parallel runs (pytest-xdist, `make test`): every worker is a process of its own with its own
temporary directory (so its own data dirs), daemons on port 0, and its own PostgreSQL
databases, named after the worker and the data dir; the session's `daemon` is one per worker.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import signal
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

import pytest

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT = 30.0
TEST_PASSWORD = "correct horse battery"

# VIDEONET_TEST_DATABASE=postgresql runs every daemon of the suite on PostgreSQL, each with a
# database of its own; the server is VIDEONET_TEST_POSTGRES (default: the local one).
BACKEND = os.environ.get("VIDEONET_TEST_DATABASE", "sqlite")
# VIDEONET_TEST_SPOOL=s3 (see the `daemon` fixture): tests that edit the shared daemon's spool
# files skip then.
LOCAL_SPOOL = pytest.mark.skipif(
    os.environ.get("VIDEONET_TEST_SPOOL") == "s3",
    reason="edits a local spool file; the shared daemon spools in object storage",
)
POSTGRES = os.environ.get("VIDEONET_TEST_POSTGRES", "postgresql://127.0.0.1:5432")
# The pytest-xdist worker this process is ("gw0", "gw1", …), or "main" in a serial run.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def postgres_admin(sql: str) -> None:
    import asyncio

    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(f"{POSTGRES}/test", timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    # In a thread of its own: async tests call this from inside their running event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


def database_args(data_dir: Path) -> list[str]:
    """Extra `--database-url` for the PostgreSQL run: one database per data dir (so a restart
    with the same data dir finds the same database)."""
    if BACKEND != "postgresql":
        return []
    digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:20]
    name = f"vn_{WORKER}_{digest}"
    if name not in CREATED_DATABASES:
        postgres_admin(f"CREATE DATABASE {name}")
        CREATED_DATABASES.append(name)
    return ["--database-url", f"{POSTGRES}/{name}"]


# The databases this process made (dropped at the end of its session).
CREATED_DATABASES: list[str] = []


def http(
    method: str, url: str, body: Any = None, token: str | None = None, raw: bytes | None = None
) -> tuple[int, Any, dict[str, str]]:
    """One HTTP request with the standard library: (status, decoded JSON or None, headers)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            payload = resp.read()
            status, headers = resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        status, headers = exc.code, dict(exc.headers)
    try:
        decoded = json.loads(payload) if payload else None
    except ValueError:
        decoded = None
    return status, decoded, headers


@dataclass
class User:
    email: str
    username: str
    password: str
    token: str
    user_id: int
    config_dir: Path


@dataclass
class Daemon:
    url: str
    data_dir: Path
    proc: subprocess.Popen[str]
    stdout_lines: list[str] = field(default_factory=list)
    db_args: list[str] = field(default_factory=list)
    _shared_invite: str | None = None
    _invite_lock: threading.Lock = field(default_factory=threading.Lock)

    def api(self, path: str) -> str:
        return self.url + path

    def bootstrap_invite(self) -> str:
        return (self.data_dir / "bootstrap-invite").read_text().strip()

    def mint_invite(self, uses: int = 1, expires: str | None = None) -> str:
        """An operator invite from `videonet-daemon invite create` (offline, same database)."""
        cmd = [str(BIN / "videonet-daemon"), "invite", "create", "--uses", str(uses)]
        cmd += ["--data-dir", str(self.data_dir), *self.db_args]
        if expires:
            cmd += ["--expires", expires]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
        return out.stdout.strip()

    def shared_invite(self) -> str:
        """One many-use invite for tests that just need accounts.

        On a fresh daemon it comes from the REST API: an account of its own (never handed to a
        test) signs up with the bootstrap invite, logs in and asks for a 10,000-use invite: three
        requests.
        `mint_invite` starts a `videonet-daemon` process for it, 1.1 CPU-s of imports on these
        machines, once per daemon that makes users (docs/performance.md, "The suite"). A daemon
        whose bootstrap invite is gone (a restart on a used data dir, a second daemon on one
        database) mints offline as before."""
        with self._invite_lock:
            if self._shared_invite is None:
                self._shared_invite = self._invite_by_api() or self.mint_invite(uses=10_000)
            return self._shared_invite

    def _invite_by_api(self) -> str | None:
        path = self.data_dir / "bootstrap-invite"
        if not path.exists():
            return None
        name = f"inviter{uuid.uuid4().hex[:8]}"
        status, _ = self._register(name, path.read_text().strip())
        if status != 201:  # taken meanwhile (a test signing up with it): mint offline
            return None
        token = self._log_in(name)["token"]
        status, body, _ = http("POST", self.api("/api/invites"), {"uses": 10_000}, token=token)
        assert status == 201, body
        return str(body["code"])

    def _register(self, name: str, invite: str) -> tuple[int, Any]:
        status, body, _ = http(
            "POST",
            self.api("/api/auth/register"),
            {
                "email": f"{name}@example.test",
                "username": name,
                "password": TEST_PASSWORD,
                "invite_code": invite,
            },
        )
        return status, body

    def _log_in(self, name: str) -> Any:
        status, body, _ = http(
            "POST",
            self.api("/api/auth/login"),
            {"email": f"{name}@example.test", "password": TEST_PASSWORD},
        )
        assert status == 200, body
        return body

    def make_user(self, tmp_root: Path, name: str | None = None) -> User:
        """Register (HTTP) and log in; the CLI config dir for this user holds nothing yet."""
        name = name or f"u{uuid.uuid4().hex[:10]}"
        email = f"{name}@example.test"
        status, body = self._register(name, self.shared_invite())
        assert status == 201, body
        body = self._log_in(name)
        config = tmp_root / f"cfg-{name}"
        config.mkdir(parents=True)
        return User(email, name, TEST_PASSWORD, body["token"], body["user"]["id"], config)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEONET_")}
    env.update(
        VIDEONET_BCRYPT_ROUNDS="4",  # the cost factor is a setting; tests need speed, not cost
        VIDEONET_LOGIN_FAILURES_MAX="1000",
        VIDEONET_REGISTER_FAILURES_MAX="1000",
        # The whole session's sockets come from 127.0.0.1 to the shared daemon; the limit's own
        # test sets it low.
        VIDEONET_SOCKET_HANDSHAKE_BURST="100000",
        PYTHONUNBUFFERED="1",
        # Sends accept first-seen identities as `--trust-new` does: most tests are not about
        # trust. The tests of asking, refusing and `--to` (test_transfer_trust.py,
        # identity tests) set it to "0".
        VIDEONET_TRUST_NEW="1",
        # The suite reads English: every CLI it starts speaks it, whatever the machine's locale
        # (the language tests pass VIDEONET_LANG, or drop it to test LANG; test_cli_languages).
        VIDEONET_LANG="en",
    )
    env.update(extra)
    return env


def daemon_command(
    *args: str, data_dir: Path, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a one-shot `videonet-daemon` command (serve that must fail, invite create, check)
    on `data_dir`, with the test run's database."""
    return subprocess.run(
        [
            str(BIN / "videonet-daemon"),
            *args,
            "--data-dir",
            str(data_dir),
            *database_args(data_dir),
        ],
        capture_output=True,
        text=True,
        env=base_env(**env),
        timeout=timeout,
    )


def start_daemon(data_dir: Path, *args: str, **env: str) -> Daemon:
    cmd = [str(BIN / "videonet-daemon"), "serve", "--host", "127.0.0.1", "--port", "0"]
    db_args = [] if "--database-url" in args else database_args(data_dir)
    cmd += ["--data-dir", str(data_dir), *db_args, *args]
    log = open(data_dir.parent / f"{data_dir.name}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=base_env(**env))
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"daemon exited early: {lines} (log: {log.name})")
        lines.append(line.rstrip("\n"))
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].strip()
            # Read the optional bootstrap line without blocking the test forever.
            if "--database-url" in args:
                db_args = ["--database-url", args[args.index("--database-url") + 1]]
            return Daemon(
                url=url, data_dir=data_dir, proc=proc, stdout_lines=lines, db_args=db_args
            )
    proc.kill()
    raise RuntimeError("daemon did not start in time")


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs the real `videonet` entry point as a subprocess for one user (own config dir)."""

    def __init__(self, daemon_url: str, config_dir: Path, token: str | None = None) -> None:
        self.daemon_url = daemon_url
        self.config_dir = config_dir
        self.token = token

    def env(self, **extra: str) -> dict[str, str]:
        # Each user's CLI has its own data dir too (device key, pinned keys, chat cursors).
        env = base_env(
            VIDEONET_SERVER=self.daemon_url,
            VIDEONET_CONFIG_DIR=str(self.config_dir),
            VIDEONET_DATA_DIR=str(self.config_dir / "data"),
        )
        if self.token:
            env["VIDEONET_TOKEN"] = self.token
        env.update(extra)
        return env

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 60, **env: str
    ) -> CliResult:
        proc = subprocess.run(
            [str(BIN / "videonet"), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(**env),
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)
