"""`videonet send` / `receive` end to end through the real daemon, with faults and bad input."""

from __future__ import annotations

import hashlib
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
    paced_send,
    past_a_quarter,
    random_file,
    with_device_keys,
)

from conftest import LOCAL_SPOOL, Daemon, http

MB = 1 << 20


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def trio(daemon: Daemon, tmp_path: Path) -> tuple[str, Member, Member, Member]:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice)
    bob, carol = member(daemon, tmp_path, room), member(daemon, tmp_path, room)
    with_device_keys(bob, carol)
    return room, alice, bob, carol


def test_send_and_receive_verified(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "clip.bin", 5 * MB + 123)
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    r = alice.cli("send", room, str(src), "--json", "--timeout", "60")
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    got = tmp_path / "in" / "clip.bin"
    assert sha(got) == sha(src)
    assert not (tmp_path / "in" / "clip.bin.part").exists()
    result = [
        e for e in map(__import__("json").loads, r.out.splitlines()) if e["event"] == "result"
    ]
    assert result[0]["ok"] is True and result[0]["sha256"] == sha(src)
    assert [v["username"] for v in result[0]["receivers"]] == [bob.user.username]
    assert rx.result()["sha256"] == sha(src)
    kinds = {e["event"] for e in rx.events}
    assert {"listening", "offer", "progress", "result"} <= kinds


