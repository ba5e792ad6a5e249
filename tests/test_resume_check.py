"""A resume's check of what is already here keeps the connection to the daemon alive.

Before a resumed receive goes on, the receiver hashes the bytes an earlier run left (and a
resumed send hashes what the daemon already holds). That takes as long as reading them: seconds
per gigabyte on a laptop's disk. The daemon pings every Socket.IO connection and drops one that
does not answer within its ping timeout (25 + 20 s by default), so a check that held the event
loop for longer lost the connection, and the transfer with it, every time it was tried again.

The daemon here pings every 0.5 s and waits 0.5 s for the answer; the earlier run's partial file
is made 6 GiB long (sparse: reading it costs only the hashing, 2-5 s on these machines).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from transfer_helpers import Background, listening_receiver, room_with_receivers

pytestmark = pytest.mark.one_pass("the CLI's connection to the daemon: the database plays no part")

GIB = 1 << 30
MB = 1 << 20
SIZE = 4 * GIB


@pytest.mark.serial("a 1 s ping timeout: 4 CPU-bound test workers beside it could miss it")
def test_a_long_resume_check_keeps_the_receiver_connected(
    daemon_factory: Any, tmp_path: Path
) -> None:
    d = daemon_factory(VIDEONET_SOCKET_PING_INTERVAL="0.5", VIDEONET_SOCKET_PING_TIMEOUT="1")
    room, alice, (bob,) = room_with_receivers(d, tmp_path, 1)
    src = tmp_path / "huge.bin"
    with src.open("wb") as fh:
        fh.truncate(SIZE)  # sparse: the sender reads zeros at the paced rate
    out = tmp_path / "in"
    rx = listening_receiver(bob.cli, room, out)
    sender = Background(
        alice.cli, "send", room, str(src), "--json", "--timeout", "120", "--limit-rate", "1M"
    )
    try:
        rx.wait_for(lambda e: e.get("event") == "progress" and e.get("bytes", 0) > 0)
        rx.kill()
        part = out / "huge.bin.part"
        assert part.exists()
        # What a long earlier run would have left: all but the last MiB (zeros, as sent).
        os.truncate(part, SIZE - MB)

        rx2 = listening_receiver(bob.cli, room, out)
        try:
            offer = rx2.wait_for(lambda e: e.get("event") == "offer", timeout=120)
            assert offer["resumed_from"] == SIZE - MB
            # Past the check, the accept went through a connection that was kept: the receiver
            # waits for the sender's bytes, which come at 1 MB/s, and is still connected after
            # two more rounds of pings.
            time.sleep(2.5)
            assert rx2.proc.poll() is None, rx2.stderr()
        finally:
            rx2.kill()
    finally:
        sender.kill()


def test_a_receiver_stopped_past_the_ping_timeout_says_so_in_one_line(
    daemon_factory: Any, tmp_path: Path
) -> None:
    """A laptop put to sleep: the daemon drops the connection it stopped answering on. On waking
    the receiver says so in its own one line; the socket library's lines ("packet queue is
    empty, aborting") stay out of the terminal."""
    d = daemon_factory(VIDEONET_SOCKET_PING_INTERVAL="0.5", VIDEONET_SOCKET_PING_TIMEOUT="0.5")
    room, _alice, (bob,) = room_with_receivers(d, tmp_path, 1)
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    rx.proc.send_signal(signal.SIGSTOP)
    time.sleep(7)  # past the daemon's timeout and the library's own (the larger of the two + 5 s)
    rx.proc.send_signal(signal.SIGCONT)
    assert rx.finish(timeout=30) == 5
    assert rx.stderr().strip().splitlines() == ["Error: the connection to the daemon was lost"]
