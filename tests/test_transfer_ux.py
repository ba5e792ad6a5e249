"""What people see around a transfer: the receive prompt, --yes/--from, the sender's guidance,
Ctrl-C and resume lines, rates over moving time. Interactive parts run on a pseudo-terminal."""

from __future__ import annotations

import hashlib
import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from terminal import finish, spawn
from transfer_helpers import (
    Background,
    Member,
    listening_receiver,
    make_room,
    member,
    random_file,
    with_device_keys,
)

from conftest import Daemon

# receive names the sender's device (its certified label) and the pin's state
SIGNED = r"\(device [^,]+, identity pinned\)"

pytestmark = pytest.mark.one_pass("terminal and client side: API tests cover the daemon")

MB = 1 << 20


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def trio(daemon: Daemon, tmp_path: Path) -> tuple[str, Member, Member, Member]:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "ux-" + alice.user.username)
    bob, carol = member(daemon, tmp_path, room), member(daemon, tmp_path, room)
    with_device_keys(bob, carol)
    return room, alice, bob, carol


def test_receive_without_a_terminal_needs_yes(trio: Any, tmp_path: Path) -> None:
    room, _, bob, _ = trio
    r = bob.cli("receive", room, "--out", str(tmp_path), "--timeout", "1")
    assert r.code == 2
    assert "no terminal to ask on: pass --yes" in r.err and r.err.count("\n") == 1


