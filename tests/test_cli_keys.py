"""`videonet keys` with the real CLI and daemon: the device key made at login (0600 in a 0700
dir, only the public half published), members' keys pinned on first use, a changed key or an
untrusted new device refused loudly (exit 6) until `keys trust`, and removing a device."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from videonet_cli.errors import ExitCode
from videonet_cli.identity.pins import PeerDevice, PinStatus, compare, normalize_fingerprint
from videonet_protocol import protocol

from conftest import BACKEND, TEST_PASSWORD, Cli, Daemon, User, http

pytestmark = pytest.mark.one_pass("terminal and client side: API tests cover the daemon")


def identity_dir(cli: Cli) -> Path:
    return cli.config_dir / "data" / "identity"


def share_a_room(daemon: Daemon, a: User, b: User) -> None:
    status, room, _ = http(
        "POST", daemon.api("/api/rooms/create"), {"name": f"k-{a.username}"}, a.token
    )
    assert status == 201
    assert http("POST", daemon.api(f"/api/rooms/{room['id']}/join"), token=b.token)[0] == 200


def test_login_makes_and_publishes_the_device_key(
    daemon: Daemon, anon_cli: Cli, user: User
) -> None:
    r = anon_cli("login", "--email", user.email, "--password-stdin", "--json", input=TEST_PASSWORD)
    assert r.code == 0, r.err
    device = r.json()["device"]
    assert device["error"] is None

    folder = identity_dir(anon_cli)
    key_file = folder / "device-key.json"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    stored = json.loads(key_file.read_text())
    assert stored["device_id"] == device["device_id"]

    status, mine, _ = http("GET", daemon.api("/api/keys"), token=user.token)
    assert status == 200
    assert [(d["device_id"], d["fingerprint"]) for d in mine] == [
        (device["device_id"], device["fingerprint"])
    ]
    # Only the public half travels: the published key is the private key's public key.
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    private = X25519PrivateKey.from_private_bytes(base64.b64decode(stored["private_key"]))
    assert (
        protocol.key_fingerprint(private.public_key().public_bytes_raw()) == (device["fingerprint"])
    )
    if BACKEND == "sqlite":
        database = (daemon.data_dir / "videonet.db").read_bytes()
        database += (daemon.data_dir / "videonet.db-wal").read_bytes()
        assert stored["private_key"].encode() not in database

    # A second login keeps the same key (one key pair per installation).
    r = anon_cli("login", "--email", user.email, "--password-stdin", "--json", input=TEST_PASSWORD)
    assert r.code == 0 and r.json()["device"] == device


def test_keys_makes_the_key_lazily_and_lists_your_devices(cli: Cli) -> None:
    r = cli("keys", "--json")
    assert r.code == 0, r.err
    first = r.json()
    assert first["created_now"] is True
    assert [d["this_device"] for d in first["devices"]] == [True]

    r = cli("keys", "--json")
    assert r.code == 0 and r.json()["created_now"] is False
    assert r.json()["fingerprint"] == first["fingerprint"]

    r = cli("keys")
    assert r.code == 0 and first["fingerprint"] in r.out and "this device" in r.out


def test_a_members_keys_are_pinned_and_a_changed_key_refused_until_trusted(
    daemon: Daemon, tmp_path: Path
) -> None:
    alice, bob = daemon.make_user(tmp_path), daemon.make_user(tmp_path)
    a = Cli(daemon.url, alice.config_dir, alice.token)
    b = Cli(daemon.url, bob.config_dir, bob.token)
    r = b("keys", "--json")
    assert r.code == 0, r.err
    bob_device, bob_fp = r.json()["device_id"], r.json()["fingerprint"]

    # Strangers see nothing (as for a name nobody has).
    r = a("keys", bob.username)
    assert r.code == ExitCode.NOT_FOUND and "shares a room" in r.err

    share_a_room(daemon, alice, bob)
    r = a("keys", bob.username, "--json")
    assert r.code == 0, r.err
    assert r.json()["devices"] == [
        {
            "device_id": bob_device,
            "label": r.json()["devices"][0]["label"],
            "fingerprint": bob_fp,
            "status": "pinned now",
            "pinned_fingerprint": None,
        }
    ]
    known = identity_dir(a) / "known-keys.json"
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    r = a("keys", bob.username, "--json")
    assert r.code == 0 and r.json()["devices"][0]["status"] == "pinned"

    # The daemon (or someone with bob's token) swaps bob's key under the same device id.
    assert http("DELETE", daemon.api(f"/api/keys/{bob_device}"), token=bob.token)[0] == 200
    new_key = base64.b64encode(os.urandom(32)).decode()
    status, swapped, _ = http(
        "POST",
        daemon.api("/api/keys"),
        {"device_id": bob_device, "public_key": new_key},
        bob.token,
    )
    assert status == 201
    r = a("keys", bob.username)
    assert r.code == ExitCode.KEY_CHANGED == 6
    assert "WARNING" in r.err and bob_fp in r.err and swapped["fingerprint"] in r.err
    assert r.err.strip().splitlines()[-1].startswith("Error: ")
    assert "Traceback" not in r.err
    r = a("keys", bob.username, "--json")
    assert r.code == 6 and r.json()["devices"][0]["status"] == "changed"
    assert r.json()["devices"][0]["pinned_fingerprint"] == bob_fp

    # Trusting the wrong fingerprint changes nothing; the right one (any case, no dashes) does.
    r = a("keys", "trust", bob.username, bob_fp)
    assert r.code == ExitCode.NOT_FOUND
    r = a("keys", "trust", bob.username, "not-a-fingerprint")
    assert r.code == ExitCode.USAGE
    assert a("keys", bob.username).code == 6
    typed = swapped["fingerprint"].replace("-", "").lower()
    r = a("keys", "trust", bob.username, typed)
    assert r.code == 0, r.err
    assert "was changed" in r.out
    r = a("keys", bob.username, "--json")
    assert r.code == 0 and r.json()["devices"][0]["status"] == "pinned"


def test_a_new_device_of_a_pinned_member_needs_trust(daemon: Daemon, tmp_path: Path) -> None:
    alice, bob = daemon.make_user(tmp_path), daemon.make_user(tmp_path)
    a = Cli(daemon.url, alice.config_dir, alice.token)
    assert Cli(daemon.url, bob.config_dir, bob.token)("keys").code == 0
    share_a_room(daemon, alice, bob)
    assert a("keys", bob.username).code == 0

    laptop = tmp_path / "bob-laptop"
    laptop.mkdir()
    r = Cli(daemon.url, laptop, bob.token)("keys", "--json")
    assert r.code == 0
    laptop_fp = r.json()["fingerprint"]
    assert len(r.json()["devices"]) == 2

    r = a("keys", bob.username, "--json")
    assert r.code == 6
    assert {d["fingerprint"]: d["status"] for d in r.json()["devices"]}[laptop_fp] == "new device"
    assert a("keys", "trust", bob.username, laptop_fp).code == 0
    r = a("keys", bob.username, "--json")
    assert r.code == 0 and {d["status"] for d in r.json()["devices"]} == {"pinned"}


def test_remove_a_device(daemon: Daemon, cli: Cli, user: User) -> None:
    r = cli("keys", "--json")
    device = r.json()["device_id"]
    r = cli("keys", "remove", device, "--json")
    assert r.code == 0 and r.json() == {"device_id": device, "removed": True}
    assert http("GET", daemon.api("/api/keys"), token=user.token)[1] == []
    r = cli("keys", "remove", "no-such-device")
    assert r.code == ExitCode.NOT_FOUND and r.err.count("\n") == 1


def test_a_private_key_readable_by_others_is_refused(cli: Cli) -> None:
    assert cli("keys").code == 0
    key_file = identity_dir(cli) / "device-key.json"
    key_file.chmod(0o644)
    r = cli("keys")
    assert r.code == 1 and "chmod 600" in r.err and r.err.count("\n") == 1


def test_a_damaged_pins_file_is_never_reset_silently(daemon: Daemon, tmp_path: Path) -> None:
    alice, bob = daemon.make_user(tmp_path), daemon.make_user(tmp_path)
    a = Cli(daemon.url, alice.config_dir, alice.token)
    assert Cli(daemon.url, bob.config_dir, bob.token)("keys").code == 0
    share_a_room(daemon, alice, bob)
    assert a("keys", bob.username).code == 0
    known = identity_dir(a) / "known-keys.json"
    assert known.exists()
    known.write_text("{not json")
    r = a("keys", bob.username)
    assert r.code == 1 and "pinned keys" in r.err


# --- the pinning rule itself ------------------------------------------------------------------


def peer(device_id: str, seed: int) -> PeerDevice:
    return PeerDevice(device_id, bytes([seed]) * 32, "")


def test_compare_first_sight_pins_everything() -> None:
    checked = compare(None, [peer("d1", 1), peer("d2", 2)])
    assert [c.status for c in checked] == [PinStatus.PINNED_NOW] * 2
    assert not any(c.refused for c in checked)


@pytest.mark.parametrize(
    ("pins", "expected"),
    [
        ({"d1": protocol.key_fingerprint(bytes([1]) * 32)}, PinStatus.PINNED),
        ({"d1": protocol.key_fingerprint(bytes([9]) * 32)}, PinStatus.CHANGED),
        ({"other": protocol.key_fingerprint(bytes([1]) * 32)}, PinStatus.NEW_DEVICE),
        ({}, PinStatus.NEW_DEVICE),
    ],
)
def test_compare_against_pins(pins: dict[str, str], expected: PinStatus) -> None:
    (checked,) = compare(pins, [peer("d1", 1)])
    assert checked.status is expected
    assert checked.refused is (expected in (PinStatus.CHANGED, PinStatus.NEW_DEVICE))


def test_fingerprints_are_compared_as_typed() -> None:
    fp = protocol.key_fingerprint(bytes(32))
    assert len(fp) == 39 and fp.count("-") == 7
    assert normalize_fingerprint(fp.lower().replace("-", " ")) == fp


def test_a_member_without_devices_is_not_pinned_as_keyless(daemon: Daemon, tmp_path: Path) -> None:
    alice, bob = daemon.make_user(tmp_path), daemon.make_user(tmp_path)
    a = Cli(daemon.url, alice.config_dir, alice.token)
    share_a_room(daemon, alice, bob)
    r = a("keys", bob.username, "--json")
    assert r.code == 0 and r.json()["devices"] == []
    # Bob's first device, seen after that, is a first sight (pinned), not an untrusted newcomer.
    assert Cli(daemon.url, bob.config_dir, bob.token)("keys").code == 0
    r = a("keys", bob.username, "--json")
    assert r.code == 0 and [d["status"] for d in r.json()["devices"]] == ["pinned now"]
