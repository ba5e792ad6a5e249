"""Device keys over HTTP: publish, list, remove, the device limit, and who may see whose keys."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Any

from videonet_protocol import protocol

from conftest import Daemon, User, http


def new_key() -> tuple[bytes, str]:
    raw = os.urandom(32)
    return raw, base64.b64encode(raw).decode()


def publish(daemon: Daemon, user: User, device_id: str, key: str, label: str = "") -> Any:
    return http(
        "POST",
        daemon.api("/api/keys"),
        {"device_id": device_id, "public_key": key, "label": label},
        user.token,
    )


def device_id() -> str:
    return uuid.uuid4().hex


def test_publish_is_idempotent_and_a_device_key_never_changes(daemon: Daemon, user: User) -> None:
    raw, key = new_key()
    dev = device_id()
    status, info, _ = publish(daemon, user, dev, key, "laptop")
    assert status == 201, info
    assert info["device_id"] == dev and info["public_key"] == key and info["label"] == "laptop"
    assert info["fingerprint"] == protocol.key_fingerprint(raw)
    assert len(info["fingerprint"]) == 8 * 4 + 7

    status, again, _ = publish(daemon, user, dev, key, "laptop")
    assert status == 200 and again == info

    status, body, _ = publish(daemon, user, dev, new_key()[1])
    assert status == 409 and body["error"]["code"] == "conflict"
    assert "different key" in body["error"]["message"]

    status, mine, _ = http("GET", daemon.api("/api/keys"), token=user.token)
    assert status == 200 and mine == [info]


def test_bad_keys_and_device_ids_are_refused_with_400(daemon: Daemon, user: User) -> None:
    good = new_key()[1]
    short = base64.b64encode(os.urandom(31)).decode()
    unpadded = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    for dev, key in [
        (device_id(), short),
        (device_id(), unpadded),
        (device_id(), "not base64 at all!"),
        (device_id(), base64.b64encode(os.urandom(33)).decode()),
        ("short", good),
        ("has space in it", good),
        ("x" * 65, good),
    ]:
        status, body, _ = publish(daemon, user, dev, key)
        assert status == 400, (dev, key, body)
        assert body["error"]["code"] == "validation_error"
    status, body, _ = http("POST", daemon.api("/api/keys"), {"device_id": device_id()}, user.token)
    assert status == 400 and "public_key" in body["error"]["message"]
    status, body, _ = http("POST", daemon.api("/api/keys"), raw=b"[1]", token=user.token)
    assert status == 400 and body["error"]["code"] == "invalid_json"


def test_keys_need_a_login(daemon: Daemon) -> None:
    for method, path in [
        ("GET", "/api/keys"),
        ("POST", "/api/keys"),
        ("DELETE", "/api/keys/abcdefgh"),
        ("GET", "/api/users/anyone/keys"),
    ]:
        status, body, _ = http(method, daemon.api(path), {})
        assert status == 401 and body["error"]["code"] == "unauthenticated", (method, path)


def test_the_device_limit_is_a_setting(daemon_factory: Any, tmp_path: Path) -> None:
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


def test_only_your_own_devices_can_be_removed(daemon: Daemon, user: User, tmp_path: Path) -> None:
    other = daemon.make_user(tmp_path)
    dev = device_id()
    assert publish(daemon, other, dev, new_key()[1])[0] == 201
    status, body, _ = http("DELETE", daemon.api(f"/api/keys/{dev}"), token=user.token)
    assert status == 404 and body["error"]["code"] == "not_found"
    status, mine, _ = http("GET", daemon.api("/api/keys"), token=other.token)
    assert [d["device_id"] for d in mine] == [dev]
    status, body, _ = http("DELETE", daemon.api("/api/keys/..%2F..%2Fx"), token=user.token)
    assert status == 404


def test_a_users_keys_are_seen_only_by_those_sharing_a_room(
    daemon: Daemon, user: User, tmp_path: Path
) -> None:
    other = daemon.make_user(tmp_path)
    raw, key = new_key()
    assert publish(daemon, other, device_id(), key)[0] == 201
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
    assert [d["fingerprint"] for d in seen["devices"]] == [protocol.key_fingerprint(raw)]

    assert http("POST", daemon.api(f"/api/rooms/{room['id']}/leave"), token=other.token)[0] == 200
    assert http("GET", their_keys, token=user.token)[0] == 404

    status, own, _ = http("GET", their_keys, token=other.token)
    assert status == 200 and len(own["devices"]) == 1
