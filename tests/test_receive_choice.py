"""Which offer `receive` takes and what it says (issue 27): the newest offer first, an old one
that cannot land skipped with one line, `--list`, `receive` with no room (every room, what is
addressed to you), a sender that stops half-way waited for, received directories' modes, and
the words around `--code` and the prompt. The real CLI against the real daemon."""

from __future__ import annotations

import os
import re
import signal
import stat
from pathlib import Path
from typing import Any

import pytest

from terminal import finish, spawn
from transfer_helpers import (
    MB,
    Background,
    Member,
    json_events,
    listening_receiver,
    make_room,
    member,
    random_file,
    room_with_receivers,
    sha256_of,
    with_device_keys,
)

from conftest import Daemon, http

pytestmark = pytest.mark.one_pass("client side: which offer the CLI takes and what it says")


def room_name(daemon: Daemon, room: str, who: Member) -> str:
    status, body, _ = http("GET", daemon.api(f"/api/rooms/{room}"), token=who.user.token)
    assert status == 200, body
    return str(body["name"])


@pytest.fixture
def pair(daemon: Daemon, tmp_path: Path) -> tuple[str, Member, Member]:
    room, alice, (bob,) = room_with_receivers(daemon, tmp_path, 1, "pick")
    return room, alice, bob


def send_no_wait(who: Member, room: str, *paths: Path) -> None:
    r = who.cli("send", room, *map(str, paths), "--no-wait", "--no-progress")
    assert r.code == 0, r.err


def test_the_newest_offer_is_taken_first(pair: Any, tmp_path: Path) -> None:
    room, alice, bob = pair
    old = tmp_path / "old"
    old.mkdir()
    send_no_wait(alice, room, random_file(old / "hi.txt", 1000))
    new = random_file(tmp_path / "wanted.txt", 2000)
    send_no_wait(alice, room, new)
    out = tmp_path / "in"
    out.mkdir()
    # Even with --overwrite (which would let the old hi.txt land), the new file comes first.
    r = bob.cli("receive", room, "--yes", "--overwrite", "--out", str(out), "--json")
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["wanted.txt"]
    assert sha256_of(out / "wanted.txt") == sha256_of(new)


def test_an_old_offer_that_cannot_land_is_skipped_with_one_line(pair: Any, tmp_path: Path) -> None:
    room, alice, bob = pair
    out = tmp_path / "in"
    out.mkdir()
    (out / "note2.txt").write_bytes(b"mine")
    old = tmp_path / "old"
    old.mkdir()
    send_no_wait(alice, room, random_file(old / "note2.txt", 500))
    # The receiver starts first (as a person does, then tells the sender to go ahead): the old
    # offer is looked at, skipped with a line, and the run goes on to the file sent next.
    rx = listening_receiver(bob.cli, room, out)
    skipped = rx.wait_for(lambda e: e.get("event") == "offer_skipped")
    assert skipped["name"] == "note2.txt" and skipped["sender"] == alice.user.username
    assert "exists (use --overwrite to replace it)" in skipped["reason"]
    new = random_file(tmp_path / "cutlist.txt", 19)
    send_no_wait(alice, room, new)
    assert rx.finish() == 0, rx.stderr()
    assert rx.result()["ok"] and rx.result()["name"] == "cutlist.txt"
    assert sha256_of(out / "cutlist.txt") == sha256_of(new)
    assert (out / "note2.txt").read_bytes() == b"mine"

    # Without --json, the skip is one line a person reads, and the exit is 0.
    send_no_wait(alice, room, random_file(old / "note2.txt", 600))
    send_no_wait(alice, room, random_file(tmp_path / "second.txt", 700))
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--count", "2", "--timeout", "5")
    assert r.code == 0, r.err
    lines = [line for line in r.err.splitlines() if line.startswith("Skipped")]
    assert len(lines) == 1, r.err
    assert lines[0].startswith(f"Skipped note2.txt from {alice.user.username} (in ")
    assert lines[0].endswith(f"{out / 'note2.txt'} exists (use --overwrite to replace it)")
    assert (out / "second.txt").exists() and (out / "note2.txt").read_bytes() == b"mine"


