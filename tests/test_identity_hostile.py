"""A daemon that lies about who is who (issue 21, findings 1 and 2), played by a proxy that
rewrites the daemon's answers on their way to alice's CLI. Each attack must fail with a clear
error, or leave the daemon's device without a key, and pin nothing.

None of these can run on a52c7dd (main before issue 21): they call the identity layer in this
process (`trust.choose_recipients`, certificates, `PinStore` per user id), which a52c7dd does
not have (it pinned loose device keys by the name the daemon returned, in identity/core.py).
What a52c7dd did with each lie is the issue's reproduction, said in each docstring."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from identity_helpers import Device, LyingDaemon, first_device, member_keys, room_of
from videonet_cli.errors import CliError, KeyChangedError, UsageError
from videonet_cli.identity import trust
from videonet_cli.identity.pins import PinStore

from conftest import Daemon, User

pytestmark = pytest.mark.one_pass("the client's defence against a lying daemon")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def forged_device(label: str = "laptop") -> dict[str, str]:
    """A device the daemon makes up: real, usable keys it holds the private halves of."""
    return {
        "device_id": "d43m0n" + "0" * 26,
        "public_key": b64(X25519PrivateKey.generate().public_key().public_bytes_raw()),
        "signing_key": b64(Ed25519PrivateKey.generate().public_key().public_bytes_raw()),
        "fingerprint": "",
        "label": label,
        "certificate": b64(b"\x01" + bytes(64)),
        "revocation": "",
        "created_at": "2026-12-06T00:00:00+00:00",
    }


def choose(d: Device, room: str, **options: Any) -> trust.Recipients:
    me = d.run(trust.this_device)

    async def work(api: Any) -> trust.Recipients:
        return await trust.choose_recipients(
            api, me, room_id=room, usernames=options.pop("usernames", None), **options
        )

    return d.run(work)


@pytest.fixture
def liar(daemon: Daemon) -> Iterator[LyingDaemon]:
    with LyingDaemon(daemon.url) as proxy:
        yield proxy


@pytest.fixture
def pinned(
    daemon: Daemon, tmp_path: Path, liar: LyingDaemon
) -> tuple[str, User, User, Device, str]:
    """alice (through the liar) has pinned bob's identity, with bob's consent to nothing else."""
    alice, bob = daemon.make_user(tmp_path), daemon.make_user(tmp_path)
    room = room_of(daemon, alice, bob)
    a, _ = first_device(daemon, alice, tmp_path, server=liar.url)
    first_device(daemon, bob, tmp_path)
    choose(a, room, trust_new=True)
    return room, alice, bob, a, liar.url


def devices_of(chosen: trust.Recipients, username: str) -> set[str]:
    return {d.device_id for d in chosen.devices if d.username == username}


def test_finding_1_the_daemon_answers_for_BOB_with_its_own_device(
    pinned: Any, liar: LyingDaemon
) -> None:
    """Finding 1: asked for "BOB", the daemon answers with a device of its own. a52c7dd looked
    pins up under the name the daemon returned ("BOB", never pinned), pinned the daemon's device
    "now" and wrapped the file key for it (the issue's reproduction; not runnable there). Now
    pins are per user id and the device must be certified by the identity pinned for that id:
    the key is not given."""
    room, _, bob, a, _ = pinned
    honest = choose(a, room, usernames=[bob.username])
    extra = forged_device()

    def add_a_device(method: str, path: str, answer: Any) -> Any:
        if path.lower().endswith(f"/users/{bob.username}/keys"):
            return {
                **answer,
                "username": bob.username.upper(),
                "devices": [*answer["devices"], extra],
            }
        return answer

    liar.rewrite = add_a_device
    chosen = choose(a, room, usernames=[bob.username.upper()])
    assert liar.changed > 0
    assert extra["device_id"] not in devices_of(chosen, bob.username.upper())
    assert devices_of(chosen, bob.username.upper()) == devices_of(honest, bob.username)
    assert [(s.device_id, s.reason) for s in chosen.skipped] == [
        (extra["device_id"], f"not certified by {bob.username.upper()}'s identity")
    ]


def test_finding_1_the_daemon_answers_with_another_name_or_identity(
    pinned: Any, liar: LyingDaemon, daemon: Daemon, tmp_path: Path
) -> None:
    """Finding 1, the other ways round: the daemon answers for bob with another account's name,
    or with an identity of its own under bob's user id. a52c7dd took the name the daemon
    returned and pinned its keys (the issue's reproduction; not runnable there); now the first
    is refused (the folded name must be the one asked for) and the second is the
    changed-identity warning (exit 6)."""
    room, _, bob, a, _ = pinned

    def another_name(method: str, path: str, answer: Any) -> Any:
        if path.endswith(f"/users/{bob.username}/keys"):
            return {**answer, "username": "mallory"}
        return answer

    liar.rewrite = another_name
    with pytest.raises(CliError) as refused:
        choose(a, room, usernames=[bob.username])
    assert "answered for 'mallory'" in refused.value.message

    forged_identity = b64(Ed25519PrivateKey.generate().public_key().public_bytes_raw())

    def another_identity(method: str, path: str, answer: Any) -> Any:
        if path.endswith(f"/users/{bob.username}/keys"):
            return {**answer, "identity_key": forged_identity, "devices": [forged_device()]}
        return answer

    liar.rewrite = another_identity
    with pytest.raises(KeyChangedError) as changed:
        choose(a, room, usernames=[bob.username])
    assert changed.value.exit_code == 6


def test_finding_2_the_daemon_adds_a_device_to_the_senders_own_account(
    pinned: Any, liar: LyingDaemon
) -> None:
    """Finding 2: on a52c7dd the file key was also wrapped for every device the daemon listed
    on the sender's own account (with --code too), so a daemon that added one read the file
    (the issue's reproduction; not runnable there). Now
    --code wraps for this device alone, and otherwise a device of one's own account gets the
    key only when this account's identity certified it."""
    room, alice, bob, a, _ = pinned
    honest = choose(a, room, usernames=[bob.username])
    extra = forged_device("alices-other-laptop")

    def add_own_device(method: str, path: str, answer: Any) -> Any:
        if method == "GET" and path == "/api/keys":
            return {**answer, "devices": [*answer["devices"], extra]}
        return answer

    liar.rewrite = add_own_device
    chosen = choose(a, room, usernames=[bob.username])
    assert liar.changed > 0
    assert {d.device_id for d in chosen.devices} == {d.device_id for d in honest.devices}
    code_only = choose(a, room, only_me=True)
    assert [d.username for d in code_only.devices] == [alice.username]
    assert [(s.device_id, s.reason) for s in chosen.skipped] == [
        (extra["device_id"], f"not certified by {alice.username}'s identity")
    ]


def test_finding_2_the_daemon_lists_a_stranger_as_a_member(
    pinned: Any, liar: LyingDaemon, daemon: Daemon, tmp_path: Path
) -> None:
    """Finding 2: the member list comes from the daemon, and on a52c7dd anyone not seen before
    was pinned in silence, so a daemon that listed a stranger (its own keys) got the file key
    (the issue's reproduction; not runnable there; tests/test_transfer_trust.py shows the
    silent pin on a52c7dd through the real CLI). Now a
    first-seen identity needs a person's word: without a terminal or --trust-new the send
    stops (exit 2) naming the stranger, and nothing is pinned."""
    room, _, _, a, _ = pinned
    forged_identity = Ed25519PrivateKey.generate()
    identity_public = forged_identity.public_key().public_bytes_raw()
    extra = forged_device()
    stranger_id = 999_999
    # The daemon even certifies its device with the identity it made up: it is consistent,
    # and still nobody confirmed that identity.
    x25519 = base64.b64decode(extra["public_key"])
    ed25519 = base64.b64decode(extra["signing_key"])
    extra["certificate"] = trust.certify(
        forged_identity, stranger_id, extra["device_id"], x25519, ed25519, extra["label"]
    )

    mallory = {
        "user_id": stranger_id,
        "username": "mallory",
        "identity_key": b64(identity_public),
        "devices": [extra],
    }

    def add_a_stranger(method: str, path: str, answer: Any) -> Any:
        if path.endswith("/members"):
            return [
                *answer,
                {"user_id": stranger_id, "username": "mallory", "joined_at": "2026-12-06"},
            ]
        if path.endswith("/users/mallory/keys"):
            return mallory
        if path.endswith(f"/rooms/{room}/keys"):  # a send to the whole room lists it so
            return {**answer, "members": [*answer["members"], mallory]}
        return answer

    liar.rewrite = add_a_stranger
    with pytest.raises(UsageError) as refused:
        choose(a, room)
    assert refused.value.exit_code == 2
    assert "mallory" in refused.value.message and "--to mallory" in refused.value.message
    assert PinStore(a.identity_dir).read().get(a.cli.daemon_url, stranger_id) is None

    async def no(first_seen: list[trust.FirstSeen]) -> bool:
        assert [f.username for f in first_seen] == ["mallory"]
        return False

    with pytest.raises(UsageError):
        choose(a, room, confirm=no)
    assert PinStore(a.identity_dir).read().get(a.cli.daemon_url, stranger_id) is None


def test_a_device_with_an_unusable_key_is_skipped_by_name(pinned: Any, liar: LyingDaemon) -> None:
    """Issue 23, item 3: one member's all-zero X25519 key made every room-wide send fail
    ("unusable public key"). The daemon now refuses such keys; one it lists anyway (stored
    before, or a lie) costs only that device its key, named in one line. (Not an issue 21
    finding; not runnable on a52c7dd either, for the same reason as the others here.)"""
    room, _, bob, a, _ = pinned
    zero = {**forged_device("broken"), "public_key": b64(bytes(32))}

    def add_a_zero_key(method: str, path: str, answer: Any) -> Any:
        return member_keys(
            path,
            answer,
            bob.username,
            lambda keys: {**keys, "devices": [*keys["devices"], zero]},
        )

    liar.rewrite = add_a_zero_key
    chosen = choose(a, room)
    assert bob.username in {d.username for d in chosen.devices}  # the send goes on
    (skipped,) = chosen.skipped
    assert skipped.device_id == zero["device_id"] and skipped.label == "broken"
    assert skipped.reason.startswith("unusable key") and "low-order" in skipped.reason


def test_a_room_listed_with_a_member_twice_or_as_another_room_is_refused(
    pinned: Any, liar: LyingDaemon
) -> None:
    """A send to the whole room lists every member's keys in one answer
    (`GET /api/rooms/{id}/keys`). A daemon that names one member twice (two identities for
    "bob": which to encrypt to?) or answers about another room is refused, and nothing is
    wrapped; with the answer as it came, bob is a recipient."""
    room, _, bob, a, _ = pinned
    assert bob.username in {d.username for d in choose(a, room).devices}

    def bob_twice(method: str, path: str, answer: Any) -> Any:
        if path.endswith(f"/rooms/{room}/keys"):
            (listed,) = [m for m in answer["members"] if m["username"] == bob.username]
            forged = b64(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
            twin = {**listed, "user_id": 999_998, "username": bob.username.upper()}
            return {**answer, "members": [*answer["members"], {**twin, "identity_key": forged}]}
        return answer

    liar.rewrite = bob_twice
    with pytest.raises(CliError) as refused:
        choose(a, room)
    assert liar.changed > 0
    assert f"listed '{bob.username.upper()}' twice" in refused.value.message

    def another_room(method: str, path: str, answer: Any) -> Any:
        if path.endswith(f"/rooms/{room}/keys"):
            return {**answer, "room_id": "another-room"}
        return answer

    liar.rewrite = another_room
    with pytest.raises(CliError) as refused:
        choose(a, room)
    assert "keys of another room" in refused.value.message
