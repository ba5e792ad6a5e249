"""Who `send` encrypts to when it meets an identity for the first time (issue 21, finding 2):
never in silence. On a terminal it shows the identity and asks; `--to USER` accepts that user
by name and `--trust-new` everyone; with neither and no terminal it stops with exit 2 saying
what to pass, and nothing is offered. (Before, `send` pinned every first-seen identity itself.)

These tests set VIDEONET_TRUST_NEW=0: the other transfer tests accept new identities through it.
Each was run on a52c7dd (main before issue 21, its CLI and daemon); what it did there is in its
docstring.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from terminal import finish, spawn
from transfer_helpers import listening_receiver, make_room, member, random_file, with_device_keys

from conftest import Daemon

pytestmark = pytest.mark.one_pass("the sender's side: the daemon is only a relay here")

ASK = {"VIDEONET_TRUST_NEW": "0"}


@pytest.fixture
def pair(daemon: Daemon, tmp_path: Path) -> tuple[str, Any, Any]:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "trust")
    bob = member(daemon, tmp_path, room)
    with_device_keys(alice, bob)
    return room, alice, bob


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_terminal_and_no_flag_stops_before_anything_is_offered(
    pair: Any, tmp_path: Path
) -> None:
    """On a52c7dd (run there) the send pinned bob's key in silence and uploaded: exit 0, not 2."""
    room, alice, bob = pair
    src = random_file(tmp_path / "a.bin", 1000)
    r = alice.cli("send", room, str(src), "--no-wait", **ASK)
    assert r.code == 2, r.err
    assert r.err.count("\n") == 1, r.err
    assert bob.user.username in r.err and "--trust-new" in r.err, r.err
    assert f"--to {bob.user.username}" in r.err, r.err
    # Nothing was offered: bob finds no offer waiting.
    got = bob.cli("receive", room, "--out", str(tmp_path / "in"), "--timeout", "2", "--yes")
    assert got.code != 0 and not (tmp_path / "in" / "a.bin").exists()


def test_to_accepts_the_named_member(pair: Any, tmp_path: Path) -> None:
    """Not an attack: `--to` is the way to accept a named member. It passes on a52c7dd too
    (run there), which pinned everyone anyway."""
    room, alice, bob = pair
    src = random_file(tmp_path / "b.bin", 3000)
    rx = listening_receiver(bob.cli, room, tmp_path / "in", **ASK)
    r = alice.cli("send", room, str(src), "--to", bob.user.username, "--timeout", "60", **ASK)
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    assert sha(tmp_path / "in" / "b.bin") == sha(src)


def test_a_person_is_shown_the_identity_and_asked(pair: Any, tmp_path: Path) -> None:
    """On a52c7dd (run there) the send on a terminal asked nothing: it pinned bob in silence and
    sent ("verified by …"), so the expected question never came."""
    room, alice, bob = pair
    src = random_file(tmp_path / "c.bin", 2000)
    rx = listening_receiver(bob.cli, room, tmp_path / "in", **ASK)
    child = spawn(alice.cli.env(**ASK), "send", room, str(src), "--timeout", "60")
    child.expect_exact(f"encrypting to: {bob.user.username} — first use, identity ")
    child.expect_exact("Trust this identity and send? [y/N]")
    child.sendline("y")
    assert finish(child) == 0, child.before
    assert rx.finish() == 0, rx.stderr()
    assert sha(tmp_path / "in" / "c.bin") == sha(src)

    # Pinned now: the next send does not ask, even without a terminal.
    again = random_file(tmp_path / "d.bin", 100)
    rx = listening_receiver(bob.cli, room, tmp_path / "in2", **ASK)
    r = alice.cli("send", room, str(again), "--timeout", "60", **ASK)
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()


def test_a_person_who_says_no_sends_nothing(pair: Any, tmp_path: Path) -> None:
    """On a52c7dd (run there) there was no question to say no to: the file was uploaded."""
    room, alice, _bob = pair
    src = random_file(tmp_path / "e.bin", 2000)
    child = spawn(alice.cli.env(**ASK), "send", room, str(src), "--no-wait")
    child.expect_exact("Trust this identity and send? [y/N]")
    child.sendline("n")
    assert finish(child) == 2
    # Still not pinned: a script's send without the flag stops again.
    assert alice.cli("send", room, str(src), "--no-wait", **ASK).code == 2


def test_the_receiver_is_told_which_device_sent_and_how_far_it_is_trusted(
    pair: Any, tmp_path: Path
) -> None:
    """Issue 21: receive's question and its result name the sender's device (the label its
    identity certified) and whether that identity is pinned on first use or verified (`keys
    trust`): from the checked header and this installation's pins, not from the daemon. On
    a52c7dd (run there) it stops at once: no `devices` command, no identities; on the code just
    before this line of output the question named only "alice" and the result said "identity
    first use" without the word pinned."""
    room, alice, bob = pair
    assert alice.cli("devices", "rename", "laptop-2").code == 0
    who = alice.user.username

    def receive_on_a_terminal(name: str, trust: str) -> None:
        src = random_file(tmp_path / name, 3000)
        r = alice.cli("send", room, str(src), "--to", bob.user.username, "--no-wait")
        assert r.code == 0, r.err
        out = tmp_path / f"in-{name}"
        out.mkdir()
        child = spawn(bob.cli.env(), "receive", room, "--out", str(out), "--timeout", "60")
        child.expect_exact(f"{who} (device laptop-2, identity {trust}) offers {name}")
        child.expect_exact("Accept? [y/N]")
        child.sendline("y")
        child.expect_exact(f"from {who} (device laptop-2, identity {trust}), sha256")
        assert finish(child) == 0, child.before
        assert sha(out / name) == sha(src)

    receive_on_a_terminal("first.bin", "pinned")
    number = bob.cli("keys", "verify", who, "--json").json()["safety_number"]
    assert bob.cli("keys", "trust", who, number).code == 0
    receive_on_a_terminal("second.bin", "verified")
