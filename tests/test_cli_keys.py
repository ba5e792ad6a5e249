"""`videonet keys` and `videonet devices` with the real CLI and daemon: the device keys and the
identity made at login (0600 in a 0700 dir, only public halves published, the recovery key
shown once), linking a device under a one-time code (through a real terminal), renaming,
removing, restoring, logging out, and safety numbers that fit 80 columns."""

from __future__ import annotations

import base64
import json
import re
import signal
import stat
from pathlib import Path
from typing import Any

import pytest

from identity_helpers import Device, device, first_device, room_of
from terminal import finish, spawn
from videonet_cli.errors import ExitCode
from videonet_protocol import protocol

from conftest import BACKEND, TEST_PASSWORD, Cli, Daemon, User, http

pytestmark = pytest.mark.one_pass("terminal and client side: API tests cover the daemon")


def identity_dir(cli: Cli) -> Path:
    return cli.config_dir / "data" / "identity"


def test_login_makes_the_device_keys_and_the_identity(
    daemon: Daemon, anon_cli: Cli, user: User
) -> None:
    r = anon_cli("login", "--email", user.email, "--password-stdin", "--json", input=TEST_PASSWORD)
    assert r.code == 0, r.err
    made = r.json()["device"]
    assert made["error"] is None and made["recovery_key"]

    folder = identity_dir(anon_cli)
    key_file = folder / "device-key.json"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    (account_file,) = (folder / "accounts").iterdir()
    assert stat.S_IMODE(account_file.stat().st_mode) == 0o600
    stored = json.loads(key_file.read_text())
    assert stored["device_id"] == made["device_id"]

    status, mine, _ = http("GET", daemon.api("/api/keys"), token=user.token)
    assert status == 200 and mine["identity_key"]
    (listed,) = mine["devices"]
    assert listed["device_id"] == made["device_id"] and listed["certificate"]
    # Only the public halves travel.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    x = X25519PrivateKey.from_private_bytes(base64.b64decode(stored["private_key"]))
    ed = Ed25519PrivateKey.from_private_bytes(base64.b64decode(stored["signing_key"]))
    assert (
        protocol.device_fingerprint(
            x.public_key().public_bytes_raw(), ed.public_key().public_bytes_raw()
        )
        == made["fingerprint"]
    )
    if BACKEND == "sqlite":
        database = (daemon.data_dir / "videonet.db").read_bytes()
        database += (daemon.data_dir / "videonet.db-wal").read_bytes()
        secrets = [stored["private_key"], stored["signing_key"]]
        secrets.append(json.loads(account_file.read_text())["identity_seed"])
        assert not any(s.encode() in database for s in secrets)

    # A second login: the same device, and the recovery key is never shown again.
    r = anon_cli("login", "--email", user.email, "--password-stdin", "--json", input=TEST_PASSWORD)
    assert r.code == 0
    again = r.json()["device"]
    assert again["device_id"] == made["device_id"] and again["recovery_key"] is None
    r = anon_cli("devices", "--json")
    assert r.code == 0 and r.json()["recovery_key"] is None


def test_devices_lists_label_short_id_status_and_this_device(
    daemon: Daemon, user: User, tmp_path: Path
) -> None:
    first, recovery = first_device(daemon, user, tmp_path)
    assert re.fullmatch(r"([A-Z2-7]{4}-){13}[A-Z2-7]{4}", recovery)
    other = device(daemon, user, tmp_path, "second")
    assert other.cli("devices", VIDEONET_RECOVERY_KEY=recovery).code == 0
    r = first.cli("devices", COLUMNS="80")
    assert r.code == 0, r.err
    mine = first.cli("devices", "--json").json()
    assert [d["this_device"] for d in mine["devices"]] == [True, False]
    assert {d["status"] for d in mine["devices"]} == {"certified"}
    for d in mine["devices"]:
        assert f"{d['device_id'][:8]}  certified" in r.out  # told apart by the short id
        assert d["fingerprint"] in r.out  # whole, at 80 columns
    assert "this device" in r.out
    assert all(len(line) <= 80 for line in r.out.splitlines())


def test_rename_recertifies_the_label(daemon: Daemon, user: User, tmp_path: Path) -> None:
    first, _ = first_device(daemon, user, tmp_path)
    r = first.cli("devices", "rename", "work laptop", "--json")
    assert r.code == 0, r.err
    assert r.json()["label"] == "work laptop" and r.json()["status"] == "certified"
    assert first.cli("devices", "rename", "x" * 65).code == ExitCode.USAGE


