"""Bad input at the mechanism: every error has the JSON shape and its status, never a 500.

Each test sends what a careless or hostile client sends (raw HTTP, raw Socket.IO, raw engine.io)
to a real daemon and checks the answer and that the daemon's log stays short.
"""

from __future__ import annotations

import asyncio
import http.client as httplib
import json
import socket
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import socketio

from transfer_helpers import make_room, member, offer_payload

from conftest import Daemon, http

DEEP = 30_000


def raw_request(
    daemon: Daemon, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client (no encoding of the body on our side)."""
    parts = urllib.parse.urlsplit(daemon.url)
    conn = httplib.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def error_of(body: bytes) -> dict[str, Any]:
    """The error body of a response, checked to be exactly the documented shape."""
    decoded = json.loads(body)
    assert set(decoded) == {"error"}, decoded
    assert set(decoded["error"]) == {"code", "message"}, decoded
    assert all(isinstance(v, str) and v for v in decoded["error"].values()), decoded
    error: dict[str, Any] = decoded["error"]
    return error


def log_of(daemon: Daemon) -> str:
    return (daemon.data_dir.parent / f"{daemon.data_dir.name}.log").read_text()


# --- 13: Range, headers kept, foreign errors in the JSON shape --------------------------------


async def _offer(daemon: Daemon, token: str, room_id: str, name: str, size: int) -> str:
    client = socketio.AsyncClient()
    await client.connect(daemon.url, auth={"token": token}, transports=["websocket"])
    try:
        assert (await client.call("room:join", {"room_id": room_id}, timeout=10))["ok"]
        ack = await client.call("transfer:offer", offer_payload(room_id, name, size), timeout=10)
        assert ack["ok"], ack
        return str(ack["transfer"]["transfer_id"])
    finally:
        await client.disconnect()


def test_a_range_from_the_end_is_416_with_content_range(daemon: Daemon, tmp_path: Path) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice)
    transfer = asyncio.run(_offer(daemon, alice.user.token, room, "r.bin", 26))
    path = f"/api/transfers/{transfer}/data"
    auth = {"Authorization": f"Bearer {alice.user.token}"}
    body26 = b"0123456789abcdefghijklmnop"
    status, _, _ = raw_request(daemon, "PUT", path + "?offset=0", body26, auth)
    assert status == 200
    for start in (26, 27):
        status, headers, body = raw_request(
            daemon, "GET", path, headers={**auth, "Range": f"bytes={start}-"}
        )
        assert status == 416, (start, status)
        assert headers["Content-Range"] == "bytes */26"
        assert error_of(body)["code"] == "range_not_satisfiable"
    status, headers, body = raw_request(daemon, "GET", path, headers={**auth, "Range": "bytes=25-"})
    assert (status, headers["Content-Range"], body) == (206, "bytes 25-25/26", b"p")


def test_405_keeps_allow_and_has_the_json_shape(daemon: Daemon) -> None:
    status, headers, body = raw_request(daemon, "DELETE", "/api/health")
    assert status == 405
    assert "GET" in headers["Allow"]
    assert error_of(body)["code"] == "method_not_allowed"
    status, _, body = raw_request(daemon, "GET", "/api/no/such/path")
    assert status == 404 and error_of(body)["code"] == "not_found"


def test_429_keeps_retry_after(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(VIDEONET_LOGIN_FAILURES_MAX="2")
    alice = d.make_user(tmp_path)
    wrong = json.dumps({"email": alice.email, "password": "wrong password!"}).encode()
    statuses = []
    for _ in range(4):
        status, headers, body = raw_request(
            d, "POST", "/api/auth/login", wrong, {"Content-Type": "application/json"}
        )
        statuses.append(status)
    assert statuses[-1] == 429
    assert int(headers["Retry-After"]) >= 1
    assert error_of(body)["code"] == "rate_limited"


@pytest.mark.parametrize(
    "query",
    [
        "EIO=4&transport=polling&sid=no-such-session",
        "EIO=9&transport=polling",
        "EIO=4&transport=carrier-pigeon",
    ],
)
def test_engineio_errors_have_the_json_shape(daemon: Daemon, query: str) -> None:
    status, headers, body = raw_request(daemon, "GET", f"/socket.io/?{query}")
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    assert error_of(body)["code"] == "bad_request"


def test_a_body_above_the_limit_is_413_json(daemon: Daemon, tmp_path: Path) -> None:
    big = json.dumps({"email": "x" * 200_000}).encode()
    status, _, body = raw_request(
        daemon, "POST", "/api/auth/login", big, {"Content-Type": "application/json"}
    )
    assert status == 413 and error_of(body)["code"] == "payload_too_large"


# --- 11: surrogates, deep JSON, truncated multipart, malformed packets ------------------------

SURROGATE_FIELDS = [
    ("/api/auth/register", "username"),
    ("/api/auth/register", "email"),
    ("/api/auth/login", "email"),
    ("/api/rooms/create", "name"),
    ("/api/rooms/create", "description"),
]


@pytest.mark.parametrize(("path", "field"), SURROGATE_FIELDS)
def test_a_lone_surrogate_is_400_not_500(
    daemon: Daemon, tmp_path: Path, path: str, field: str
) -> None:
    alice = daemon.make_user(tmp_path)
    payload: dict[str, Any] = {
        "email": "s@example.test",
        "username": "surrogate",
        "password": "correct horse battery",
        "invite_code": daemon.shared_invite(),
        "name": "room",
    }
    payload[field] = "a\ud800b"
    body = json.dumps(payload).encode()  # ASCII-escaped: "\ud800" on the wire, as a client sends
    status, _, answer = raw_request(
        daemon,
        "POST",
        path,
        body,
        {"Content-Type": "application/json", "Authorization": f"Bearer {alice.token}"},
    )
    assert status == 400, answer
    assert error_of(answer)["code"] == "invalid_text"


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_json_nested_thirty_thousand_deep_is_400(daemon: Daemon, opening: str) -> None:
    body = (opening * DEEP).encode()[:60_000]
    status, _, answer = raw_request(
        daemon, "POST", "/api/auth/login", body, {"Content-Type": "application/json"}
    )
    assert status == 400, answer
    assert error_of(answer)["code"] == "invalid_json"


def test_json_nested_just_too_deep_is_400(daemon: Daemon) -> None:
    body = ("[" * 40 + "]" * 40).encode()
    wrapped = b'{"email": ' + body + b"}"
    status, _, answer = raw_request(
        daemon, "POST", "/api/auth/login", wrapped, {"Content-Type": "application/json"}
    )
    assert status == 400 and error_of(answer)["code"] == "invalid_json"


def test_a_truncated_multipart_body_is_400(daemon: Daemon, tmp_path: Path) -> None:
    alice = daemon.make_user(tmp_path)
    boundary = "xyzzy"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="original_file"; filename="a"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
        "some bytes but never the closing boundary"
    ).encode()
    status, _, answer = raw_request(
        daemon,
        "POST",
        "/api/video/verify",
        body,
        {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Bearer {alice.token}",
        },
    )
    assert status == 400, answer
    assert error_of(answer)["code"] == "bad_request"


async def _socket_refusals(daemon: Daemon, token: str, room: str) -> list[Any]:
    client = socketio.AsyncClient()
    await client.connect(daemon.url, auth={"token": token}, transports=["websocket"])
    try:
        assert (await client.call("room:join", {"room_id": room}, timeout=10))["ok"]
        deep: Any = "x"
        for _ in range(200):
            deep = [deep]
        return [
            await client.call("chat:send", {"room_id": room, "text": "hi \ud800"}, timeout=10),
            await client.call("transfer:offer", offer_payload(room, "\udfff.bin", 17), timeout=10),
            await client.call(
                "chat:send", {"room_id": room, "text": "x", "extra": deep}, timeout=10
            ),
        ]
    finally:
        await client.disconnect()


def test_socket_payloads_with_surrogates_or_deep_nesting_are_refused(
    daemon: Daemon, tmp_path: Path
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice)
    acks = asyncio.run(_socket_refusals(daemon, alice.user.token, room))
    codes = [a["error"]["code"] for a in acks if a.get("ok") is False]
    assert codes == ["invalid_text", "invalid_text", "invalid_json"], acks
    assert http("GET", daemon.api("/api/health"))[0] == 200


def test_malformed_engineio_packets_do_not_flood_the_log(daemon_factory: Any) -> None:
    d = daemon_factory()
    status, _, body = raw_request(d, "GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 200
    sid = json.loads(body[1:])["sid"]
    before = log_of(d).count("\n")
    for bad in (b"zz", b"42[bad", b"4{", b"\xff\xfe") * 10:
        raw_request(d, "POST", f"/socket.io/?EIO=4&transport=polling&sid={sid}", bad)
    lines = log_of(d).splitlines()[before:]
    assert "Traceback" not in "\n".join(lines)
    # One line per interval, not 25 per packet.
    assert len(lines) <= 3, lines
    # A polling session that stopped polling does not hold the shutdown: SIGTERM ends the
    # daemon cleanly (exit 0) instead of it being killed when the test's stop gives up.
    assert d.stop() == 0


# --- 10: unknown events are rate limited; vn:error only without an ack ------------------------


async def _unknown_flood(daemon: Daemon, token: str) -> tuple[list[Any], list[Any]]:
    client = socketio.AsyncClient()
    errors: list[Any] = []
    client.on("vn:error", lambda e: errors.append(e))
    await client.connect(daemon.url, auth={"token": token}, transports=["websocket"])
    try:
        acks = await asyncio.gather(
            *(client.call("no:such:event", {}, timeout=10) for _ in range(300))
        )
        with_ack_errors = list(errors)
        await client.emit("no:such:event", {})
        for _ in range(50):
            if len(errors) > len(with_ack_errors):
                break
            await asyncio.sleep(0.1)
        return list(acks), [with_ack_errors, errors[len(with_ack_errors) :]]
    finally:
        await client.disconnect()


def test_unknown_events_are_rate_limited(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(VIDEONET_SOCKET_EVENT_RATE="5", VIDEONET_SOCKET_EVENT_BURST="10")
    alice = d.make_user(tmp_path)
    acks, (with_ack, without_ack) = asyncio.run(_unknown_flood(d, alice.token))
    codes = [a["error"]["code"] for a in acks]
    assert codes.count("unknown_event") <= 12
    assert codes.count("rate_limited") >= 280
    assert with_ack == []  # refusals that had an ack came only in the ack
    assert len(without_ack) == 1  # the one sent without an ack got vn:error


def test_the_daemon_still_answers_after_raw_garbage(daemon: Daemon) -> None:
    host, port = urllib.parse.urlsplit(daemon.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"\x16\x03\x01garbage that is not HTTP\r\n\r\n")
        try:
            reply = s.recv(4096)
        except ConnectionResetError:
            reply = b""
    # aiohttp's parser answers a TLS hello (HTTP/1.0 400, before any middleware) or just closes.
    assert reply == b"" or reply.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), reply
    if reply:
        assert error_of(reply.split(b"\r\n\r\n", 1)[1])["code"] == "bad_request"
    assert http("GET", daemon.api("/api/health"))[0] == 200


def test_a_request_the_parser_refuses_has_the_json_shape(daemon: Daemon) -> None:
    host, port = urllib.parse.urlsplit(daemon.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: =5\r\n\r\n")
        reply = s.recv(4096)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), reply
    assert b"content-type: application/json" in head.lower()
    error = error_of(body)
    assert error["code"] == "bad_request"
    assert "Content-Length" in error["message"] and "\n" not in error["message"]
