"""A call relayed through TURN only: coturn on loopback with the secret the daemon mints
credentials from, and two browsers with `iceTransportPolicy: "relay"` (?ice=relay)."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_helpers import browser, log_in, open_room, wait_for_stats
from media_env import namespace_daemon, own_namespace  # noqa: F401  (fixtures: in a namespace)
from transfer_helpers import make_room, member

from conftest import Daemon

pytestmark = pytest.mark.one_pass("browser: the API tests cover its database paths")

__all__ = ["browser"]


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_stun(port: int) -> bool:
    """Whether a STUN binding request to 127.0.0.1:port gets an answer within 0.3 s."""
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + secrets.token_bytes(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(request, ("127.0.0.1", port))
        try:
            return sock.recv(2048)[8:20] == request[8:20]
        except OSError:
            return False


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """coturn on 127.0.0.1 with `use-auth-secret`: (port, secret)."""
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.skip("coturn is not installed (make test installs it: apt-get install coturn)")
    port, secret = free_port(socket.SOCK_DGRAM), secrets.token_hex(16)
    log = tmp_path / "coturn.log"
    cmd = [
        binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
        f"--listening-port={port}", "--min-port=40000", "--max-port=40999",
        "--use-auth-secret", f"--static-auth-secret={secret}", "--realm=videonet.test",
        "--no-tls", "--no-dtls", "--no-tcp", "--no-cli", "--fingerprint",
        # Both relays and peers are on loopback here; a real server must refuse that.
        "--allow-loopback-peers",
        f"--pidfile={tmp_path / 'coturn.pid'}", f"--db={tmp_path / 'turndb'}",
        f"--log-file={log}", "--simple-log",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while not answers_stun(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"coturn did not start; its log: {log}")
    yield port, secret
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_two_browsers_talk_through_turn_only(
    daemon_factory: Any, tmp_path: Path, browser: Any, coturn: tuple[int, str]
) -> None:
    port, secret = coturn
    daemon: Daemon = daemon_factory(
        VIDEONET_TURN_URLS=f"turn:127.0.0.1:{port}?transport=udp", VIDEONET_TURN_SECRET=secret
    )
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "turn")
    bob = member(daemon, tmp_path, room)
    pages = []
    for who in (alice, bob):
        context = browser.new_context(base_url=daemon.url)
        page = context.new_page()
        page.goto("/?ice=relay")
        log_in(page, who.user)
        open_room(page, room)
        page.click("#join-call")
        pages.append(page)
    for page in pages:
        rows = wait_for_stats(
            page,
            lambda rows: (
                len(rows) == 1 and rows[0]["framesDecoded"] >= 30 and rows[0]["audioSamples"] > 0
            ),
            "media through the TURN relay",
            timeout=40,
        )
        assert rows[0]["route"] == "relay", rows
    for page in pages:
        page.context.close()