def _link(new: Device, existing: Device, *, prompt: bool = False, typed: str = "") -> Any:
    """`devices link` on the new device (on a terminal), then on the existing one with the code
    shown (typed at the prompt, or as the argument); both children and the code."""
    waiting = spawn(new.cli.env(), "devices", "link")
    waiting.expect(r"videonet devices link (\d+-[a-z]+-[a-z]+)")
    code = waiting.match.group(1)
    if prompt:
        typing = spawn(existing.cli.env(), "devices", "link", "--prompt")
        typing.expect("Code shown on the new device")
        typing.sendline(typed or code)
    else:
        typing = spawn(existing.cli.env(), "devices", "link", typed or code)
    return code, waiting, typing


def test_link_a_device_both_show_the_same_words(daemon: Daemon, user: User, tmp_path: Path) -> None:
    first, _ = first_device(daemon, user, tmp_path)
    new = device(daemon, user, tmp_path, "new")
    r = new.cli("devices")
    assert r.code == 1 and "devices link" in r.err  # not linked yet: says how
    code, waiting, typing = _link(new, first, prompt=True)
    typing.expect(r"Both devices show: (\w+ \w+ \w+)")
    words = typing.match.group(1)
    waiting.expect(r"Both devices show: (\w+ \w+ \w+)")
    assert waiting.match.group(1) == words
    assert code not in typing.before  # typed without echo
    assert finish(typing) == 0 and finish(waiting) == 0
    mine = new.cli("devices", "--json").json()
    assert {d["status"] for d in mine["devices"]} == {"certified"}
    assert not mine["holds_identity"]


def test_a_wrong_code_links_nothing(daemon: Daemon, user: User, tmp_path: Path) -> None:
    first, _ = first_device(daemon, user, tmp_path)
    new = device(daemon, user, tmp_path, "new")
    waiting = spawn(new.cli.env(), "devices", "link")
    waiting.expect(r"videonet devices link (\d+)-")
    number = waiting.match.group(1)
    wrong = first.cli("devices", "link", f"{number}-wrong-words")
    assert wrong.code == ExitCode.BAD_CODE, wrong.err
    assert finish(waiting) == ExitCode.BAD_CODE
    assert new.cli("devices").code == 1  # still not linked


def test_a_new_device_waiting_for_its_code_hears_at_once_that_the_daemon_is_gone(
    daemon_factory: Any, tmp_path: Path
) -> None:
    # The new device waits up to 10 minutes for the code to be typed on the other one: a
    # daemon that goes meanwhile ends the wait at once, in one line.
    d = daemon_factory()
    user = d.make_user(tmp_path)
    first_device(d, user, tmp_path)
    new = device(d, user, tmp_path, "new")
    waiting = spawn(new.cli.env(), "devices", "link")
    waiting.expect(r"videonet devices link \d+-")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    waiting.expect("the connection to the daemon was lost", timeout=30)
    assert finish(waiting) == ExitCode.UNREACHABLE


def test_restore_from_the_recovery_key_prompt_or_file(
    daemon: Daemon, user: User, tmp_path: Path
) -> None:
    _, recovery = first_device(daemon, user, tmp_path)
    new = device(daemon, user, tmp_path, "restored")
    child = spawn(new.cli.env(), "devices", "restore")
    child.expect("Recovery key")
    child.sendline(recovery.lower().replace("-", " "))
    child.expect("Restored your identity")
    assert recovery.lower() not in child.before
    assert finish(child) == 0
    assert new.cli("devices", "--json").json()["holds_identity"] is True

    key_file = tmp_path / "recovery.txt"
    key_file.write_text(recovery + "\n")
    ci = device(daemon, user, tmp_path, "ci")
    r = ci.cli("devices", "--json", VIDEONET_RECOVERY_KEY_FILE=str(key_file))
    assert r.code == 0, r.err
    assert sum(d["this_device"] for d in r.json()["devices"]) == 1
    bad = device(daemon, user, tmp_path, "bad")
    r = bad.cli("devices", "restore", VIDEONET_RECOVERY_KEY="AAAA-BBBB")
    assert r.code == ExitCode.USAGE and "not a recovery key" in r.err


def test_keys_verify_fits_80_columns_and_trust_records_verified(
    daemon: Daemon, tmp_path: Path
) -> None:
    alice, bob = daemon.make_user(tmp_path), daemon.make_user(tmp_path)
    a, _ = first_device(daemon, alice, tmp_path)
    b, _ = first_device(daemon, bob, tmp_path)
    assert a.cli("keys", "verify", bob.username).code == ExitCode.NOT_FOUND  # strangers
    room_of(daemon, alice, bob)
    r = a.cli("keys", "verify", bob.username, COLUMNS="80")
    assert r.code == 0, r.err
    assert all(len(line) <= 80 for line in r.out.splitlines()), r.out
    number = a.cli("keys", "verify", bob.username, "--json").json()
    theirs = b.cli("keys", "verify", alice.username, "--json").json()
    assert number["safety_number"] == theirs["safety_number"]
    assert re.fullmatch(r"\d{60}", number["safety_number"])
    for group in number["groups"].split():
        assert group in r.out  # 12 groups of five digits, none cut
    assert "\u2588" in r.out or "\u2580" in r.out  # the QR code
    assert number["state"] == "not pinned"

    wrong = "1" * 60
    r = a.cli("keys", "trust", bob.username, wrong)
    assert r.code == ExitCode.USAGE and "nothing recorded" in r.err
    typed = "-".join(re.findall(r"\d{5}", number["safety_number"]))
    r = a.cli("keys", "trust", bob.username, typed)
    assert r.code == 0, r.err
    spaced = number["groups"].split()
    assert a.cli("keys", "trust", bob.username, *spaced).code == 0  # several words: fine
    r = a.cli("keys", bob.username, "--json")
    assert r.code == 0 and r.json()["state"] == "verified"
    pins = identity_dir(a.cli) / "pins.json"
    assert stat.S_IMODE(pins.stat().st_mode) == 0o600


