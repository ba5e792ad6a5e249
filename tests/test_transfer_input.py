"""Bad input for transfers: hostile names (daemon and receiver), protocol misuse, verify."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import socketio

from transfer_helpers import make_room, member, offer_payload, random_file
from videonet_cli.errors import UsageError
from videonet_cli.transfer.files import safe_name

from conftest import Cli, Daemon, http


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("a\x00b\x1b[31m.txt", "ab[31m.txt"),
        ("dir/sub/ok.bin", "ok.bin"),
        ("  spaced  ", "spaced"),
    ],
)
def test_safe_name_reduces_to_a_basename(offered: str, expected: str) -> None:
    result = safe_name(offered)
    assert result.name == expected
    assert result.changed == (offered != expected)
    assert "/" not in result.name and "\\" not in result.name


@pytest.mark.parametrize("offered", ["", ".", "..", "../", "a/..", "\x00\x01"])
def test_safe_name_refuses_unusable_names(offered: str) -> None:
    with pytest.raises(UsageError):
        safe_name(offered)


def test_safe_name_shortens_long_names_keeping_the_extension() -> None:
    result = safe_name("é" * 200 + ".mp4")
    assert len((result.name + ".part").encode()) <= 255
    assert result.name.endswith(".mp4") and result.changed


async def _raw_offer(daemon: Daemon, token: str, room_id: str, **payload: Any) -> Any:
    client = socketio.AsyncClient()
    await client.connect(daemon.url, auth={"token": token}, transports=["websocket"])
    try:
        joined = await client.call("room:join", {"room_id": room_id}, timeout=10)
        assert joined["ok"]
        offer = {**offer_payload(room_id, "ok", 17), **payload}
        return await client.call("transfer:offer", offer, timeout=10)
    finally:
        await client.disconnect()


def _e2e_of(size: int) -> dict[str, Any]:
    e2e: dict[str, Any] = offer_payload("", "x", size)["e2e"]
    return e2e


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "../evil", "size": 1},
        {"name": "/abs", "size": 1},
        {"name": "a\\b", "size": 1},
        {"name": "..", "size": 1},
        {"name": "bell\x07", "size": 1},
        {"name": "x" * 256, "size": 1},
        {"name": "", "size": 1},
        {"name": 5, "size": 1},
        {"name": "ok", "size": -1},
        {"name": "ok", "size": "10"},
        {"name": "ok", "size": True},
    ],
)
def test_daemon_refuses_bad_offers(daemon: Daemon, tmp_path: Path, payload: dict[str, Any]) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice)
    ack = asyncio.run(_raw_offer(daemon, alice.user.token, room, **payload))
    assert ack["ok"] is False
    assert ack["error"]["code"] == "validation_error"
    # …and the daemon still serves.
    assert http("GET", daemon.api("/api/health"))[0] == 200


def test_offer_without_joining_the_channel(daemon: Daemon, tmp_path: Path) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice)

    async def go() -> Any:
        client = socketio.AsyncClient()
        await client.connect(daemon.url, auth={"token": alice.user.token}, transports=["websocket"])
        try:
            return await client.call("transfer:offer", offer_payload(room, "a", 17), timeout=10)
        finally:
            await client.disconnect()

    ack = asyncio.run(go())
    assert ack["ok"] is False and ack["error"]["code"] == "not_joined"


def test_upload_protocol_misuse(daemon: Daemon, tmp_path: Path) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice)
    ack = asyncio.run(
        _raw_offer(daemon, alice.user.token, room, name="m.bin", size=26, e2e=_e2e_of(26))
    )
    url = daemon.api(f"/api/transfers/{ack['transfer']['transfer_id']}/data")
    status, body, _ = http("PUT", url + "?offset=5", token=alice.user.token, raw=b"12345")
    assert status == 409 and body["error"]["code"] == "transfer_state"
    status, body, _ = http("PUT", url + "?offset=x", token=alice.user.token, raw=b"1")
    assert status == 400
    status, body, _ = http("PUT", url + "?offset=0", token=alice.user.token, raw=b"123")
    assert status == 400 and "expected 26 bytes" in body["error"]["message"]
    status, body, _ = http("PUT", url + "?offset=0", token=alice.user.token, raw=b"x" * 26)
    assert status == 200 and body["uploaded"] == 26
    status, body, _ = http("PUT", url + "?offset=26", token=alice.user.token, raw=b"")
    assert status == 409
    req = urllib.request.Request(url, headers={"Range": "bytes=40-"})
    req.add_header("Authorization", f"Bearer {alice.user.token}")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("expected 416")
    except urllib.error.HTTPError as exc:
        assert exc.code == 416
    status, body, _ = http("GET", daemon.api("/api/transfers/nope/data"), token=alice.user.token)
    assert status == 404


def test_verify_locally(cli: Cli, tmp_path: Path) -> None:
    a = random_file(tmp_path / "a.bin", 100_000)
    b = tmp_path / "b.bin"
    b.write_bytes(a.read_bytes())
    r = cli("verify", str(a), str(b), "--json")
    assert r.code == 0 and r.json()["match"] is True
    data = bytearray(b.read_bytes())
    data[500] ^= 1
    b.write_bytes(bytes(data))
    r = cli("verify", str(a), str(b))
    assert r.code == 1 and "differ" in r.err
    r = cli("verify", str(a), str(tmp_path / "missing"))
    assert r.code == 4


def test_verify_on_the_daemon(cli: Cli, tmp_path: Path) -> None:
    a = random_file(tmp_path / "a.bin", 3_000_000)
    b = tmp_path / "b.bin"
    b.write_bytes(a.read_bytes())
    r = cli("verify", "--remote", str(a), str(b), "--json")
    assert r.code == 0, r.err
    assert r.json()["match"] is True and r.json()["received"]["size"] == 3_000_000
    b.write_bytes(a.read_bytes()[:-1])
    r = cli("verify", "--remote", str(a), str(b), "--json")
    assert r.code == 1 and r.json()["match"] is False


def test_verify_endpoint_bad_input(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(VIDEONET_VERIFY_MAX_BYTES="1000")
    user = d.make_user(tmp_path)
    url = d.api("/api/video/verify")
    status, body, _ = http("POST", url, {"x": 1}, token=user.token)
    assert status == 400 and "multipart" in body["error"]["message"]
    status, body, _ = http("POST", url, {"x": 1})
    assert status == 401
    c = Cli(d.url, user.config_dir, user.token)
    a = random_file(tmp_path / "a.bin", 2000)
    r = c("verify", "--remote", str(a), str(a))
    assert r.code == 1 and "at most 1000 bytes" in r.err

    boundary = "XyZ"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="original_file"; '
        f'filename="a"\r\n\r\nhello\r\n--{boundary}--\r\n'
    ).encode()
    req = urllib.request.Request(url, data=part, method="POST")
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    req.add_header("Authorization", f"Bearer {user.token}")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("expected 400")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        assert b"received_file" in exc.read()