def test_the_prompt_shows_the_plaintext_size(pair: Any, tmp_path: Path) -> None:
    room, alice, bob = pair
    send_no_wait(alice, room, random_file(tmp_path / "cutlist.txt", 19))
    out = tmp_path / "in"
    out.mkdir()
    child = spawn(bob.cli.env(), "receive", room, "--out", str(out))
    child.expect(
        rf"{alice.user.username} \(device [^,]+, identity pinned\) offers cutlist\.txt \(19 B\)\. "
        r"Accept\? \[y/N\]"
    )
    child.sendline("y")
    assert finish(child) == 0
    assert (out / "cutlist.txt").stat().st_size == 19


def test_list_shows_the_pending_offers_newest_first(
    daemon: Daemon, pair: Any, tmp_path: Path
) -> None:
    room, alice, bob = pair
    send_no_wait(alice, room, random_file(tmp_path / "first.bin", 3000))
    box = tmp_path / "box"
    (box / "sub").mkdir(parents=True)
    random_file(box / "a.bin", 100)
    random_file(box / "sub" / "b.bin", 200)
    send_no_wait(alice, room, box)
    out = tmp_path / "in"
    out.mkdir()
    r = bob.cli("receive", room, "--list", "--out", str(out))
    assert r.code == 0, r.err
    name = room_name(daemon, room, bob)
    lines = r.out.strip().splitlines()
    assert len(lines) == 2, r.out
    assert re.fullmatch(
        rf"\d\d:\d\d  {name}  {alice.user.username}: box/ \(2 files\), 300 B", lines[0]
    ), lines
    assert re.fullmatch(rf"\d\d:\d\d  {name}  {alice.user.username}: first\.bin, 3\.0 KB", lines[1])
    r = bob.cli("receive", "--list", "--json")  # no room: every room bob is in
    assert r.code == 0, r.err
    listed = json_events(r.out)
    assert [(e["name"], e["size"], e["for_you"]) for e in listed] == [
        ("box", 300, True),
        ("first.bin", 3000, True),
    ]
    assert list(out.iterdir()) == []  # nothing taken...
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--count", "2")
    assert r.code == 0, r.err  # ...nor declined: both are still there to take
    assert sorted(p.name for p in out.iterdir()) == ["box", "first.bin"]
    r = bob.cli("receive", room, "--list")
    assert r.code == 0 and r.out.strip() == "No offers are waiting for you."


def test_receive_without_a_room_takes_what_is_addressed_to_you_anywhere(
    daemon: Daemon, pair: Any, tmp_path: Path
) -> None:
    room, alice, bob = pair
    other = make_room(daemon, alice, "other")
    status, body, _ = http("POST", daemon.api(f"/api/rooms/{other}/join"), {}, token=bob.user.token)
    assert status == 200, body
    out = tmp_path / "in"
    out.mkdir()
    src = random_file(tmp_path / "there.bin", 5000)
    send_no_wait(alice, other, src)
    r = bob.cli("receive", "--yes", "--out", str(out), "--json", "--timeout", "20")
    assert r.code == 0, r.err
    listening = json_events(r.out)[0]
    assert listening["event"] == "listening" and listening["every_room"] is True
    assert sorted(listening["rooms"]) == sorted(
        [room_name(daemon, room, bob), room_name(daemon, other, bob)]
    )
    assert sha256_of(out / "there.bin") == sha256_of(src)

    # An offer whose signed header names none of carol's devices (she joined after it) is not
    # hers: room-less receive leaves it alone.
    send_no_wait(alice, room, random_file(tmp_path / "before.bin", 100))
    carol = member(daemon, tmp_path, room)
    with_device_keys(carol)
    r = carol.cli("receive", "--yes", "--out", str(out), "--timeout", "3")
    assert r.code == 1
    assert r.err.strip().splitlines()[-1] == (
        "Error: no file was offered in "
        f"{room_name(daemon, room, carol)} within 3 s (1 offer not addressed to you)"
    )
    assert not (out / "before.bin").exists()


