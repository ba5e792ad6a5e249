"""The smaller findings of the second probe (issue 23, item 8), each against a real daemon.

Before: no HSTS under TLS; a traceback in the log for every malformed request; `transfer:state`
of a `--to` transfer reached every member; a non-member asking for a known transfer id read the
private room's id in the error, and 403 against 404 told that the id existed; the socket origin
check believed `X-Forwarded-Proto` without trust-proxy.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import socketio

from chatkit import Accounts, _recorder, connect, create_room
from test_operations import self_signed
from transfer_helpers import offer_payload
from videonet_protocol import protocol

from conftest import Daemon, http


def test_hsts_under_tls_only(
    daemon_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    tls = daemon_factory("--tls-cert", str(cert), "--tls-key", str(key))
    context = ssl.create_default_context(cafile=str(cert))
    for path in ("/api/health", "/"):
        with urllib.request.urlopen(tls.url + path, context=context, timeout=10) as resp:
            assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = daemon_factory()
    _, _, headers = http("GET", plain.api("/api/health"))
    assert "Strict-Transport-Security" not in headers
    # Behind a trusted proxy, the scheme the browser used decides.
    proxied = daemon_factory(VIDEONET_TRUST_PROXY="1")
    req = urllib.request.Request(proxied.api("/api/health"), headers={"X-Forwarded-Proto": "https"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_malformed_requests_log_one_line_not_a_traceback_each(daemon_factory: Any) -> None:
    d = daemon_factory()
    host, port = d.url.removeprefix("http://").rsplit(":", 1)
    answers = []
    for i in range(40):
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBroken header line " + str(i).encode())
            conn.sendall(b"\r\n\r\n")
            answers.append(conn.recv(200).split(b"\r\n", 1)[0])
    assert {a.split(b" ", 1)[1] for a in answers} == {b"400 Bad Request"}
    status, _, _ = http("GET", d.api("/api/health"))  # and the daemon still answers
    assert status == 200
    d.stop()
    log = (d.data_dir.parent / f"{d.data_dir.name}.log").read_text()
    assert "Traceback" not in log
    lines = [line for line in log.splitlines() if "malformed request" in line]
    assert 1 <= len(lines) <= 2, lines  # one per 10 s at most


def test_the_state_of_an_addressed_transfer_reaches_only_its_two_ends(
    daemon: Daemon, tmp_path: Path
) -> None:
    accounts = Accounts(daemon, tmp_path)
    alice, bob, carol = accounts.make(), accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob, carol)

    async def run() -> tuple[list[str], list[str], str, str]:
        peers = [await connect(daemon, u) for u in (alice, bob, carol)]
        try:
            for peer in peers:
                peer.sio.on(protocol.EV_TRANSFER_STATE, _recorder(peer, protocol.EV_TRANSFER_STATE))
                await peer.join(room)
            sender, addressee, other = peers
            body = offer_payload(room, "for-bob.bin", 20, to=bob.username)
            addressed = (await sender.call(protocol.EV_TRANSFER_OFFER, body))["transfer"]
            await sender.call(protocol.EV_TRANSFER_ABORT, {"transfer_id": addressed["transfer_id"]})
            body = offer_payload(room, "for-all.bin", 20)
            everyone = (await sender.call(protocol.EV_TRANSFER_OFFER, body))["transfer"]
            await sender.call(protocol.EV_TRANSFER_ABORT, {"transfer_id": everyone["transfer_id"]})
            # The room-wide abort comes after the addressed one: once a socket has it, it would
            # have had the first one too.
            seen: list[list[str]] = []
            for peer in (addressee, other):
                ids: list[str] = []
                while not ids or ids[-1] != everyone["transfer_id"]:
                    ids.append((await peer.next(protocol.EV_TRANSFER_STATE))["transfer_id"])
                seen.append(ids)
            return seen[0], seen[1], addressed["transfer_id"], everyone["transfer_id"]
        finally:
            for peer in peers:
                await peer.close()

    bob_saw, carol_saw, addressed, everyone = asyncio.run(run())
    assert bob_saw == [addressed, everyone]
    assert carol_saw == [everyone]


def test_a_stranger_hears_404_alike_and_no_room_id(daemon: Daemon, tmp_path: Path) -> None:
    accounts = Accounts(daemon, tmp_path)
    alice, bob, carol, stranger = (accounts.make() for _ in range(4))
    status, room, _ = http(
        "POST",
        daemon.api(protocol.API_ROOM_CREATE),
        {"name": f"secret-{alice.username}", "private": True},
        token=alice.token,
    )
    assert status == 201, room
    room_id = room["id"]
    for member in (bob, carol):
        path = protocol.API_ROOM_INVITE.format(room_id=room_id)
        status, reply, _ = http(
            "POST", daemon.api(path), {"username": member.username}, alice.token
        )
        assert status == 201, reply

    async def offer() -> str:
        peer = await connect(daemon, alice)
        try:
            await peer.join(room_id)
            body = offer_payload(room_id, "to-bob.bin", 20, to=bob.username)
            ack = await peer.call(protocol.EV_TRANSFER_OFFER, body)
            assert ack["ok"], ack
            return str(ack["transfer"]["transfer_id"])
        finally:
            await peer.close()

    tid = asyncio.run(offer())
    unknown = "f" * len(tid)

    def answers(user: Any, transfer_id: str) -> list[tuple[int, str]]:
        got = []
        for method, path, raw in (
            ("GET", f"/api/transfers/{transfer_id}/data", None),
            ("GET", f"/api/transfers/{transfer_id}/manifest", None),
            ("PUT", f"/api/transfers/{transfer_id}/data?offset=0", b"abcd"),
        ):
            status, body, _ = http(method, daemon.api(path), token=user.token, raw=raw)
            got.append((status, body["error"]["message"].replace(transfer_id, "ID")))

        async def events() -> None:
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(
                daemon.url, auth={"token": user.token}, transports=["websocket"], wait_timeout=15
            )
            try:
                for event in (
                    protocol.EV_TRANSFER_ACCEPT,
                    protocol.EV_TRANSFER_ABORT,
                    protocol.EV_TRANSFER_DECLINE,
                ):
                    ack = await client.call(event, {"transfer_id": transfer_id}, timeout=15)
                    error = ack["error"]
                    got.append((error["code"], error["message"].replace(transfer_id, "ID")))
            finally:
                await client.disconnect()

        asyncio.run(events())
        return got

    for who in (stranger, carol):  # not in the room; in it but not the addressee
        seen = answers(who, tid)
        assert seen == answers(who, unknown), who
        assert all(room_id not in message for _, message in seen)
        assert {code for code, _ in seen} <= {404, "not_found"}


def test_the_socket_origin_check_ignores_forwarded_proto_without_trust_proxy(
    daemon_factory: Any, tmp_path: Path
) -> None:
    d = daemon_factory()
    alice = Accounts(d, tmp_path).make()
    https_origin = d.url.replace("http://", "https://")

    async def attempt() -> bool:
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(
                d.url,
                headers={"Origin": https_origin, "X-Forwarded-Proto": "https"},
                auth={"token": alice.token},
                transports=["websocket"],
                wait_timeout=15,
            )
        except socketio.exceptions.ConnectionError:
            return False
        await client.disconnect()
        return True

    assert asyncio.run(attempt()) is False
