"""The documented deployment with a call in it: nginx (the shipped site) in front of two daemons
on one PostgreSQL and one Redis; two people in headless Chromium and one `videonet call` in
one call, spread over both daemons; the terminal's recordings of both browsers have video.

nginx sends each client address to one daemon. Every client here is on loopback, so each goes
through a small TCP forwarder that connects to nginx from an address of its own (127.0.0.x),
chosen so that the two browsers land on different daemons. Skipped, saying why, without
PostgreSQL, Redis, nginx or chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_helpers import TIMEOUT_MS, browser, call_stats, log_in, open_room, wait_for_media
from calls_helpers import make_clip
from media_env import namespace_cluster, own_namespace, private_servers  # noqa: F401
from test_deploy import nginx  # noqa: F401  (fixture)
from test_scaleout import Cluster
from transfer_helpers import Background, make_room, member

from conftest import Daemon

pytestmark = pytest.mark.one_pass("browser: the API tests cover its database paths")

__all__ = ["browser"]

CANDIDATE_ADDRESSES = [f"127.0.0.{n}" for n in range(2, 60)]


class Forwarder:
    """Listens on 127.0.0.1 and connects each client to nginx from one chosen source address."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: tuple[str, int]) -> None:
        self.loop = loop
        self.target = target
        self.servers: list[asyncio.Server] = []
        self.piping: set[asyncio.Task[Any]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    def open(self, source: str) -> int:
        """A new listening port whose connections reach nginx from ``source``."""

        async def start() -> int:
            server = await asyncio.start_server(self._client(source), "127.0.0.1", 0)
            self.servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def _client(self, source: str) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self.piping.add(task)
            task.add_done_callback(self.piping.discard)
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    *self.target, local_addr=(source, 0)
                )
            except OSError:
                writer.close()
                return
            self.writers.update((writer, up_writer))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        return handle


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@pytest.fixture
def forwarder(nginx: str) -> Iterator[Forwarder]:  # noqa: F811
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    parsed = urllib.parse.urlsplit(nginx)
    fwd = Forwarder(loop, (parsed.hostname or "127.0.0.1", parsed.port or 443))
    try:
        yield fwd
    finally:

        async def close() -> None:
            for server in fwd.servers:
                server.close()
            for writer in fwd.writers:  # each pipe then reads its end and returns
                writer.close()
            await asyncio.wait_for(asyncio.gather(*fwd.piping, return_exceptions=True), 10)

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def tell_where_it_is(terminal: Background) -> None:
    """After a failure: the terminal's later events (it ends on SIGINT) or, if it does not end,
    where each of its threads is (faulthandler prints them on SIGABRT)."""
    if terminal.proc.poll() is None:
        terminal.proc.send_signal(signal.SIGINT)
    try:
        terminal.finish(timeout=20)
    except subprocess.TimeoutExpired:
        terminal.proc.send_signal(signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            terminal.finish(timeout=10)
    print("terminal's events to its end:", terminal.events[-30:])
    print("terminal's stderr:", terminal.stderr()[-6000:])


def daemon_behind(port: int, context: ssl.SSLContext, cluster: Cluster) -> Daemon:
    """Which daemon nginx sends this forwarder's client address to: open an engine.io session
    through nginx, then ask each daemon directly which one holds it."""
    url = f"https://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(url, context=context, timeout=10) as resp:
        opened = resp.read().decode()
    sid = opened[opened.index('"sid":"') + 7 :].split('"', 1)[0]
    for daemon in (cluster.a, cluster.b):
        close = urllib.request.Request(
            f"{daemon.url}/socket.io/?EIO=4&transport=polling&sid={sid}", data=b"1", method="POST"
        )
        try:
            with urllib.request.urlopen(close, timeout=10):
                return daemon
        except urllib.error.HTTPError:
            continue
    raise AssertionError("neither daemon holds the session opened through nginx")


def page_through(browser: Any, url: str) -> Any:
    context = browser.new_context(
        base_url=url, ignore_https_errors=True, viewport={"width": 900, "height": 700}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            page.errors.append(m.text)
            if m.type == "error" and "status of 401" not in m.text
            else None
        ),
    )
    page.goto("/")
    return page


