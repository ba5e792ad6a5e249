"""Batches get the same guidance as single files: the receive prompt (sender, file count, total
size), --from, the sender's `available_until` and the Ctrl-C line for a directory."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from terminal import finish, spawn
from transfer_helpers import Background, Member, make_room, member, random_file, with_device_keys

from conftest import Daemon

# receive names the sender's device (its certified label) and the pin's state
SIGNED = r"\(device [^,]+, identity pinned\)"
# The time a transfer is kept until: with its date when that is not today (past midnight).
UNTIL = r"(\d{4}-\d\d-\d\d )?\d\d:\d\d"

pytestmark = pytest.mark.one_pass("terminal and client side: API tests cover the daemon")

MB = 1 << 20


def tree_digest(root: Path) -> dict[str, str]:
    found = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def trio(daemon: Daemon, tmp_path: Path) -> tuple[str, Member, Member, Member]:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "bux-" + alice.user.username)
    bob, carol = member(daemon, tmp_path, room), member(daemon, tmp_path, room)
    with_device_keys(bob, carol)
    return room, alice, bob, carol


def test_receive_asks_before_a_directory_and_a_batch(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    box = tmp_path / "box"
    (box / "sub").mkdir(parents=True)
    for name, size in (("one.bin", 2000), ("two.bin", 3000), ("sub/three.bin", 5000)):
        random_file(box / name, size)
    r = alice.cli("send", room, str(box), "--no-wait", "--no-progress")
    assert r.code == 0, r.err
    assert re.search(rf"uploaded, not yet received.*until {UNTIL}", r.out), r.out
    loose = [random_file(tmp_path / f"{n}.txt", 1000) for n in ("a", "b", "c")]
    assert alice.cli("send", room, *map(str, loose), "--no-wait", "--no-progress").code == 0
    out = tmp_path / "in"
    out.mkdir()
    # The newest offer first: the three loose files, then the directory (4 files by --count).
    child = spawn(bob.cli.env(), "receive", room, "--out", str(out), "--count", "4")
    who = alice.user.username
    child.expect(
        rf"{who} {SIGNED} offers 3 files: a\.txt and 2 more \(3\.0 KB\)\. Accept\? \[y/N\]"
    )
    child.sendline("n")
    child.expect(
        rf"{who} {SIGNED} offers the directory box/ \(3 files, 10\.0 KB\)\. Accept\? \[y/N\]"
    )
    child.sendline("y")
    child.expect(rf"declined a\.txt and 2 more files from {who}")
    assert finish(child) == 0
    assert tree_digest(out / "box") == tree_digest(box)
    assert sorted(p.name for p in out.iterdir()) == ["box"]
    # A declined batch is not offered again.
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--timeout", "2")
    assert r.code == 1 and "no file was offered" in r.err


def test_receive_from_takes_only_that_members_batches(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, carol = trio
    tree = tmp_path / "carols"
    tree.mkdir()
    random_file(tree / "x.bin", 4000)
    assert carol.cli("send", room, str(tree), "--no-wait", "--no-progress").code == 0
    other = tmp_path / "alices"
    other.mkdir()
    random_file(other / "y.bin", 4000)
    assert alice.cli("send", room, str(other), "--no-wait", "--no-progress").code == 0
    out = tmp_path / "in"
    out.mkdir()
    r = bob.cli("receive", room, "--yes", "--from", carol.user.username, "--out", str(out))
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["carols"]
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--json")
    assert r.code == 0 and events(r.out)[-1]["sender"] == alice.user.username
    assert tree_digest(out / "alices") == tree_digest(other)


def test_batch_sender_says_until_when_it_is_kept(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    tree = tmp_path / "late"
    tree.mkdir()
    for i in range(3):
        random_file(tree / f"l{i}.bin", 50_000)
    r = alice.cli("send", room, str(tree), "--timeout", "2", "--json")
    assert r.code == 1
    line = r.err.strip()
    assert re.search(
        rf"late/ \(nobody took it within 2 s; the daemon keeps it until {UNTIL}: "
        r"run `videonet receive bux-\S+` on the receiving side\)",
        line,
    ), line
    assert line.count("nobody took it") == 1  # the batch is named once, not once per file
    results = [e for e in events(r.out) if e["event"] == "result"]
    assert len(results) == 3
    assert all(e["available_until"] and e["missing"] == [] for e in results)
    assert all(e["seconds"] >= 2 > e["moving_seconds"] for e in results)
    out = tmp_path / "in"
    out.mkdir()
    assert bob.cli("receive", room, "--yes", "--out", str(out)).code == 0
    assert tree_digest(out / "late") == tree_digest(tree)


def test_ctrl_c_on_a_directory_says_where_it_is_kept(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    tree = tmp_path / "clips"
    tree.mkdir()
    for i in range(3):
        random_file(tree / f"c{i}.bin", 4 * MB)
    out = tmp_path / "in"
    out.mkdir()
    # The receiver waits first, so it follows the sender's 2 MB/s (a late one would find the
    # whole tree stored and take it before the Ctrl-C).
    child = spawn(bob.cli.env(), "receive", room, "--out", str(out), "--yes")
    child.expect("Waiting for files")
    sender = Background(alice.cli, "send", room, str(tree), "--json", "--limit-rate", "2M")
    child.expect(r"[1-9]\.\d/12\.6 MB")
    child.sendintr()
    child.expect(
        r"interrupted: clips at \d+\.\d MB of 12\.6 MB, kept in \.clips\.part/; "
        rf"run `videonet receive bux-{alice.user.username}-[0-9a-f]{{8}} --out {out}` again "
        "to resume"
    )
    assert finish(child) == 130
    assert (out / ".clips.part").is_dir() and not (out / "clips").exists()
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--json")
    assert r.code == 0, r.err
    results = [e for e in events(r.out) if e["event"] == "result"]
    assert max(e["resumed_from"] for e in results) > 0
    assert tree_digest(out / "clips") == tree_digest(tree)
    assert sender.finish() == 0, sender.stderr()