def test_a_receiver_waits_for_an_interrupted_sender(pair: Any, tmp_path: Path) -> None:
    room, alice, bob = pair
    src = random_file(tmp_path / "big.bin", 12 * MB)
    out = tmp_path / "in"
    rx = listening_receiver(bob.cli, room, out, VIDEONET_RESUME_WAIT="120")
    child = spawn(alice.cli.env(), "send", room, str(src), "--limit-rate", "2M")
    rx.wait_for(lambda e: e.get("event") == "progress" and e["bytes"] > MB)
    child.sendintr()
    assert finish(child) == 130
    stopped = rx.wait_for(lambda e: e.get("event") == "sender_stopped")
    assert stopped["sender"] == alice.user.username and stopped["wait"] == 120
    assert 0 < stopped["received"] < 12 * MB
    # The same send again resumes the upload; the receiver goes on where it was.
    r = alice.cli("send", room, str(src), "--json", "--timeout", "60")
    assert r.code == 0, r.err
    assert json_events(r.out)[-1]["receivers"][0]["ok"] is True
    assert rx.finish() == 0, rx.stderr()
    assert any(e.get("event") == "sender_resumed" for e in rx.events)
    assert rx.result()["ok"] and rx.result()["resumed_from"] == 0
    assert sha256_of(out / "big.bin") == sha256_of(src)
    assert not (out / "big.bin.part").exists()


def test_a_receiver_gives_up_on_a_sender_that_does_not_come_back(pair: Any, tmp_path: Path) -> None:
    room, alice, bob = pair
    src = random_file(tmp_path / "gone.bin", 12 * MB)
    out = tmp_path / "in"
    out.mkdir()
    rx = spawn(bob.cli.env(VIDEONET_RESUME_WAIT="3"), "receive", room, "--yes", "--out", str(out))
    sender = Background(alice.cli, "send", room, str(src), "--json", "--limit-rate", "2M")
    sender.wait_for(lambda e: e.get("event") == "progress" and e["bytes"] > MB)
    sender.proc.send_signal(signal.SIGINT)
    assert sender.finish() == 130
    rx.expect(
        rf"gone\.bin: {alice.user.username} stopped sending at \d+\.\d MB of 12\.6 MB; waiting "
        r"up to 3 s for the send to resume \(VIDEONET_RESUME_WAIT sets how long\)"
    )
    rx.expect(
        rf"gone\.bin: incomplete: \d+ of {12 * MB} bytes arrived; {alice.user.username} "
        r"did not resume the send within 3 s \(kept in gone\.bin\.part; run `videonet receive "
        rf"\S+ --out {out}` again to resume\)"
    )
    assert finish(rx) == 1
    assert (out / "gone.bin.part").exists() and not (out / "gone.bin").exists()


def test_a_received_directory_has_the_senders_modes_top_included(pair: Any, tmp_path: Path) -> None:
    room, alice, bob = pair
    box = tmp_path / "box"
    (box / "sub" / "deeper").mkdir(parents=True)
    random_file(box / "a.bin", 100)
    random_file(box / "sub" / "deeper" / "b.bin", 100)
    for d in (box, box / "sub", box / "sub" / "deeper"):
        d.chmod(0o755)
    send_no_wait(alice, room, box)
    out = tmp_path / "in"
    out.mkdir()
    r = bob.cli("receive", room, "--yes", "--out", str(out))
    assert r.code == 0, r.err
    umask = os.umask(0)
    os.umask(umask)
    want = 0o755 & ~umask
    for d in (out / "box", out / "box" / "sub", out / "box" / "sub" / "deeper"):
        mode = stat.S_IMODE(d.stat().st_mode)
        assert mode == want, f"{d}: {mode:o} != {want:o}"


