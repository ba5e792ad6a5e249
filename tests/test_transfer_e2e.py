"""End-to-end encryption of transfers against the real daemon: what the spool holds, tampering
with it, pinned keys, resume after kill -9, and devices that appear after the offer."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
from pathlib import Path
from typing import Any

import pytest
import socketio

from transfer_helpers import Background, Member, listening_receiver, make_room, member, random_file
from videonet_protocol import protocol

from conftest import Cli, Daemon, http

pytestmark = pytest.mark.one_pass(
    "client-side encryption; encrypted sends (wrapped keys) run on PostgreSQL in test_scaleout, "
    "test_code_scaleout and test_object_storage in both passes"
)

MB = 1 << 20
RECORD = protocol.E2E_RECORD_BYTES + protocol.E2E_TAG_BYTES  # one full record in the spool


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish_key(who: Member) -> str:
    """What a first `videonet login` does on a device: make and publish its key pair."""
    r = who.cli("keys", "--json")
    assert r.code == 0, r.err
    return str(json.loads(r.out)["fingerprint"])


def spool_of(daemon: Daemon, transfer_id: str) -> Path:
    return daemon.data_dir / "spool" / f"{transfer_id}.spool"


@pytest.fixture
def trio(daemon: Daemon, tmp_path: Path) -> tuple[str, Member, Member, Member]:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "e2e")
    return room, alice, member(daemon, tmp_path, room), member(daemon, tmp_path, room)


def sent_offline(alice: Member, room: str, src: Path) -> dict[str, Any]:
    """alice sends and leaves (--no-wait); returns her offer event."""
    r = alice.cli("send", room, str(src), "--json", "--no-wait")
    assert r.code == 0, r.err
    return next(e for e in map(json.loads, r.out.splitlines()) if e.get("event") == "offer")


def test_spool_holds_no_plaintext(daemon: Daemon, trio: Any, tmp_path: Path) -> None:
    room, alice, bob, _ = trio
    marker = b"VIDEONET-PLAINTEXT-MARKER-"
    src = tmp_path / "marker.bin"
    src.write_bytes(marker * (3 * MB // len(marker)))
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    r = alice.cli("send", room, str(src), "--json", "--timeout", "60")
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    assert sha(tmp_path / "in" / "marker.bin") == sha(src)
    offer = next(e for e in map(json.loads, r.out.splitlines()) if e.get("event") == "offer")
    spooled = spool_of(daemon, offer["transfer_id"]).read_bytes()
    assert len(spooled) == protocol.e2e_ciphertext_size(src.stat().st_size)
    assert marker not in spooled and marker[:12] not in spooled
    # Nor anywhere else the daemon writes: its database holds wrapped keys, not the file.
    for path in daemon.data_dir.rglob("*"):
        if path.is_file() and path.stat().st_size < 64 * MB:
            assert marker not in path.read_bytes(), path


def _flip(data: bytearray) -> bytearray:
    data[RECORD + 100] ^= 0x01  # one bit inside record 1
    return data


def _drop(data: bytearray) -> bytearray:
    return data[:RECORD] + data[2 * RECORD :]  # record 1 gone, the rest moved up


def _swap(data: bytearray) -> bytearray:
    return (
        data[:RECORD]
        + data[2 * RECORD : 3 * RECORD]
        + data[RECORD : 2 * RECORD]
        + data[3 * RECORD :]
    )


def _truncate(data: bytearray) -> bytearray:
    return data[: 3 * RECORD]  # the final record cut off, at a record boundary


@pytest.mark.parametrize(
    ("tamper", "said"),
    [
        (_flip, "encrypted record 1 does not verify"),
        (_drop, "encrypted record 1 does not verify"),
        (_swap, "encrypted record 1 does not verify"),
        (_truncate, "incomplete"),
    ],
    ids=["flipped-byte", "dropped-record", "swapped-records", "truncated"],
)
def test_tampered_spool_is_detected(
    daemon: Daemon, trio: Any, tmp_path: Path, tamper: Any, said: str
) -> None:
    room, alice, bob, _ = trio
    publish_key(bob)
    src = random_file(tmp_path / "t.bin", 3 * MB + 12345)  # records 0-2 full, 3 final
    offer = sent_offline(alice, room, src)
    spool = spool_of(daemon, offer["transfer_id"])
    spool.write_bytes(bytes(tamper(bytearray(spool.read_bytes()))))
    out = tmp_path / "in"
    out.mkdir()
    r = bob.cli("receive", room, "--yes", "--json", "--out", str(out), "--timeout", "20")
    assert r.code == 1, r.err
    assert said in r.err
    assert not (out / "t.bin").exists()  # nothing under the final name, ever
    if said != "incomplete":
        assert not (out / "t.bin.part").exists()
    else:
        # Only verified records were written: the first three, whole.
        assert (out / "t.bin.part").read_bytes() == src.read_bytes()[: 3 * MB]
    assert daemon.proc.poll() is None


def test_changed_identity_is_refused_until_verified(trio: Any, tmp_path: Path) -> None:
    """bob's identity is replaced (as when every device and the recovery key are lost): alice's
    send stops with the one warning (exit 6) until she compares safety numbers with bob."""
    room, alice, bob, _ = trio
    publish_key(bob)
    first = random_file(tmp_path / "first.bin", MB)
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    r = alice.cli("send", room, str(first), "--to", bob.user.username)  # bob's identity pinned
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    r = bob.cli("devices", "new-identity", "--yes", "--json")
    assert r.code == 0, r.err
    src = random_file(tmp_path / "k.bin", MB)
    r = alice.cli("send", room, str(src), "--timeout", "10")
    assert r.code == 6, r.err
    assert f"{bob.user.username}'s identity changed" in r.err
    assert len(r.err.strip().splitlines()) == 1  # the one line, not one per device
    number = alice.cli("keys", "verify", bob.user.username, "--json").json()["safety_number"]
    theirs = bob.cli("keys", "verify", alice.user.username, "--json").json()["safety_number"]
    assert number == theirs
    dashed = "-".join(number[i : i + 5] for i in range(0, 60, 5))
    r = alice.cli("keys", "trust", bob.user.username, dashed)
    assert r.code == 0, r.err
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    r = alice.cli("send", room, str(src), "--to", bob.user.username, "--timeout", "60")
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    assert sha(tmp_path / "in" / "k.bin") == sha(src)


def _past_a_quarter(event: dict[str, Any]) -> bool:
    return bool(
        event.get("event") == "progress" and event["total"] // 4 < event["bytes"] < event["total"]
    )


def test_resume_after_kill_keeps_the_key_and_a_changed_file_gets_a_new_one(
    trio: Any, tmp_path: Path
) -> None:
    room, alice, bob, _ = trio
    publish_key(bob)
    src = random_file(tmp_path / "r.bin", 12 * MB)
    sender = Background(
        alice.cli, "send", room, str(src), "--json", "--no-wait", "--limit-rate", "4M"
    )
    first = sender.wait_for(lambda e: e.get("event") == "offer")
    sender.wait_for(_past_a_quarter)
    sender.proc.send_signal(signal.SIGKILL)
    sender.proc.wait()

    r = alice.cli("send", room, str(src), "--json", "--no-wait")
    assert r.code == 0, r.err
    again = next(e for e in map(json.loads, r.out.splitlines()) if e.get("event") == "offer")
    assert again["transfer_id"] == first["transfer_id"]  # resumed: the same key and records
    assert again["resumed_from"] > 0 and again["resumed_from"] % MB == 0
    out = tmp_path / "in"
    out.mkdir()
    r = bob.cli("receive", room, "--yes", "--json", "--out", str(out), "--timeout", "20")
    assert r.code == 0, r.err
    assert sha(out / "r.bin") == sha(src)

    # Killed again half way, then the file changes: never the old key over new bytes.
    sender = Background(
        alice.cli, "send", room, str(src), "--json", "--no-wait", "--limit-rate", "4M"
    )
    third = sender.wait_for(lambda e: e.get("event") == "offer")
    sender.wait_for(_past_a_quarter)
    sender.proc.send_signal(signal.SIGKILL)
    sender.proc.wait()
    with src.open("r+b") as fh:
        fh.write(b"changed")
    r = alice.cli("send", room, str(src), "--json", "--no-wait")
    assert r.code == 0, r.err
    fourth = next(e for e in map(json.loads, r.out.splitlines()) if e.get("event") == "offer")
    assert fourth["transfer_id"] != third["transfer_id"] and fourth["resumed_from"] == 0
    r = bob.cli(
        "receive", room, "--yes", "--json", "--overwrite", "--out", str(out), "--timeout", "20"
    )
    assert r.code == 0, r.err
    assert sha(out / "r.bin") == sha(src)


def test_three_receivers_one_device_appears_after_the_offer(
    daemon: Daemon, trio: Any, tmp_path: Path
) -> None:
    room, alice, bob, carol = trio
    dave = member(daemon, tmp_path, room)
    # dave's identity exists at offer time (alice pins it); his second device, restored from
    # his recovery key as a CI runner would be, appears only after the offer.
    made = dave.cli("devices", "--json")
    assert made.code == 0, made.err
    recovery = made.json()["recovery_key"]
    dave_ci = Cli(daemon.url, tmp_path / "dave-ci", dave.user.token)
    src = random_file(tmp_path / "late.bin", 8 * MB)
    rx_bob = listening_receiver(bob.cli, room, tmp_path / "bob")
    rx_carol = listening_receiver(carol.cli, room, tmp_path / "carol")
    # bob's receiver is held (SIGSTOP) until dave has the file: the sender waits for bob's
    # verdict, so it still runs when dave's first command starts, however slow the machine
    # (no pacing to guess: before, a 12 s upload kept it running).
    rx_bob.proc.send_signal(signal.SIGSTOP)
    try:
        sender = Background(
            alice.cli, "send", room, str(src), "--json", "--timeout", "90", "--limit-rate", "4M"
        )
        sender.wait_for(lambda e: e.get("event") == "offer")
        # The new device's first command restores the identity and certifies itself; the
        # running sender wraps the file key for it (certified by the identity alice pinned).
        rx_dave = listening_receiver(
            dave_ci, room, tmp_path / "dave", VIDEONET_RECOVERY_KEY=recovery
        )
        assert rx_dave.finish() == 0, rx_dave.stderr()
        assert sender.proc.poll() is None  # still waiting for bob
    finally:
        rx_bob.proc.send_signal(signal.SIGCONT)
    assert sha(tmp_path / "dave" / "late.bin") == sha(src)
    for rx, name in ((rx_bob, "bob"), (rx_carol, "carol")):
        assert rx.finish() == 0, rx.stderr()
        assert sha(tmp_path / name / "late.bin") == sha(src)
    assert sender.finish() == 0, sender.stderr()
    assert any(e.get("event") == "key_sent" for e in sender.events)
    verdicts = sender.result()["receivers"]
    assert len(verdicts) == 3 and all(v["ok"] for v in verdicts)

    # A device that appears after the sender has gone is told to ask the sender.
    erin = member(daemon, tmp_path, room)
    out = tmp_path / "erin"
    out.mkdir()
    r = erin.cli("receive", room, "--yes", "--out", str(out), "--timeout", "20")
    assert r.code == 7, r.err
    assert "was not encrypted for this device" in r.err and "ask" in r.err
    assert list(out.iterdir()) == []


async def _calls(daemon: Daemon, token: str, room_id: str, *calls: tuple[str, Any]) -> list[Any]:
    """Socket.IO calls in order on one connection that joined the room; their acks."""
    client = socketio.AsyncClient()
    await client.connect(daemon.url, auth={"token": token}, transports=["websocket"])
    try:
        assert (await client.call("room:join", {"room_id": room_id}, timeout=10))["ok"]
        return [await client.call(event, data, timeout=10) for event, data in calls]
    finally:
        await client.disconnect()


def _e2e(plain: int, keys: list[Any], **over: Any) -> dict[str, Any]:
    return {
        "name": "x.bin",
        "size": protocol.e2e_ciphertext_size(plain),
        "e2e": {
            "stream_id": "ab" * 16,
            "plain_size": plain,
            "source": "cd" * 32,
            "keys": keys,
            **over,
        },
    }


def _device_of(who: Member) -> dict[str, Any]:
    return json.loads(who.cli("keys", "--json").out)["devices"][0]


def test_daemon_checks_encrypted_offers_and_keys(daemon: Daemon, tmp_path: Path) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "e2e-bad")
    bob = member(daemon, tmp_path, room)
    stranger = member(daemon, tmp_path)
    bob_device, stranger_device = _device_of(bob), _device_of(stranger)
    wrapped = protocol.e2e_encode(bytes(protocol.E2E_WRAPPED_KEY_BYTES))

    def key(user: Member, device: dict[str, Any], blob: str = wrapped) -> dict[str, Any]:
        return {"user_id": user.user.user_id, "device_id": device["device_id"], "wrapped": blob}

    bad = [
        {**_e2e(10, []), "size": 10},  # the size must be the ciphertext's
        _e2e(10, [], stream_id="XYZ"),
        _e2e(10, [], source=""),
        _e2e(10, [key(bob, bob_device, "AAAA")]),  # not 80 bytes
        _e2e(10, [key(bob, bob_device)] * 2),  # one device twice
        _e2e(10, [key(stranger, stranger_device)]),  # not a member of the room
        _e2e(10, [key(bob, bob_device)] * (protocol.E2E_MAX_KEYS_PER_OFFER + 1)),
    ]
    acks = asyncio.run(
        _calls(
            daemon,
            alice.user.token,
            room,
            *[("transfer:offer", {"room_id": room, **b}) for b in bad],
        )
    )
    for ack in acks:
        assert not ack["ok"] and ack["error"]["code"] in (
            "validation_error",
            "payload_too_large",
        ), ack
    assert daemon.proc.poll() is None

    ok = asyncio.run(
        _calls(
            daemon,
            alice.user.token,
            room,
            ("transfer:offer", {"room_id": room, **_e2e(10, [key(bob, bob_device)])}),
        )
    )[0]
    assert ok["ok"] and ok["transfer"]["e2e"]["plain_size"] == 10, ok
    transfer_id = ok["transfer"]["transfer_id"]
    got = asyncio.run(
        _calls(
            daemon,
            bob.user.token,
            room,
            ("transfer:key", {"transfer_id": transfer_id, "device_id": bob_device["device_id"]}),
            ("transfer:wrap", {"transfer_id": transfer_id, "keys": []}),  # only the sender wraps
        )
    )
    assert got[0]["ok"] and got[0]["wrapped"] == wrapped
    assert not got[1]["ok"] and got[1]["error"]["code"] == "forbidden"
    # Someone outside the room gets neither the key nor the transfer.
    status, body, _ = http(
        "GET", daemon.api(f"/api/transfers/{transfer_id}/data"), token=stranger.user.token
    )
    assert status in (403, 404), body
