"""The trust core (`identity.trust`) against the real daemon: identities pinned only with a
person's word, a linked device a one-line notice, an unlinked one skipped by name, a changed
identity the one warning, revocations honoured, the receiver's check of a sender's device,
and the pins file (locked, 0600, the old format set aside)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from identity_helpers import (
    Device,
    LyingDaemon,
    device,
    first_device,
    member_keys,
    restored_device,
    room_of,
)
from videonet_cli.errors import (
    CliError,
    ExitCode,
    KeyChangedError,
    UntrustedSenderError,
    UsageError,
)
from videonet_cli.identity import trust
from videonet_cli.identity.pins import FIRST_USE, PinStore
from videonet_protocol import protocol

from conftest import Daemon, User, http

pytestmark = pytest.mark.one_pass(
    "the client's trust decisions; the daemon's storage is covered in both passes by "
    "test_device_keys_api"
)


def me_of(d: Device) -> trust.ThisDevice:
    return d.run(trust.this_device)


def choose(d: Device, room: str, **options: Any) -> trust.Recipients:
    me = me_of(d)

    async def work(api: Any) -> trust.Recipients:
        return await trust.choose_recipients(
            api, me, room_id=room, usernames=options.pop("usernames", None), **options
        )

    return d.run(work)


def pins_of(d: Device, daemon: Daemon) -> dict[int, Any]:
    pins = PinStore(d.identity_dir).read()
    server = d.cli.daemon_url
    return {uid: pins.get(server, uid) for uid in range(1, 10_000) if pins.get(server, uid)}


@pytest.fixture
def liar(daemon: Daemon) -> Iterator[LyingDaemon]:
    """A proxy alice's device talks through: honest until a test tells it to lie."""
    with LyingDaemon(daemon.url) as proxy:
        yield proxy


@pytest.fixture
def pair(
    daemon: Daemon, tmp_path: Path, liar: LyingDaemon
) -> tuple[str, User, User, Device, Device, str]:
    alice, bob = daemon.make_user(tmp_path), daemon.make_user(tmp_path)
    room = room_of(daemon, alice, bob)
    a, _ = first_device(daemon, alice, tmp_path, server=liar.url)
    b, recovery = first_device(daemon, bob, tmp_path)
    return room, alice, bob, a, b, recovery


def test_a_first_seen_identity_is_never_pinned_in_silence(pair: Any, daemon: Daemon) -> None:
    room, alice, bob, a, _b, _ = pair
    with pytest.raises(UsageError) as refused:
        choose(a, room)
    assert refused.value.exit_code == ExitCode.USAGE
    assert bob.username in refused.value.message and f"--to {bob.username}" in refused.value.message
    assert "\n" not in refused.value.message
    assert bob.user_id not in pins_of(a, daemon)

    asked: list[list[trust.FirstSeen]] = []

    async def no(first_seen: list[trust.FirstSeen]) -> bool:
        asked.append(first_seen)
        return False

    with pytest.raises(UsageError):
        choose(a, room, confirm=no)
    assert bob.user_id not in pins_of(a, daemon)
    bob_identity = http("GET", daemon.api("/api/keys"), token=bob.token)[1]["identity_key"]
    expected = protocol.key_fingerprint(base64.b64decode(bob_identity))
    assert [(f.username, f.user_id, f.identity_fingerprint) for f in asked[0]] == [
        (bob.username, bob.user_id, expected)
    ]

    async def yes(first_seen: list[trust.FirstSeen]) -> bool:
        return True

    chosen = choose(a, room, confirm=yes)
    assert {(d.username, d.trust) for d in chosen.devices} == {
        (alice.username, "own"),
        (bob.username, FIRST_USE),
    }
    assert pins_of(a, daemon)[bob.user_id].state == FIRST_USE
    # Pinned now: the next send needs nobody's word, and says nothing.
    again = choose(a, room)
    assert again.notices == [] and again.skipped == []
    assert {d.device_id for d in again.devices} == {d.device_id for d in chosen.devices}


