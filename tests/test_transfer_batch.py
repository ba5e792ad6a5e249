"""Many files and directory trees in one `videonet send`: one offer, one upload, one verdict."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from transfer_helpers import (
    Background,
    Member,
    listening_receiver,
    make_room,
    member,
    random_file,
    with_device_keys,
)

from conftest import LOCAL_SPOOL, Daemon

MB = 1 << 20


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(root: Path) -> dict[str, str]:
    """Every regular file under root by relative path -> its SHA-256 (links are not followed)."""
    found = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                found[str(path.relative_to(root))] = sha(path)
    return found


@pytest.fixture
def trio(daemon: Daemon, tmp_path: Path) -> tuple[str, Member, Member, Member]:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice)
    bob, carol = member(daemon, tmp_path, room), member(daemon, tmp_path, room)
    with_device_keys(bob, carol)
    return room, alice, bob, carol


def events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_many_files_in_one_send_make_one_offer(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    src = tmp_path / "src"
    src.mkdir()
    files = [random_file(src / f"f{i:03}.txt", 10_000) for i in range(60)]
    (src / "empty.txt").write_bytes(b"")
    files.append(src / "empty.txt")
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    r = alice.cli("send", room, *map(str, files), "--json", "--timeout", "60")
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    sent = events(r.out)
    assert len([e for e in sent if e["event"] == "offer"]) == 1  # one round trip for the batch
    offer = next(e for e in sent if e["event"] == "offer")
    assert offer["files"] == 61 and offer["bytes"] == 600_000
    results = [e for e in sent if e["event"] == "result"]
    assert len(results) == 61 and all(e["ok"] for e in results)
    for path in files:
        assert sha(tmp_path / "in" / path.name) == sha(path)
    assert not list((tmp_path / "in").glob("*.part"))
    received = [e for e in rx.events if e["event"] == "result"]
    assert len(received) == 61 and all(e["ok"] for e in received)
    assert {e["sha256"] for e in received} == {e["sha256"] for e in results}


def build_tree(root: Path, outside: Path) -> dict[str, str]:
    (root / "sub" / "deeper").mkdir(parents=True)
    random_file(root / "top.bin", 300_000)
    random_file(root / "sub" / "a.txt", 1234)
    random_file(root / "sub" / "deeper" / "b.bin", 2 * MB + 1)
    (root / "sub" / "empty").write_bytes(b"")
    (root / "empty-dir").mkdir()
    outside.write_text("secret outside the tree")
    (root / "sub" / "link-out").symlink_to(outside)
    (root / "linked-dir").symlink_to(outside.parent, target_is_directory=True)
    os.mkfifo(root / "sub" / "pipe")
    return tree_digest(root)


def test_directory_tree_lands_whole_without_links_or_fifos(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    tree = tmp_path / "project"
    tree.mkdir()
    expected = build_tree(tree, tmp_path / "secret.txt")
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    r = alice.cli("send", room, str(tree), "--json", "--timeout", "60")
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    got = tmp_path / "in" / "project"
    assert tree_digest(got) == expected
    assert not (got / "sub" / "link-out").exists() and not (got / "linked-dir").exists()
    assert not (got / "sub" / "pipe").exists()
    assert not (tmp_path / "in" / ".project.part").exists()
    skipped = {e["name"]: e["reason"] for e in events(r.out) if e["event"] == "skipped"}
    assert skipped == {
        "project/linked-dir": "symbolic link",
        "project/sub/link-out": "symbolic link",
        "project/sub/pipe": "not a regular file",
    }
    names = {e["name"] for e in rx.events if e["event"] == "result"}
    assert "project/sub/deeper/b.bin" in names


def test_directory_and_files_in_one_command(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    tree = tmp_path / "d"
    (tree / "x").mkdir(parents=True)
    random_file(tree / "x" / "one.bin", 5000)
    single = random_file(tmp_path / "single.bin", 7000)
    rx = listening_receiver(bob.cli, room, tmp_path / "in", "--count", "2")
    r = alice.cli("send", room, str(single), str(tree), "--timeout", "60", "--no-progress")
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    assert sha(tmp_path / "in" / "single.bin") == sha(single)
    assert sha(tmp_path / "in" / "d" / "x" / "one.bin") == sha(tree / "x" / "one.bin")


def test_existing_directory_is_never_replaced(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    tree = tmp_path / "keep"
    tree.mkdir()
    random_file(tree / "new.bin", 100)
    out = tmp_path / "in"
    (out / "keep").mkdir(parents=True)
    (out / "keep" / "mine.txt").write_text("precious")
    # The receiver skips the offer and listens on until its timeout (20 s, not the helper's 60:
    # the wait is the whole cost of this test).
    rx = listening_receiver(bob.cli, room, out, "--overwrite", "--timeout", "20")
    r = alice.cli("send", room, str(tree), "--timeout", "30", "--no-progress")
    assert r.code == 1 and "exists" in r.err and bob.user.username in r.err
    assert rx.finish() == 1
    assert sorted(p.name for p in (out / "keep").iterdir()) == ["mine.txt"]


def test_receiver_killed_mid_tree_resumes_and_the_tree_appears_at_the_end(
    trio: Any, tmp_path: Path
) -> None:
    room, alice, bob, _ = trio
    tree = tmp_path / "clips"
    tree.mkdir()
    for i in range(4):
        random_file(tree / f"c{i}.bin", 4 * MB)
    out = tmp_path / "in"
    rx = listening_receiver(bob.cli, room, out)
    sender = Background(
        alice.cli, "send", room, str(tree), "--json", "--timeout", "90", "--limit-rate", "4M"
    )
    rx.wait_for(
        lambda e: e.get("event") == "progress" and e["total"] // 3 < e["bytes"] < e["total"]
    )
    rx.kill()
    assert (out / ".clips.part").is_dir() and not (out / "clips").exists()
    rx2 = listening_receiver(bob.cli, room, out)
    assert rx2.finish() == 0, rx2.stderr()
    assert max(e["resumed_from"] for e in rx2.events if e["event"] == "result") > 0
    assert tree_digest(out / "clips") == tree_digest(tree)
    assert not (out / ".clips.part").exists()
    assert sender.finish() == 0, sender.stderr()


def test_sender_killed_mid_batch_resumes_where_the_daemon_stopped(
    trio: Any, tmp_path: Path
) -> None:
    room, alice, bob, _ = trio
    src = tmp_path / "src"
    src.mkdir()
    files = [random_file(src / f"part{i}.bin", 4 * MB) for i in range(3)]
    out = tmp_path / "in"
    # The receiver waits 2 s for the sender to come back, then keeps the .part files.
    rx = listening_receiver(bob.cli, room, out, VIDEONET_RESUME_WAIT="2")
    sender = Background(
        alice.cli, "send", room, *map(str, files), "--json", "--timeout", "60",
        "--limit-rate", "4M",
    )  # fmt: skip
    sender.wait_for(
        lambda e: e.get("event") == "progress" and e["total"] // 3 < e["bytes"] < e["total"]
    )
    sender.proc.send_signal(signal.SIGKILL)
    sender.proc.wait()
    assert rx.finish() == 1 and "incomplete" in rx.result()["reason"]
    assert not any((out / f.name).exists() for f in files)
    rx2 = listening_receiver(bob.cli, room, out, "--count", "3")
    r = alice.cli("send", room, *map(str, files), "--json", "--timeout", "60")
    assert r.code == 0, r.err
    offer = next(e for e in events(r.out) if e["event"] == "offer")
    assert offer["resumed_from"] > 0
    assert rx2.finish() == 0, rx2.stderr()
    for f in files:
        assert sha(out / f.name) == sha(f)


@LOCAL_SPOOL
def test_corrupted_byte_in_a_batch_names_the_file(
    daemon: Daemon, trio: Any, tmp_path: Path
) -> None:
    room, alice, bob, _ = trio
    tree = tmp_path / "t"
    tree.mkdir()
    random_file(tree / "a.bin", MB)
    random_file(tree / "b.bin", MB)
    sender = Background(alice.cli, "send", room, str(tree), "--json", "--timeout", "60")
    sender.wait_for(lambda e: e.get("event") == "uploaded")
    offer = next(e for e in sender.events if e["event"] == "offer")
    spool = daemon.data_dir / "spool" / f"{offer['transfer_id']}.spool"
    with spool.open("r+b") as fh:
        # Inside b.bin: the spool holds records of 1 MiB and a 16-byte tag each (record 1).
        fh.seek(MB + 16 + 10)
        byte = fh.read(1)
        fh.seek(MB + 16 + 10)
        fh.write(bytes([byte[0] ^ 0xFF]))
    out = tmp_path / "in"
    out.mkdir()
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--timeout", "30")
    assert r.code == 1 and "record 1 (t/b.bin) does not verify" in r.err, r.err
    assert list(out.iterdir()) == []
    assert sender.finish() == 1


def test_planted_link_in_the_hidden_directory_is_not_followed(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    tree = tmp_path / "box"
    (tree / "sub").mkdir(parents=True)
    random_file(tree / "sub" / "f.bin", 1000)
    out = tmp_path / "in"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / ".box.part").mkdir(parents=True)
    (out / ".box.part" / "sub").symlink_to(elsewhere, target_is_directory=True)
    rx = listening_receiver(bob.cli, room, out)
    sender = Background(alice.cli, "send", room, str(tree), "--json", "--timeout", "60")
    assert rx.finish() != 0
    assert "cannot write" in rx.stderr()
    assert list(elsewhere.iterdir()) == []
    assert not (out / "box").exists()
    # The receiver declined with its reason: the sender reports it (without the decline it would
    # wait out its --timeout and say there was no verdict).
    assert sender.finish() != 0
    assert "cannot write" in sender.stderr() and "no verdict" not in sender.stderr()


def test_a_large_batch_is_one_line_and_skips_are_warned(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    tree = tmp_path / "many"
    tree.mkdir()
    for i in range(12):
        random_file(tree / f"m{i:02}.txt", 100)
    (tree / "link").symlink_to(tmp_path)
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    r = alice.cli("send", room, str(tree), "--timeout", "60", "--no-progress")
    assert r.code == 0, r.err
    assert "Skipped many/link: symbolic link" in r.err
    assert r.out.count("✓") == 1 and "many/: 12 files, 1.2 KB, verified" in r.out
    assert rx.finish() == 0


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "/etc/x",
        "a/../../x",
        "a//b",
        "a/./b",
        "a\\b",
        "a\x00b",
        "a\x7fb",
        "a\ud800",
        "x" * 256,
    ],
)
def test_receiver_refuses_hostile_paths_on_its_own(path: str) -> None:
    from videonet_cli.errors import CliError
    from videonet_cli.transfer.tree import check_manifest, path_problem

    assert path_problem(path) is not None
    with pytest.raises(CliError):
        check_manifest("directory", [{"path": path, "size": 1}])


def test_receiver_refuses_duplicates_and_file_directory_clashes() -> None:
    from videonet_cli.errors import CliError
    from videonet_cli.transfer.tree import check_manifest

    for entries in (["a", "a"], ["a", "a/b"], ["x/y", "x/y/z"]):
        with pytest.raises(CliError):
            check_manifest("directory", [{"path": p, "size": 0} for p in entries])
    with pytest.raises(CliError):
        check_manifest("files", [{"path": "a/b", "size": 0}])
    check_manifest("directory", [{"path": "a/b", "size": 0}, {"path": "a/c", "size": 0}])