def decode(path: Path) -> dict[str, int]:
    import av

    counts = {"video": 0, "audio": 0}
    with av.open(str(path)) as container:
        for frame in container.decode(*container.streams):
            counts["video" if isinstance(frame, av.VideoFrame) else "audio"] += 1
    return counts


def test_two_browsers_and_a_terminal_in_one_call_through_nginx_and_two_daemons(
    cluster: Cluster,
    nginx: str,  # noqa: F811
    forwarder: Forwarder,
    browser: Any,
    tmp_path: Path,
) -> None:
    if os.environ.get("VIDEONET_TEST_DATABASE") == "postgresql":
        print("skipped: the cluster is on PostgreSQL in either pass; it ran in the first one")
        pytest.skip("the cluster is on PostgreSQL in either pass; it ran in the first one")
    cert = tmp_path / "cert.pem"
    context = ssl.create_default_context(cafile=str(cert))
    # One client address for each daemon, as two people at two places would have.
    ports: dict[str, int] = {}
    for source in CANDIDATE_ADDRESSES:
        port = forwarder.open(source)
        behind = daemon_behind(port, context, cluster)
        ports.setdefault("a" if behind is cluster.a else "b", port)
        if len(ports) == 2:
            break
    assert len(ports) == 2, "no client address nginx sends to the second daemon"

    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice, "standup")
    bob = member(cluster.a, tmp_path, room)
    carol = member(cluster.a, tmp_path, room)
    pages = []
    for who, port in ((alice, ports["a"]), (bob, ports["b"])):
        page = page_through(browser, f"https://127.0.0.1:{port}")
        log_in(page, who.user)
        open_room(page, room)
        page.click("#join-call")
        page.wait_for_selector("#leave-call:not([hidden])")
        pages.append(page)

    # carol's terminal, through nginx from its own address, plays a clip and records the others.
    clip = make_clip(tmp_path / "clip.mp4", 30.0, 160, 120)
    out = tmp_path / "rec" / "standup.mp4"
    out.parent.mkdir()
    carol.cli.daemon_url = f"https://127.0.0.1:{forwarder.open('127.0.0.1')}"
    terminal = Background(
        carol.cli, "call", room, "--play", str(clip), "--record", str(out), "--json",
        SSL_CERT_FILE=str(cert), PYTHONFAULTHANDLER="1",
    )  # fmt: skip
    try:
        joined = terminal.wait_for(lambda e: e["event"] == "joined")
        assert sorted(joined["participants"]) == sorted([alice.user.username, bob.user.username])
        for page in pages:
            wait_for_media(page, peers=2, timeout=60)  # each browser: the other and the clip
        terminal.wait_for(
            lambda e: (
                e["event"] == "stats"
                and len(e["peers"]) == 2
                and all(p["bytes_received"] > 100_000 for p in e["peers"])
            ),
            timeout=60,
        )
        terminal.proc.send_signal(signal.SIGINT)
        assert terminal.finish(timeout=30) == 0, terminal.stderr()
    except BaseException:
        print("terminal's events:", terminal.events[-30:])
        tell_where_it_is(terminal)
        for who, page in zip(("alice", "bob"), pages, strict=True):
            with contextlib.suppress(Exception):
                print(f"{who}'s page:", page.inner_text("#status"), call_stats(page), page.errors)
        raise
    finally:
        if terminal.proc.poll() is None:
            terminal.kill()
    result = terminal.result()
    assert result["failed_recordings"] == [], result
    recorded = {Path(r["path"]).name: decode(Path(r["path"])) for r in result["recordings"]}
    assert set(recorded) == {
        f"standup-{alice.user.username}.mp4",
        f"standup-{bob.user.username}.mp4",
    }, recorded
    for name, counts in recorded.items():
        assert counts["video"] > 20 and counts["audio"] > 0, (name, counts)
    for page in pages:
        assert page.errors == [], page.errors
        page.context.close()
