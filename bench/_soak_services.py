"""What bench/soak.py runs and breaks: a private PostgreSQL and Redis (tests/fault_servers.py),
SeaweedFS on a small tmpfs (bench/_weed.py), two daemons, nginx in front of them (the shipped
site, docs/deploy/nginx-videonet.conf), and a TCP proxy that can drop its connections.

Everything listens on 127.0.0.1 on free ports and is stopped by `Services.close`; the machine's
shared PostgreSQL and Redis are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from _weed import Weed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from fault_servers import PrivatePostgres, PrivateRedis  # noqa: E402

BIN = Path(sys.executable).parent
DEPLOY = ROOT / "docs" / "deploy"
JWT_SECRET = "soak-" + os.urandom(24).hex()
START_SECONDS = 60.0
WEED_TMPFS_MB = 3072


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+)", text, re.M)
    return int(found.group(1)) if found else None


class Daemon:
    """One `videonet-daemon serve`, restarted on the same port and data dir after a kill."""

    def __init__(self, name: str, workdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.data = workdir / name
        self.env = env
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.starts = 0

    def start(self) -> None:
        cmd = [str(BIN / "videonet-daemon"), "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--data-dir", str(self.data)]
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=self.log, env=self.env, start_new_session=True
        )
        self.started_at = time.monotonic()
        self.starts += 1
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode} at start")
            try:
                urllib.request.urlopen(self.url + "/api/health", timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # it answers (503 while a dependency is down)
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {START_SECONDS} s")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def rss(self) -> int | None:
        return rss_kib(self.proc.pid) if self.proc and self.proc.poll() is None else None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.log.close()


class DropProxy:
    """A TCP proxy (its own thread and event loop) to nginx; `cut()` resets every connection
    it carries, as a client's network that drops mid-upload."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.cuts = 0
        self.carried = 0  # bytes from clients to the target, for "mid-upload"
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def serve() -> None:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
            ready.set()
            async with self._server:
                await self._server.serve_forever()

        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(serve())

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(1 << 16):
                    if up:
                        self.carried += len(data)
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        self._writers -= {writer, up_writer}

    def cut(self) -> int:
        """Reset every connection now (SO_LINGER 0: an RST, as a dead link looks to the peer)."""

        def reset() -> int:
            count = 0
            for w in list(self._writers):
                sock = w.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                        )
                w.transport.abort()
                count += 1
            self._writers.clear()
            return count

        future = asyncio.run_coroutine_threadsafe(_call(reset), self._loop)
        self.cuts += 1
        return future.result(10)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)


async def _call(fn: object) -> int:
    return fn()  # type: ignore[operator, no-any-return]