def test_receive_shows_the_offer_and_asks(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    take = random_file(tmp_path / "take.bin", MB + 5)
    skip = random_file(tmp_path / "skip.bin", 3000)
    for path in (take, skip):
        r = alice.cli("send", room, str(path), "--no-wait", "--no-progress")
        assert r.code == 0, r.err
        assert "uploaded, not yet received" in r.out + r.err
    out = tmp_path / "in"
    out.mkdir()
    child = spawn(bob.cli.env(), "receive", room, "--out", str(out), "--count", "2")
    # The newest offer first.
    child.expect(rf"{alice.user.username} {SIGNED} offers skip\.bin \(3\.0 KB\)\. Accept\? \[y/N\]")
    child.sendline("")
    child.expect(rf"{alice.user.username} {SIGNED} offers take\.bin \(1\.0 MB\)\. Accept\? \[y/N\]")
    child.sendline("y")
    child.expect("declined skip.bin")
    assert finish(child) == 0
    assert sha(out / "take.bin") == sha(take)
    assert not (out / "skip.bin").exists()
    # A declined offer is not asked again...
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--timeout", "2")
    assert r.code == 1 and "no file was offered" in r.err


def test_receive_from_takes_only_that_members_files(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, carol = trio
    for who, name in ((alice, "a.bin"), (carol, "c.bin")):
        path = random_file(tmp_path / name, 2000)
        assert who.cli("send", room, str(path), "--no-wait", "--no-progress").code == 0
    out = tmp_path / "in"
    out.mkdir()
    r = bob.cli("receive", room, "--yes", "--from", carol.user.username, "--out", str(out))
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["c.bin"]
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--json")
    assert r.code == 0 and events(r.out)[-1]["sender"] == alice.user.username


def test_sender_says_what_the_others_run_and_until_when(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    path = random_file(tmp_path / "late.bin", 200_000)
    r = alice.cli("send", room, str(path), "--timeout", "2", "--json")
    assert r.code == 1
    line = r.err.strip()
    assert re.search(
        r"nobody took it within 2 s; the daemon keeps it until (\d{4}-\d\d-\d\d )?\d\d:\d\d: "
        rf"run `videonet receive ux-{alice.user.username}-[0-9a-f]{{8}}` on the receiving side",
        line,
    ), line
    result = events(r.out)[-1]
    assert result["available_until"] and result["missing"] == []
    # The waiting did not count as moving: the rate is over the upload alone.
    assert result["seconds"] >= 2 > result["moving_seconds"]
    # And what it promised holds: a receiver run afterwards gets the file.
    out = tmp_path / "in"
    out.mkdir()
    assert bob.cli("receive", room, "--yes", "--out", str(out)).code == 0
    assert sha(out / "late.bin") == sha(path)


def test_sender_on_a_terminal_names_the_command_to_run(trio: Any, tmp_path: Path) -> None:
    room, alice, _, _ = trio
    path = random_file(tmp_path / "guide.bin", 100_000)
    child = spawn(alice.cli.env(), "send", room, str(path), "--timeout", "1")
    child.expect(r"nobody is receiving yet: the others should run `videonet receive ux-\S+`")
    assert finish(child) == 1


def test_ctrl_c_on_send_says_how_to_resume_and_the_resume_says_where(
    trio: Any, tmp_path: Path
) -> None:
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "big.bin", 12 * MB)
    child = spawn(alice.cli.env(), "send", room, str(src), "--limit-rate", "2M")
    child.expect(r"big\.bin")
    child.expect(r"[1-9]\.\d/12\.6 MB")  # the bar moved past a megabyte
    child.sendintr()
    child.expect(
        r"interrupted: big\.bin at \d+\.\d MB of 12\.6 MB; run the same `videonet send` again "
        r"to resume where the daemon's copy ends"
    )
    assert finish(child) == 130

    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    child = spawn(alice.cli.env(), "send", room, str(src))
    child.expect(r"big\.bin: resuming at [1-9]\d*\.\d MB of 12\.6 MB")
    assert finish(child) == 0
    assert rx.finish() == 0
    assert sha(tmp_path / "in" / "big.bin") == sha(src)


def test_ctrl_c_on_receive_says_how_to_resume(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "slow.bin", 12 * MB)
    out = tmp_path / "in"
    out.mkdir()
    # The receiver waits first, so it follows the sender's 2 MB/s: a receiver that started late
    # would find the whole file stored and take it in a blink, before the Ctrl-C.
    child = spawn(bob.cli.env(), "receive", room, "--out", str(out), "--yes")
    child.expect("Waiting for files")
    sender = Background(alice.cli, "send", room, str(src), "--json", "--limit-rate", "2M")
    child.expect(r"[1-9]\.\d/12\.6 MB")
    child.sendintr()
    child.expect(
        r"interrupted: slow\.bin at \d+\.\d MB of 12\.6 MB, kept in slow\.bin\.part; "
        rf"run `videonet receive ux-{alice.user.username}-[0-9a-f]{{8}} --out {out}` again "
        "to resume"
    )
    assert finish(child) == 130
    assert (out / "slow.bin.part").exists()
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--json")
    assert r.code == 0, r.err
    result = events(r.out)[-1]
    assert result["resumed_from"] > 0
    # The rate counts the bytes moved in this run over the time spent moving them.
    moved_mb = (result["bytes"] - result["resumed_from"]) / 1e6
    assert result["mb_per_s"] == pytest.approx(moved_mb / result["moving_seconds"], rel=0.05)
    assert sha(out / "slow.bin") == sha(src)
    sender.finish()


def test_waiting_receiver_is_told_the_transfer_is_interrupted(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "cut.bin", 12 * MB)
    sender = Background(alice.cli, "send", room, str(src), "--json", "--limit-rate", "2M")
    sender.wait_for(lambda e: e.get("event") == "progress" and e["bytes"] > MB)
    sender.proc.send_signal(signal.SIGKILL)
    sender.proc.wait()
    child = spawn(bob.cli.env(), "receive", room, "--out", str(tmp_path), "--yes")
    child.expect(
        rf"cut\.bin from {alice.user.username} is interrupted at \d+\.\d MB of 12\.6 MB: "
        rf"it arrives when {alice.user.username} runs the same send again"
    )
    child.sendintr()
    child.expect("interrupted")
    assert finish(child) == 130


def test_overwrite_takes_a_file_declined_because_it_existed(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "keep.bin", MB)
    out = tmp_path / "in"
    out.mkdir()
    (out / "keep.bin").write_bytes(b"precious")
    assert alice.cli("send", room, str(src), "--no-wait", "--no-progress").code == 0
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--timeout", "5")
    assert r.code == 1 and "exists (use --overwrite to replace it)" in r.err
    assert (out / "keep.bin").read_bytes() == b"precious"
    # The advice works: the bytes are still in the spool and the same offer is taken again.
    r = bob.cli("receive", room, "--yes", "--overwrite", "--out", str(out), "--timeout", "5")
    assert r.code == 0, r.err
    assert sha(out / "keep.bin") == sha(src)