def test_logout_removes_this_device_unless_kept(daemon: Daemon, tmp_path: Path) -> None:
    user = daemon.make_user(tmp_path)
    folder = tmp_path / "laptop"
    folder.mkdir()
    cli = Cli(daemon.url, folder)
    login = ("login", "--email", user.email, "--password-stdin")
    assert cli(*login, input=TEST_PASSWORD).code == 0
    r = cli("logout", "--keep-device", "--json")
    assert r.code == 0 and r.json()["device_removed"] is False
    assert list((identity_dir(cli) / "accounts").iterdir())
    assert cli(*login, input=TEST_PASSWORD).code == 0
    assert len(http("GET", daemon.api("/api/keys"), token=user.token)[1]["devices"]) == 1
    r = cli("logout", "--json")
    assert r.code == 0 and r.json()["device_removed"] is True
    assert not list((identity_dir(cli) / "accounts").iterdir())
    # user.token is another session of the same account: the device is gone from it too.
    assert http("GET", daemon.api("/api/keys"), token=user.token)[1]["devices"] == []


def test_a_private_key_readable_by_others_is_refused(cli: Cli) -> None:
    assert cli("devices").code == 0
    key_file = identity_dir(cli) / "device-key.json"
    key_file.chmod(0o644)
    r = cli("devices")
    assert r.code == 1 and "chmod 600" in r.err and r.err.count("\n") == 1


def test_a_device_key_file_of_the_first_format_keeps_its_id(daemon: Daemon, cli: Cli) -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    folder = identity_dir(cli)
    folder.mkdir(parents=True, mode=0o700)
    raw = X25519PrivateKey.generate().private_bytes_raw()
    old = {
        "version": 1,
        "device_id": "0123456789abcdef",
        "label": "old",
        "private_key": base64.b64encode(raw).decode(),
    }
    path = folder / "device-key.json"
    path.write_text(json.dumps(old))
    path.chmod(0o600)
    r = cli("devices", "--json")
    assert r.code == 0, r.err
    assert r.json()["device_id"] == "0123456789abcdef"
    assert json.loads(path.read_text())["signing_key"]


def test_a_send_after_a_member_links_a_device_is_one_notice(daemon: Daemon, tmp_path: Path) -> None:
    """A member logs in on a second machine (its own data dir) and links it: the next send to
    the room goes through with one line about the new device, where it used to stop everyone
    with exit 6. A machine logged in but not linked gets no key, and the sender is told in one
    line."""
    alice, bob = daemon.make_user(tmp_path), daemon.make_user(tmp_path)
    room = room_of(daemon, alice, bob)
    a, _ = first_device(daemon, alice, tmp_path)
    b, _ = first_device(daemon, bob, tmp_path)
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 5000)
    r = a.cli("send", room, str(src), "--no-wait", "--to", bob.username)
    assert r.code == 0, r.err

    laptop = device(daemon, bob, tmp_path, "laptop")
    _, waiting, typing = _link(laptop, b)
    assert finish(typing) == 0 and finish(waiting) == 0
    label_id = laptop.cli("devices", "--json").json()
    name = next(
        f"{d['label']} ({d['device_id'][:8]})" for d in label_id["devices"] if d["this_device"]
    )
    r = a.cli("send", room, str(src), "--no-wait")
    assert r.code == 0, r.err
    assert r.err.strip().splitlines() == [
        f"{bob.username} has a new device {name} (certified by {bob.username}'s identity)"
    ]

    stray = device(daemon, bob, tmp_path, "stray")
    assert stray.cli("devices").code == 1  # logged in, not linked
    stray_id = next(
        d["device_id"]
        for d in http("GET", daemon.api("/api/keys"), token=bob.token)[1]["devices"]
        if not d["certificate"]
    )
    r = a.cli("send", room, str(src), "--no-wait")
    assert r.code == 0, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    line = lines[0]
    assert line.startswith(f"Not encrypting to {bob.username}'s device ")
    assert f"({stray_id[:8]})" in line and line.endswith(
        f"not certified by {bob.username}'s identity"
    )