class Nginx:
    """The shipped site with this run's ports and certificate; the one change is the upstream
    key (see `site`)."""

    def __init__(self, workdir: Path, upstreams: list[str]) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise FileNotFoundError("nginx")
        self.prefix = workdir / "nginx"
        self.prefix.mkdir()
        self.cert, key = self.prefix / "cert.pem", self.prefix / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", str(key), "-out", str(self.cert), "-subj", "/CN=localhost",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.port = free_port()
        self.access_log = self.prefix / "access.log"
        (self.prefix / "site.conf").write_text(self.site(upstreams, key))
        temp = "".join(
            f"    {kind}_temp_path {self.prefix / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # Each line: epoch seconds, status, what the daemon answered, the request.
        (self.prefix / "nginx.conf").write_text(
            "user root;\nworker_processes 1;\n"
            f"error_log {self.prefix / 'error.log'} warn;\npid {self.prefix / 'nginx.pid'};\n"
            "events { worker_connections 4096; }\n"
            'http {\n    log_format soak \'$msec $status "$upstream_status" "$request"\';\n'
            f"    access_log {self.access_log} soak;\n{temp}"
            f"    include {self.prefix / 'site.conf'};\n}}\n"
        )
        self.binary = binary
        self.url = f"https://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
             "-g", "daemon off;"],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            time.sleep(0.1)
        raise RuntimeError("nginx did not listen")

    def site(self, upstreams: list[str], key: Path) -> str:
        text = (DEPLOY / "nginx-videonet.conf").read_text()
        # Each daemon of this run in place of the shipped ones, with the shipped parameters.
        params = re.findall(r"\n    server 127\.0\.0\.1:770\d([^;]*);", text)[0]
        text = re.sub(r"\n    server 127\.0\.0\.1:770\d[^;]*;", "", text)
        servers = "".join(f"\n    server {u}{params};" for u in upstreams)
        # Every client here comes from 127.0.0.1: `hash $remote_addr` would send them all to one
        # daemon. The CLI's Socket.IO is WebSocket-only, so one connection needs no stickiness.
        text = text.replace(
            "hash $remote_addr consistent;", "hash $remote_addr$remote_port consistent;" + servers
        )
        text = re.sub(r"server \{\n    listen 80;.*?\n\}\n", "", text, flags=re.S)
        text = text.replace("    listen [::]:443 ssl;\n", "")
        text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{self.port} ssl;")
        text = re.sub(r"ssl_certificate .*;", f"ssl_certificate {self.cert};", text)
        return re.sub(r"ssl_certificate_key .*;", f"ssl_certificate_key {key};", text)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Tmpfs:
    """A small tmpfs for the object store's disk, so "nearly full" is cheap to reach; `None`
    from `make` (with the reason) where mount is not allowed."""

    def __init__(self, path: Path, megabytes: int) -> None:
        self.path = path
        self.ballast = path / "ballast"
        self.filled = False
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs", str(path)],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise PermissionError(done.stderr.strip() or "mount failed")

    def fill(self, leave_bytes: int) -> int:
        """Fill the disk until `leave_bytes` are free; return the ballast's size."""
        self.filled = True
        stat = os.statvfs(self.path)
        size = max(0, stat.f_bavail * stat.f_frsize - leave_bytes)
        with self.ballast.open("wb") as fh:
            block = b"\0" * (1 << 20)
            left = size
            while left > 0:
                with contextlib.suppress(OSError):
                    fh.write(block[: min(left, len(block))])
                left -= len(block)
        return size

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)
        self.filled = False

    def free_bytes(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def store_bytes(self) -> int | None:
        """What the object store holds on the disk; None while the ballast is there (what it
        takes is not known to the byte while it is written or removed)."""
        if self.filled:
            return None
        stat = os.statvfs(self.path)
        return (stat.f_blocks - stat.f_bfree) * stat.f_frsize

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


class Services:
    """The whole service, started in dependency order; `close` stops all of it."""

    def __init__(self, workdir: Path, notes: list[str]) -> None:
        self.workdir = workdir
        self.notes = notes
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        workdir, notes = self.workdir, self.notes
        self.postgres = PrivatePostgres()
        self.postgres.init()
        self.postgres.start()
        self.db_url = self._create_database()
        self.redis = PrivateRedis()
        self.redis.start()
        try:
            self.tmpfs: Tmpfs | None = Tmpfs(workdir / "weed", WEED_TMPFS_MB)
            notes.append(f"object store on a {WEED_TMPFS_MB} MiB tmpfs (disk-full fault on)")
        except PermissionError as exc:
            self.tmpfs = None
            notes.append(f"no tmpfs ({exc}): the disk-full fault is skipped")
        self.weed = Weed(workdir / "weed", volume_mb=64)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEONET_")}
        env.update(self.weed.env())
        env.update(
            VIDEONET_DATABASE_URL=self.db_url,
            VIDEONET_REDIS_URL=self.redis.url,
            VIDEONET_JWT_SECRET=JWT_SECRET,
            VIDEONET_TRUST_PROXY="1",
            VIDEONET_BCRYPT_ROUNDS="4",
            VIDEONET_LOGIN_FAILURES_MAX="100000",
            VIDEONET_REGISTER_FAILURES_MAX="100000",
            VIDEONET_CLUSTER_NAME="soak",
            VIDEONET_SPOOL_SEGMENT_BYTES=str(1 << 20),
            # Verified transfers leave the store after 5 min (every receiver takes them at
            # once here): with the default hour, ten minutes of load filled the 1.5 GiB store and
            # SeaweedFS refused writes (500, so 503 to clients) in the runs of 12:30.
            VIDEONET_TRANSFER_RETENTION="300",
            AWS_REGION="us-east-1",
            PYTHONUNBUFFERED="1",
        )
        self.daemons = [Daemon("daemon-a", workdir, env), Daemon("daemon-b", workdir, env)]
        for d in self.daemons:
            d.start()
        self.nginx = Nginx(workdir, [f"127.0.0.1:{d.port}" for d in self.daemons])
        self.proxy = DropProxy(self.nginx.port)
        self.proxy_url = f"https://127.0.0.1:{self.proxy.port}"

    def _create_database(self) -> str:
        import asyncpg

        async def go() -> None:
            conn = await asyncpg.connect(f"{self.postgres.url}/postgres", timeout=10)
            try:
                await conn.execute("CREATE DATABASE videonet")
            finally:
                await conn.close()

        asyncio.run(go())
        return f"{self.postgres.url}/videonet"

    def restart_postgres(self) -> None:
        self.postgres.stop()
        self.postgres.start()

    def restart_redis(self) -> None:
        self.redis.stop()
        self.redis.start()

    def close(self) -> None:
        """Stop whatever was started, in reverse order."""
        steps = [
            ("proxy", "close"), ("nginx", "stop"), ("daemons", "stop"), ("weed", "stop"),
            ("redis", "stop"), ("postgres", "remove"), ("tmpfs", "close"),
        ]  # fmt: skip
        for attribute, method in steps:
            thing = getattr(self, attribute, None)
            for one in thing if isinstance(thing, list) else [thing]:
                if one is not None:
                    with contextlib.suppress(Exception):
                        getattr(one, method)()
