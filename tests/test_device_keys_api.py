"""Identities and device keys over HTTP: publish, list, certify, revoke, remove, the device
limit, who may see whose keys, and the keys the daemon refuses (malformed, low-order)."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from videonet_protocol import protocol

from conftest import Daemon, User, http

P = 2**255 - 19
# Curve25519's low-order points (u = 0, 1, the two of order 8, p - 1): with any of them as a
# public key, every shared secret is known in advance (issue 23, item 3).
LOW_ORDER_U = [
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    P - 1,
]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def new_key() -> tuple[bytes, str]:
    raw = X25519PrivateKey.generate().public_key().public_bytes_raw()
    return raw, b64(raw)


def new_signing_key() -> str:
    return b64(Ed25519PrivateKey.generate().public_key().public_bytes_raw())


def publish(
    daemon: Daemon,
    user: User,
    device_id: str,
    key: str,
    label: str = "",
    signing_key: str | None = None,
) -> Any:
    return http(
        "POST",
        daemon.api("/api/keys"),
        {
            "device_id": device_id,
            "public_key": key,
            "signing_key": signing_key or new_signing_key(),
            "label": label,
        },
        user.token,
    )


def device_id() -> str:
    return uuid.uuid4().hex


def test_publish_is_idempotent_and_a_devices_keys_never_change(daemon: Daemon, user: User) -> None:
    raw, key = new_key()
    signing = new_signing_key()
    dev = device_id()
    status, info, _ = publish(daemon, user, dev, key, "laptop", signing)
    assert status == 201, info
    assert info["device_id"] == dev and info["public_key"] == key and info["label"] == "laptop"
    assert info["signing_key"] == signing and info["certificate"] == info["revocation"] == ""
    assert info["fingerprint"] == protocol.key_fingerprint(raw)

    status, again, _ = publish(daemon, user, dev, key, "laptop", signing)
    assert status == 200 and again == info

    for other_x, other_ed in ((new_key()[1], signing), (key, new_signing_key())):
        status, body, _ = publish(daemon, user, dev, other_x, "laptop", other_ed)
        assert status == 409 and body["error"]["code"] == "conflict"
        assert "different keys" in body["error"]["message"]

    status, mine, _ = http("GET", daemon.api("/api/keys"), token=user.token)
    assert status == 200
    assert mine["user_id"] == user.user_id and mine["identity_key"] == ""
    assert mine["devices"] == [info]


@pytest.mark.parametrize("u", LOW_ORDER_U)
def test_a_low_order_x25519_key_is_refused_with_the_reason(
    daemon: Daemon, user: User, u: int
) -> None:
    status, body, _ = publish(daemon, user, device_id(), b64(u.to_bytes(32, "little")))
    assert status == 400, body
    assert body["error"]["code"] == "validation_error"
    assert "low-order" in body["error"]["message"]


def test_malformed_keys_and_device_ids_are_refused_with_400(daemon: Daemon, user: User) -> None:
    good = new_key()[1]
    short = b64(os.urandom(31))
    unpadded = b64(os.urandom(32)).rstrip("=")
    non_canonical = b64((P + 5).to_bytes(32, "little"))
    for dev, key in [
        (device_id(), short),
        (device_id(), unpadded),
        (device_id(), "not base64 at all!"),
        (device_id(), b64(os.urandom(33))),
        (device_id(), non_canonical),
        ("short", good),
        ("has space in it", good),
        ("x" * 65, good),
    ]:
        status, body, _ = publish(daemon, user, dev, key)
        assert status == 400, (dev, key, body)
        assert body["error"]["code"] == "validation_error"
    # Ed25519: not a point of the curve (y = 2 has no x), and a small-order point.
    for signing, reason in [
        (b64((2).to_bytes(32, "little")), "not a point"),
        (b64((1).to_bytes(32, "little")), "small-order"),
    ]:
        status, body, _ = publish(daemon, user, device_id(), good, signing_key=signing)
        assert status == 400 and reason in body["error"]["message"], body
    status, body, _ = http("POST", daemon.api("/api/keys"), {"device_id": device_id()}, user.token)
    assert status == 400 and "public_key" in body["error"]["message"]
    status, body, _ = http("POST", daemon.api("/api/keys"), raw=b"[1]", token=user.token)
    assert status == 400 and body["error"]["code"] == "invalid_json"


def test_identity_is_set_once_unless_replaced(daemon: Daemon, user: User) -> None:
    first = new_signing_key()
    url = daemon.api("/api/identity")
    status, body, _ = http("PUT", url, {"identity_key": first}, user.token)
    assert status == 200 and body["identity_key"] == first
    assert http("PUT", url, {"identity_key": first}, user.token)[0] == 200  # the same again
    second = new_signing_key()
    status, body, _ = http("PUT", url, {"identity_key": second}, user.token)
    assert status == 409 and "another identity" in body["error"]["message"]
    status, body, _ = http("PUT", url, {"identity_key": second, "replace": True}, user.token)
    assert status == 200 and body["identity_key"] == second
    status, body, _ = http("PUT", url, {"identity_key": b64(bytes(32))}, user.token)
    assert status == 400 and "small-order" in body["error"]["message"]


def test_certificates_and_revocations_are_stored_as_given(daemon: Daemon, user: User) -> None:
    dev = device_id()
    assert publish(daemon, user, dev, new_key()[1], "old")[0] == 201
    url = daemon.api(f"/api/keys/{dev}")
    blob = b64(b"\x01" + os.urandom(64))
    status, body, _ = http("PATCH", url, {"label": "new"}, user.token)
    assert status == 400 and "certificate" in body["error"]["message"]
    status, body, _ = http("PATCH", url, {"certificate": blob, "label": "new"}, user.token)
    assert status == 200 and body["certificate"] == blob and body["label"] == "new"
    too_big = b64(os.urandom(protocol.SIGNED_BLOB_MAX_CHARS))
    status, body, _ = http("PATCH", url, {"certificate": too_big}, user.token)
    assert status == 400
    status, body, _ = http("PATCH", url, {"revocation": blob}, user.token)
    assert status == 200 and body["revocation"] == blob
    # Revoked for good: no new certificate, and its keys cannot come back under its id.
    status, body, _ = http("PATCH", url, {"certificate": blob}, user.token)
    assert status == 409
    status, body, _ = publish(daemon, user, dev, new_key()[1])
    assert status == 409 and "for good" in body["error"]["message"]


def test_keys_need_a_login(daemon: Daemon) -> None:
    for method, path in [
        ("GET", "/api/keys"),
        ("POST", "/api/keys"),
        ("PATCH", "/api/keys/abcdefgh"),
        ("DELETE", "/api/keys/abcdefgh"),
        ("PUT", "/api/identity"),
        ("GET", "/api/users/anyone/keys"),
    ]:
        status, body, _ = http(method, daemon.api(path), {})
        assert status == 401 and body["error"]["code"] == "unauthenticated", (method, path)


def test_the_device_limit_is_a_setting_and_revoked_devices_are_free(
    daemon_factory: Any, tmp_path: Path
) -> None:
    d = daemon_factory(VIDEONET_MAX_DEVICES_PER_USER="2")
    user = d.make_user(tmp_path)
    first, second = device_id(), device_id()
    assert publish(d, user, first, new_key()[1])[0] == 201
    assert publish(d, user, second, new_key()[1])[0] == 201
    status, body, _ = publish(d, user, device_id(), new_key()[1])
    assert status == 409 and "remove one first" in body["error"]["message"]

    status, body, _ = http("DELETE", d.api(f"/api/keys/{first}"), token=user.token)
    assert status == 200 and body == {"device_id": first, "removed": True}
    assert publish(d, user, device_id(), new_key()[1])[0] == 201
    revocation = b64(b"\x01" + os.urandom(64))
    assert (
        http("PATCH", d.api(f"/api/keys/{second}"), {"revocation": revocation}, user.token)[0]
        == 200
    )
    assert publish(d, user, device_id(), new_key()[1])[0] == 201


def test_only_your_own_devices_can_be_changed(daemon: Daemon, user: User, tmp_path: Path) -> None:
    other = daemon.make_user(tmp_path)
    dev = device_id()
    assert publish(daemon, other, dev, new_key()[1])[0] == 201
    status, body, _ = http("DELETE", daemon.api(f"/api/keys/{dev}"), token=user.token)
    assert status == 404 and body["error"]["code"] == "not_found"
    blob = b64(b"\x01" + os.urandom(64))
    status, body, _ = http(
        "PATCH", daemon.api(f"/api/keys/{dev}"), {"revocation": blob}, user.token
    )
    assert status == 404
    status, mine, _ = http("GET", daemon.api("/api/keys"), token=other.token)
    assert [d["device_id"] for d in mine["devices"]] == [dev]
    assert mine["devices"][0]["revocation"] == ""
    status, body, _ = http("DELETE", daemon.api("/api/keys/..%2F..%2Fx"), token=user.token)
    assert status == 404


def test_a_users_keys_are_seen_only_by_those_sharing_a_room(
    daemon: Daemon, user: User, tmp_path: Path
) -> None:
    other = daemon.make_user(tmp_path)
    raw, key = new_key()
    assert publish(daemon, other, device_id(), key)[0] == 201
    identity = new_signing_key()
    assert (
        http("PUT", daemon.api("/api/identity"), {"identity_key": identity}, other.token)[0] == 200
    )
    their_keys = daemon.api(f"/api/users/{other.username}/keys")

    # A stranger hears the same as for a name nobody has.
    status, stranger, _ = http("GET", their_keys, token=user.token)
    status_nobody, nobody, _ = http(
        "GET", daemon.api("/api/users/nobody-has-this-name/keys"), token=user.token
    )
    assert status == status_nobody == 404
    assert stranger["error"]["code"] == nobody["error"]["code"] == "not_found"

    status, room, _ = http(
        "POST", daemon.api("/api/rooms/create"), {"name": "keys-" + device_id()[:8]}, user.token
    )
    assert status == 201
    assert http("POST", daemon.api(f"/api/rooms/{room['id']}/join"), token=other.token)[0] == 200
    status, seen, _ = http("GET", their_keys, token=user.token)
    assert status == 200, seen
    assert seen["user_id"] == other.user_id and seen["username"] == other.username
    assert seen["identity_key"] == identity
    assert [d["fingerprint"] for d in seen["devices"]] == [protocol.key_fingerprint(raw)]

    assert http("POST", daemon.api(f"/api/rooms/{room['id']}/leave"), token=other.token)[0] == 200
    assert http("GET", their_keys, token=user.token)[0] == 404

    status, own, _ = http("GET", their_keys, token=other.token)
    assert status == 200 and len(own["devices"]) == 1


def test_a_rooms_keys_list_every_member_to_members_only(
    daemon: Daemon, user: User, tmp_path: Path
) -> None:
    """`GET /api/rooms/{id}/keys`: each member's identity and devices, as each one's own
    listing says them, in one answer; a stranger hears what the room's members list answers
    them (403 for a public room; test_rooms_manage checks 404 for a private one)."""
    other, stranger = daemon.make_user(tmp_path), daemon.make_user(tmp_path)
    raw, key = new_key()
    assert publish(daemon, other, device_id(), key)[0] == 201
    identity = new_signing_key()
    assert (
        http("PUT", daemon.api("/api/identity"), {"identity_key": identity}, other.token)[0] == 200
    )
    status, room, _ = http(
        "POST", daemon.api("/api/rooms/create"), {"name": "rk-" + device_id()[:8]}, user.token
    )
    assert status == 201
    assert http("POST", daemon.api(f"/api/rooms/{room['id']}/join"), token=other.token)[0] == 200
    keys_url = daemon.api(protocol.API_ROOM_KEYS.format(room_id=room["id"]))

    status, listed, _ = http("GET", keys_url, token=user.token)
    assert status == 200, listed
    assert listed["room_id"] == room["id"]
    by_id = {m["user_id"]: m for m in listed["members"]}
    assert set(by_id) == {user.user_id, other.user_id}
    for member in (user, other):
        status, alone, _ = http(
            "GET", daemon.api(f"/api/users/{member.username}/keys"), token=user.token
        )
        assert status == 200 and by_id[member.user_id] == alone
    assert by_id[other.user_id]["identity_key"] == identity
    assert [d["fingerprint"] for d in by_id[other.user_id]["devices"]] == [
        protocol.key_fingerprint(raw)
    ]

    status, body, _ = http("GET", keys_url, token=stranger.token)
    members_url = daemon.api(protocol.API_ROOM_MEMBERS.format(room_id=room["id"]))
    status_members, members, _ = http("GET", members_url, token=stranger.token)
    assert status == status_members == 403
    assert body["error"]["code"] == members["error"]["code"]
    assert "members" not in body
    assert http("GET", keys_url)[0] == 401


def test_a_user_is_found_by_any_spelling_of_the_name(
    daemon: Daemon, user: User, tmp_path: Path
) -> None:
    other = daemon.make_user(tmp_path)
    status, room, _ = http(
        "POST", daemon.api("/api/rooms/create"), {"name": "keys-" + device_id()[:8]}, user.token
    )
    assert http("POST", daemon.api(f"/api/rooms/{room['id']}/join"), token=other.token)[0] == 200
    status, seen, _ = http(
        "GET", daemon.api(f"/api/users/{other.username.upper()}/keys"), token=user.token
    )
    assert status == 200 and seen["username"] == other.username  # the name as registered