def test_code_words_name_the_room_and_the_flag(daemon: Daemon, pair: Any, tmp_path: Path) -> None:
    room, alice, bob = pair
    name = room_name(daemon, room, alice)
    src = random_file(tmp_path / "coded.bin", 1000)
    child = spawn(alice.cli.env(), "send", room, str(src), "--code=", "--timeout", "3")
    child.expect(rf"videonet receive {name} --code (\S+)\)")
    code = child.match.group(1)
    child.expect(
        rf"coded\.bin: uploaded; waiting for the one with the code to run "
        rf"`videonet receive {name} --code`"
    )
    child.expect(
        rf"nobody used the code {code} within 3 s: the other side runs "
        rf"`videonet receive {name} --code` and types it"
    )
    assert finish(child) == 1
    out = tmp_path / "in"
    out.mkdir()
    rx = spawn(
        bob.cli.env(VIDEONET_CODE=code),
        "receive",
        room,
        "--yes",
        "--out",
        str(out),
        "--timeout",
        "2",
        "--code",
    )
    rx.expect(rf"Looking for the sender of code {code.split('-')[0]}-… in {name}…")
    assert finish(rx) == 1


def test_the_code_line_is_one_line_however_long(daemon: Daemon, tmp_path: Path) -> None:
    # A long room name puts the code line past the terminal's 120 columns: the terminal may wrap
    # it, but no newline may land inside the command the other side copies (Rich hard-wrapped it
    # at the console's width before, and with long code words the command broke in two).
    room, alice, _ = room_with_receivers(daemon, tmp_path, 1, "a-studio-with-a-long-name-" * 3)
    name = room_name(daemon, room, alice)
    src = random_file(tmp_path / "a-file-with-a-long-name-too.bin", 1000)
    child = spawn(alice.cli.env(), "send", room, str(src), "--code=", "--timeout", "1")
    child.expect(
        r"Code for a-file-with-a-long-name-too\.bin: (\S+)  \(on the other side: ([^\r\n]+)\)"
    )
    code, command = child.match.group(1), child.match.group(2)
    assert len(child.match.group(0)) > 120  # longer than the terminal is wide
    assert command == f"videonet receive {name} --code {code}"
    assert finish(child) == 1


def test_receive_in_a_room_you_have_not_joined_says_how(
    daemon: Daemon, pair: Any, tmp_path: Path
) -> None:
    room, alice, _ = pair
    dan = member(daemon, tmp_path)
    r = dan.cli("receive", room, "--yes", "--timeout", "2", "--out", str(tmp_path))
    assert r.code == 3, r.err
    name = room_name(daemon, room, alice)
    assert r.err.strip().endswith(f": run `videonet rooms join {name}` first"), r.err


def test_a_newer_offer_without_a_key_for_you_does_not_stop_the_older_one(
    daemon: Daemon, pair: Any, tmp_path: Path
) -> None:
    room, alice, bob = pair
    carol = member(daemon, tmp_path, room)
    mine = random_file(tmp_path / "mine.bin", 4000)
    send_no_wait(alice, room, mine)
    # A --code send is encrypted for carol's own devices alone: bob sees it, newest, and has no
    # key for it; it is skipped with its reason and the older file is taken.
    coded = Background(
        carol.cli, "send", room, str(random_file(tmp_path / "coded.bin", 100)), "--json",
        "--code=", "--timeout", "60",
    )  # fmt: skip
    try:
        coded.wait_for(lambda e: e.get("event") == "uploaded")
        out = tmp_path / "in"
        out.mkdir()
        r = bob.cli("receive", room, "--yes", "--out", str(out), "--json", VIDEONET_KEY_WAIT="2")
        assert r.code == 0, r.err
        got = json_events(r.out)
        skipped = [e for e in got if e["event"] == "offer_skipped"]
        assert [e["name"] for e in skipped] == ["coded.bin"], got
        assert "was not encrypted for this device" in skipped[0]["reason"]
        assert sorted(p.name for p in out.iterdir()) == ["mine.bin"]
        assert sha256_of(out / "mine.bin") == sha256_of(mine)
    finally:
        coded.kill()