def test_two_receivers_each_verdict_reaches_the_sender(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, carol = trio
    src = random_file(tmp_path / "both.bin", 3 * MB)
    rx_bob = listening_receiver(bob.cli, room, tmp_path / "bob")
    rx_carol = listening_receiver(carol.cli, room, tmp_path / "carol")
    r = alice.cli("send", room, str(src), "--json", "--timeout", "60")
    assert r.code == 0, r.err
    assert rx_bob.finish() == 0 and rx_carol.finish() == 0
    assert sha(tmp_path / "bob" / "both.bin") == sha(tmp_path / "carol" / "both.bin") == sha(src)
    assert "verified by" not in r.out  # JSON mode prints JSON only
    assert sorted(
        __import__("json").loads(r.out.splitlines()[-1])["receivers"][i]["username"]
        for i in range(2)
    ) == sorted([bob.user.username, carol.user.username])


def test_several_files_and_a_zero_byte_file(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    a = random_file(tmp_path / "a.bin", MB)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    rx = listening_receiver(bob.cli, room, tmp_path / "in", "--count", "2")
    r = alice.cli("send", room, str(a), str(empty), "--timeout", "60", "--no-progress")
    assert r.code == 0, r.err
    assert r.out.count("✓") == 2
    assert rx.finish() == 0
    assert (tmp_path / "in" / "empty.txt").read_bytes() == b""
    assert sha(tmp_path / "in" / "a.bin") == sha(a)


def test_to_one_member_only(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, carol = trio
    src = random_file(tmp_path / "private.bin", MB)
    rx_carol = listening_receiver(carol.cli, room, tmp_path / "carol", "--timeout", "3")
    rx_bob = listening_receiver(bob.cli, room, tmp_path / "bob")
    r = alice.cli("send", room, str(src), "--to", bob.user.username, "--timeout", "60")
    assert r.code == 0, r.err
    assert rx_bob.finish() == 0
    assert rx_carol.finish() == 1  # nothing was offered to carol
    assert not (tmp_path / "carol" / "private.bin").exists()
    r = alice.cli("send", room, str(src), "--to", "nobody-here", "--timeout", "5")
    assert r.code == 4 and "not a member" in r.err


def test_late_receiver_gets_it_from_the_spool(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "later.bin", 2 * MB)
    sender = Background(alice.cli, "send", room, str(src), "--json", "--timeout", "60")
    sender.wait_for(lambda e: e.get("event") == "uploaded")
    (tmp_path / "in").mkdir()
    r = bob.cli(
        "receive", room, "--yes", "--out", str(tmp_path / "in"), "--json", "--timeout", "30"
    )
    assert r.code == 0, r.err
    assert sender.finish() == 0
    assert sha(tmp_path / "in" / "later.bin") == sha(src)


def test_bad_files_to_send(trio: Any, tmp_path: Path) -> None:
    room, alice, _, _ = trio
    r = alice.cli("send", room, str(tmp_path / "missing.bin"))
    assert r.code == 4 and r.err.strip() == f"Error: no such file: {tmp_path / 'missing.bin'}"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = alice.cli("send", room, str(fifo))
    assert r.code == 2 and "not a regular file" in r.err
    one = random_file(tmp_path / "dup.bin", 10)
    (tmp_path / "sub").mkdir()
    two = random_file(tmp_path / "sub" / "dup.bin", 10)
    r = alice.cli("send", room, str(one), str(two))
    assert r.code == 2 and "same name" in r.err


def test_non_member_cannot_offer_or_fetch(daemon: Daemon, trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    outsider = member(daemon, tmp_path)
    src = random_file(tmp_path / "secret.bin", MB)
    r = outsider.cli("send", room, str(src), "--timeout", "5")
    assert r.code == 3 and "not a member" in r.err
    r = outsider.cli("receive", room, "--yes", "--out", str(tmp_path), "--timeout", "2")
    assert r.code == 3
    sender = Background(alice.cli, "send", room, str(src), "--json", "--timeout", "60")
    offer = sender.wait_for(lambda e: e.get("event") == "uploaded")
    offer = next(e for e in sender.events if e["event"] == "offer")
    url = daemon.api(f"/api/transfers/{offer['transfer_id']}/data")
    status, body, _ = http("GET", url, token=outsider.user.token)
    # As for an id that does not exist (issue 23): neither whether it exists nor its room.
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body, _ = http("PUT", url + "?offset=0", token=bob.user.token, raw=b"x")
    assert status == 403
    rx = listening_receiver(bob.cli, room, tmp_path / "bob")
    assert rx.finish() == 0 and sender.finish() == 0


def test_existing_file_is_not_overwritten_without_flag(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "keep.bin", MB)
    out = tmp_path / "in"
    out.mkdir()
    (out / "keep.bin").write_bytes(b"precious")
    # The receiver skips the offer and listens on until its timeout (20 s, not the helper's 60:
    # the wait is the whole cost of this test).
    rx = listening_receiver(bob.cli, room, out, "--timeout", "20")
    r = alice.cli("send", room, str(src), "--timeout", "30", "--no-progress")
    assert r.code == 1 and "exists" in r.err and bob.user.username in r.err
    assert rx.finish() == 1
    assert (out / "keep.bin").read_bytes() == b"precious"
    # The declined offer is still in the spool: --overwrite takes it without a new send.
    rx = listening_receiver(bob.cli, room, out, "--overwrite")
    assert rx.finish() == 0
    assert sha(out / "keep.bin") == sha(src)


def test_receive_times_out_when_nothing_is_offered(trio: Any, tmp_path: Path) -> None:
    room, _, bob, _ = trio
    r = bob.cli("receive", room, "--yes", "--out", str(tmp_path), "--timeout", "1")
    assert r.code == 1 and "no file was offered" in r.err
    r = bob.cli("receive", room, "--yes", "--out", str(tmp_path / "nope"), "--timeout", "1")
    assert r.code == 2 and "not a directory" in r.err


def test_a_part_file_of_another_transfer_is_never_a_verified_prefix(
    trio: Any, tmp_path: Path
) -> None:
    """Finding 7: a `NAME.part` this device did not write for this very transfer (left by
    another transfer of the same name, by the plaintext protocol, or planted) is not reused: the
    file is fetched whole and arrives right. Fails on the code before this change, which
    re-hashed the planted bytes as a verified prefix and ended in a SHA-256 mismatch."""
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "resume.bin", 4 * MB)
    out = tmp_path / "in"
    out.mkdir()
    (out / "resume.bin.part").write_bytes(os.urandom(3 * MB // 2))
    rx = listening_receiver(bob.cli, room, out)
    r = alice.cli("send", room, str(src), "--timeout", "60")
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    assert rx.result()["resumed_from"] == 0
    assert sha(out / "resume.bin") == sha(src)


def test_receiver_killed_half_way_then_resumed(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "big.bin", 16 * MB)
    out = tmp_path / "in"
    rx = listening_receiver(bob.cli, room, out)
    # Paced, so the kill lands while bytes are still moving (about 4 s in all).
    sender = paced_send(alice, room, src, timeout="90")
    rx.wait_for(past_a_quarter)
    rx.kill()
    assert not (out / "big.bin").exists()
    assert (out / "big.bin.part").exists()
    rx2 = listening_receiver(bob.cli, room, out)
    assert rx2.finish() == 0, rx2.stderr()
    assert rx2.result()["resumed_from"] > 0
    assert sha(out / "big.bin") == sha(src)
    assert sender.finish() == 0


def test_sender_killed_half_way_then_resumed(trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "half.bin", 16 * MB)
    out = tmp_path / "in"
    # The receiver waits 2 s for the sender to come back, then keeps the .part for later.
    rx = listening_receiver(bob.cli, room, out, VIDEONET_RESUME_WAIT="2")
    sender = paced_send(alice, room, src)
    sender.wait_for(past_a_quarter)
    sender.proc.send_signal(signal.SIGKILL)
    sender.proc.wait()
    assert rx.finish() == 1
    reason = rx.result()["reason"]
    assert "incomplete" in reason and "did not resume the send within 2 s" in reason
    assert (out / "half.bin.part").exists() and not (out / "half.bin").exists()

    rx2 = listening_receiver(bob.cli, room, out)
    r = alice.cli("send", room, str(src), "--json", "--timeout", "60")
    assert r.code == 0, r.err
    assert '"resumed_from":0' not in r.out.splitlines()[0]
    assert rx2.finish() == 0
    assert sha(out / "half.bin") == sha(src)


@LOCAL_SPOOL
def test_corrupted_byte_is_detected(daemon: Daemon, trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    src = random_file(tmp_path / "flip.bin", 2 * MB)
    sender = Background(alice.cli, "send", room, str(src), "--json", "--timeout", "60")
    sender.wait_for(lambda e: e.get("event") == "uploaded")
    offer = next(e for e in sender.events if e["event"] == "offer")
    spool = daemon.data_dir / "spool" / f"{offer['transfer_id']}.spool"
    with spool.open("r+b") as fh:
        fh.seek(MB)
        byte = fh.read(1)
        fh.seek(MB)
        fh.write(bytes([byte[0] ^ 0xFF]))
    (tmp_path / "in").mkdir()
    r = bob.cli("receive", room, "--yes", "--out", str(tmp_path / "in"), "--timeout", "30")
    # Byte 1 MiB lies in the first encrypted record (1 MiB + its 16-byte tag): its tag fails.
    assert r.code == 1 and "encrypted record 0 does not verify" in r.err
    assert not (tmp_path / "in" / "flip.bin").exists()
    assert not (tmp_path / "in" / "flip.bin.part").exists()
    assert sender.finish() == 1
    assert f"{bob.user.username}: encrypted record 0 does not verify" in sender.stderr()


def test_limit_rate_bad_values(trio: Any, tmp_path: Path) -> None:
    room, alice, _, _ = trio
    src = random_file(tmp_path / "r.bin", 10)
    for bad in ("fast", "10", "-5M"):
        r = alice.cli("send", room, str(src), "--limit-rate", bad)
        assert r.code == 2 and "--limit-rate" in r.err, bad
