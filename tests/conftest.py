"""Fixtures: the real daemon as a subprocess on port 0 with a temporary data dir, the real CLI.

`daemon` is shared by the session (tests create their own users and rooms, so they do not
collide); `daemon_factory` starts a private one for tests that need fresh state or settings.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
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
    name = "vn_" + hashlib.sha1(str(data_dir).encode()).hexdigest()[:20]
    if name not in _CREATED_DATABASES:
        postgres_admin(f"CREATE DATABASE {name}")
        _CREATED_DATABASES.append(name)
    return ["--database-url", f"{POSTGRES}/{name}"]


_CREATED_DATABASES: list[str] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    if BACKEND == "postgresql":
        try:
            postgres_admin("SELECT 1")
        except Exception as exc:  # no server answers: the PostgreSQL run is skipped, loudly
            reason = f"PostgreSQL run skipped: no server answers at {POSTGRES} ({exc})"
            print(reason, file=sys.stderr)
            pytest.exit(reason, returncode=0)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for name in _CREATED_DATABASES:
        try:
            postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Exception as exc:
            print(f"could not drop test database {name}: {exc}", file=sys.stderr)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "sqlite":
        return
    skip = pytest.mark.skip(reason="checks the embedded SQLite database file")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)
        elif (marker := item.get_closest_marker("one_pass")) is not None:
            # Not about the database engine (the browser, the terminal, the install, the
            # code's shape) or on PostgreSQL in both passes: run once, in the SQLite pass.
            item.add_marker(pytest.mark.skip(reason=f"SQLite pass only: {marker.args[0]}"))


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
        """One many-use invite for tests that just need accounts."""
        if self._shared_invite is None:
            self._shared_invite = self.mint_invite(uses=10_000)
        return self._shared_invite

    def make_user(self, tmp_root: Path, name: str | None = None) -> User:
        """Register (HTTP) and log in; the CLI config dir for this user holds nothing yet."""
        name = name or f"u{uuid.uuid4().hex[:10]}"
        email = f"{name}@example.test"
        status, body, _ = http(
            "POST",
            self.api("/api/auth/register"),
            {
                "email": email,
                "username": name,
                "password": TEST_PASSWORD,
                "invite_code": self.shared_invite(),
            },
        )
        assert status == 201, body
        status, body, _ = http(
            "POST", self.api("/api/auth/login"), {"email": email, "password": TEST_PASSWORD}
        )
        assert status == 200, body
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
        PYTHONUNBUFFERED="1",
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


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    # VIDEONET_TEST_SPOOL=s3: the shared daemon keeps transfer bytes in a SeaweedFS started for
    # the session (tests/object_store.py), so the transfer tests run against object storage.
    extra: dict[str, str] = {}
    store = None
    if os.environ.get("VIDEONET_TEST_SPOOL") == "s3":
        from object_store import weed_s3

        started = weed_s3(tmp_path_factory.mktemp("weed"))
        if isinstance(started, str):
            pytest.fail(f"VIDEONET_TEST_SPOOL=s3 but no object store: {started}")
        store = started
        # 1 MiB segments (the smallest): receivers see bytes in steps as small as the tests'
        # progress checks expect (8 MiB steps skip past "a quarter in" on a 16 MiB file).
        extra = store.env(store.new_bucket(), VIDEONET_SPOOL_SEGMENT_BYTES=str(1 << 20))
    d = start_daemon(tmp_path_factory.mktemp("daemon") / "data", **extra)
    yield d
    d.stop()
    if store is not None:
        store.stop()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Daemon] = []

    def make(*args: str, data_dir: Path | None = None, **env: str) -> Daemon:
        d = start_daemon(data_dir or tmp_path / f"data{len(started)}", *args, **env)
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()


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


@pytest.fixture
def user(daemon: Daemon, tmp_path: Path) -> User:
    return daemon.make_user(tmp_path)


@pytest.fixture
def cli(daemon: Daemon, user: User) -> Cli:
    """The CLI authenticated as `user` (through VIDEONET_TOKEN)."""
    return Cli(daemon.url, user.config_dir, user.token)


@pytest.fixture
def anon_cli(daemon: Daemon, tmp_path: Path) -> Cli:
    """The CLI with no token and an empty config dir."""
    config = tmp_path / "cfg-anon"
    config.mkdir()
    return Cli(daemon.url, config)
