"""`videonet receive` never writes outside --out and lets the umask decide a file's mode.

Not hostile-daemon tests of issue 21: they guard what the receiver did before it (planted
links and fifos, modes) and had to keep through the one road. All five pass on a52c7dd too
(run there with its CLI and daemon); none of them stands for one of issue 21's findings."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from transfer_helpers import Member, listening_receiver, make_room, member, random_file

from conftest import Daemon

pytestmark = pytest.mark.one_pass("terminal and client side: API tests cover the daemon")


@pytest.fixture
def pair(daemon: Daemon, tmp_path: Path) -> tuple[str, Member, Member]:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice)
    bob = member(daemon, tmp_path, room)
    return room, alice, bob


@pytest.mark.parametrize("dangling", [False, True])
def test_a_planted_part_symlink_is_not_written_through(
    pair: tuple[str, Member, Member], tmp_path: Path, dangling: bool
) -> None:
    room, alice, bob = pair
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "victim"
    if not dangling:
        target.write_bytes(b"precious")
    out = tmp_path / "in"
    out.mkdir()
    (out / "take.bin.part").symlink_to(target)
    src = random_file(tmp_path / "take.bin", 200_000)
    rx = listening_receiver(bob.cli, room, out)
    r = alice.cli("send", room, str(src), "--timeout", "30", "--no-progress")
    assert rx.finish() == 1
    assert r.code != 0
    assert "not a regular file" in rx.result()["reason"]
    if dangling:
        assert not target.exists()
    else:
        assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in outside.iterdir()) == ([] if dangling else ["victim"])
    assert not (out / "take.bin").exists()


def test_a_planted_fifo_does_not_hang_the_receiver(
    pair: tuple[str, Member, Member], tmp_path: Path
) -> None:
    room, alice, bob = pair
    out = tmp_path / "in"
    out.mkdir()
    os.mkfifo(out / "f.bin.part")
    src = random_file(tmp_path / "f.bin", 1000)
    rx = listening_receiver(bob.cli, room, out)
    alice.cli("send", room, str(src), "--timeout", "30", "--no-progress")
    assert rx.finish(timeout=60) == 1
    assert "not a regular file" in rx.result()["reason"]


@pytest.mark.parametrize(("umask", "mode"), [(0o077, 0o600), (0o022, 0o644), (0o002, 0o664)])
def test_received_files_follow_the_umask(
    pair: tuple[str, Member, Member], tmp_path: Path, umask: int, mode: int
) -> None:
    """Received files get the sender's permission bits (from the signed header), within the
    receiver's umask."""
    room, alice, bob = pair
    src = random_file(tmp_path / "m.bin", 1000)
    src.chmod(0o666)
    old = os.umask(umask)  # the receiver inherits it
    try:
        rx = listening_receiver(bob.cli, room, tmp_path / "in")
    finally:
        os.umask(old)
    r = alice.cli("send", room, str(src), "--timeout", "30", "--no-progress")
    assert r.code == 0, r.err
    assert rx.finish() == 0
    assert stat.S_IMODE((tmp_path / "in" / "m.bin").stat().st_mode) == mode