def test_accepted_by_name_as_written_on_the_command_line(pair: Any, daemon: Daemon) -> None:
    room, _, bob, a, _, _ = pair
    chosen = choose(a, room, usernames=[bob.username.upper()], trust_new=[bob.username.upper()])
    assert bob.username in {d.username for d in chosen.devices}
    assert bob.user_id in pins_of(a, daemon)


def test_a_linked_device_is_a_notice_and_an_unlinked_one_is_skipped_by_name(
    pair: Any, daemon: Daemon, tmp_path: Path
) -> None:
    room, _, bob, a, _b, recovery = pair
    choose(a, room, trust_new=True)
    laptop = restored_device(daemon, bob, tmp_path, recovery)
    laptop_me = me_of(laptop)
    chosen = choose(a, room)
    assert laptop_me.device_id in {d.device_id for d in chosen.devices}
    name = f"{laptop_me.label} ({laptop_me.device_id[:8]})"
    assert chosen.notices == [
        f"{bob.username} has a new device {name} (certified by {bob.username}'s identity)"
    ]
    assert chosen.skipped == []
    assert choose(a, room).notices == []  # once

    stranger_box = device(daemon, bob, tmp_path, "unlinked")
    r = stranger_box.cli("devices")
    assert r.code == 1 and "not linked" in r.err and r.err.count("\n") == 1
    chosen = choose(a, room)
    assert [(s.username, s.reason) for s in chosen.skipped] == [
        (bob.username, f"not certified by {bob.username}'s identity")
    ]
    assert all(d.trust != "" for d in chosen.devices)
    assert len({d.device_id for d in chosen.devices if d.username == bob.username}) == 2


def test_a_changed_identity_is_the_one_warning(pair: Any) -> None:
    room, _, bob, a, b, _ = pair
    choose(a, room, trust_new=True)
    assert b.cli("devices", "new-identity", "--yes").code == 0
    with pytest.raises(KeyChangedError) as changed:
        choose(a, room)
    assert changed.value.exit_code == 6
    assert f"{bob.username}'s identity changed" in changed.value.message
    assert f"videonet keys verify {bob.username}" in changed.value.message


def test_a_revocation_is_honoured_and_remembered(
    pair: Any, daemon: Daemon, tmp_path: Path, liar: LyingDaemon
) -> None:
    room, _, bob, a, b, recovery = pair
    laptop = restored_device(daemon, bob, tmp_path, recovery)
    laptop_id = me_of(laptop).device_id
    choose(a, room, trust_new=True)
    r = b.cli("devices", "remove", laptop_id[:8], "--json")
    assert r.code == 0, r.err
    assert r.json()["status"] == "revoked"
    chosen = choose(a, room)
    assert laptop_id not in {d.device_id for d in chosen.devices}
    assert [(s.device_id, s.reason) for s in chosen.skipped] == [(laptop_id, "revoked")]
    # Said once; and a daemon that drops the revocation later cannot bring the device back.
    assert choose(a, room).skipped == []

    def forget_revocations(method: str, path: str, answer: Any) -> Any:
        return member_keys(
            path,
            answer,
            bob.username,
            lambda keys: {**keys, "devices": [{**d, "revocation": ""} for d in keys["devices"]]},
        )

    liar.rewrite = forget_revocations
    chosen = choose(a, room)
    assert liar.changed > 0
    assert laptop_id not in {d.device_id for d in chosen.devices}
    # The revoked device itself is out for good: it cannot be certified again.
    r = laptop.cli("devices")
    assert r.code != 0


def test_only_me_is_this_device_alone(pair: Any, daemon: Daemon, tmp_path: Path) -> None:
    room, alice, _, a, _, _ = pair
    r = a.cli("devices", "--json")
    other = device(daemon, alice, tmp_path, "other")
    assert other.cli("devices", VIDEONET_RECOVERY_KEY="x").code != 0  # not a recovery key
    chosen = choose(a, room, only_me=True)
    assert [(d.device_id, d.trust) for d in chosen.devices] == [(r.json()["device_id"], "own")]
    assert chosen.skipped == [] and chosen.notices == []


def test_the_receiver_checks_the_senders_device(pair: Any, daemon: Daemon, tmp_path: Path) -> None:
    _room, _, bob, a, b, _ = pair
    me_b = me_of(b)
    me_a = me_of(a)

    async def check(api: Any, device_id: str, user_id: int = bob.user_id) -> trust.TrustedDevice:
        return await trust.trusted_sender(
            api, me_a, user_id=user_id, username=bob.username, device_id=device_id
        )

    sender = a.run(lambda api: check(api, me_b.device_id))
    assert sender.trust == FIRST_USE and sender.fingerprint == me_b.fingerprint
    signature = trust.sign(me_b, b"header", b"some bytes")
    assert trust.verify_signature(sender, b"header", b"some bytes", signature)
    assert not trust.verify_signature(sender, b"seal", b"some bytes", signature)
    assert not trust.verify_signature(sender, b"header", b"other bytes", signature)

    unlinked = device(daemon, bob, tmp_path, "unlinked")
    assert unlinked.cli("devices").code == 1  # publishes its keys, uncertified
    unlinked_id = next(
        d["device_id"]
        for d in http("GET", daemon.api("/api/keys"), token=bob.token)[1]["devices"]
        if d["device_id"] != me_b.device_id
    )
    with pytest.raises(UntrustedSenderError) as refused:
        a.run(lambda api: check(api, unlinked_id))
    assert "not certified" in refused.value.message and refused.value.exit_code == 6
    with pytest.raises(UntrustedSenderError):
        a.run(lambda api: check(api, me_b.device_id, user_id=bob.user_id + 10_000))


_PIN_WRITER = """
import sys
from videonet_cli.identity.pins import Pin, PinStore
store = PinStore()
start = int(sys.argv[1])
for uid in range(start, start + 40):
    with store.edit() as pins:
        pins.put("http://example.test", Pin(uid, f"user{uid}", bytes(32)))
"""


def test_two_processes_writing_pins_at_once_lose_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "VIDEONET_DATA_DIR": str(tmp_path / "data")}
    procs = [
        subprocess.Popen([sys.executable, "-c", _PIN_WRITER, str(start)], env=env)
        for start in (1, 1001)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    pins = PinStore(tmp_path / "data" / "identity").read()
    found = [u for u in (*range(1, 41), *range(1001, 1041)) if pins.get("http://example.test", u)]
    assert len(found) == 80
    mode = (tmp_path / "data" / "identity" / "pins.json").stat().st_mode & 0o777
    assert mode == 0o600


def test_a_pins_file_others_can_read_is_refused_in_one_line(pair: Any) -> None:
    room, _, bob, a, _, _ = pair
    choose(a, room, trust_new=True)
    pins = a.identity_dir / "pins.json"
    pins.chmod(0o644)
    with pytest.raises(CliError) as refused:
        choose(a, room)
    assert "chmod 600" in refused.value.message
    r = a.cli("keys", "verify", bob.username)
    assert r.code == 1 and "chmod 600" in r.err and r.err.count("\n") == 1


def test_a_damaged_pins_file_is_never_reset_silently(pair: Any) -> None:
    room, _, _, a, _, _ = pair
    choose(a, room, trust_new=True)
    (a.identity_dir / "pins.json").write_text("{not json")
    with pytest.raises(CliError) as refused:
        choose(a, room, trust_new=True)
    assert "pinned identities" in refused.value.message


def test_the_old_pins_file_is_set_aside_with_a_notice(pair: Any) -> None:
    room, _, _, a, _, _ = pair
    old = a.identity_dir / "known-keys.json"
    old.write_text('{"version": 1, "servers": {}}')
    chosen = choose(a, room, trust_new=True)
    assert any("known-keys.json" in n for n in chosen.notices)
    assert not old.exists() and (a.identity_dir / "known-keys.json.old").exists()
    assert not any("known-keys" in n for n in choose(a, room).notices)
