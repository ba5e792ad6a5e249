"""The daemon's relay of code exchanges (`code:seek`, `code:message`), with raw Socket.IO
clients against the real daemon: who may talk to whom, which steps in which direction, the
shape and size of a message, and the per-transfer rate."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import socketio

from transfer_helpers import make_room, member, offer_payload
from videonet_protocol import protocol

from conftest import Daemon

EXCHANGE = "0123456789abcdef0123456789abcdef"
BODY = base64.b64encode(bytes(33)).decode("ascii")


class Client:
    def __init__(self, daemon: Daemon, token: str) -> None:
        self.url = daemon.url
        self.token = token
        self.sio = socketio.AsyncClient()
        self.got: dict[str, list[dict[str, Any]]] = {}
        for event in (protocol.EV_CODE_SEEK, protocol.EV_CODE_MESSAGE):
            self.sio.on(event, self._keep(event))

    def _keep(self, event: str) -> Any:
        async def keep(data: dict[str, Any]) -> None:
            self.got.setdefault(event, []).append(data)

        return keep

    async def __aenter__(self) -> Client:
        await self.sio.connect(self.url, auth={"token": self.token}, transports=["websocket"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sio.disconnect()

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call(event, data, timeout=10)
        return ack

    async def message(self, transfer_id: str, to: int, step: str, **extra: Any) -> dict[str, Any]:
        body = {
            "transfer_id": transfer_id,
            "to_user_id": to,
            "exchange": EXCHANGE,
            "step": step,
            "body": "" if step == "fail" else BODY,
            **extra,
        }
        return await self.call(protocol.EV_CODE_MESSAGE, body)


def _code(ack: dict[str, Any]) -> str:
    assert not ack["ok"], ack
    return str(ack["error"]["code"])


async def _settle(condition: Any) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.05)


def test_code_relay_rules(daemon: Daemon, tmp_path: Path) -> None:
    ana = member(daemon, tmp_path)
    room = make_room(daemon, ana, "coderelay")
    bo = member(daemon, tmp_path, room)
    cy = member(daemon, tmp_path, room)  # another member of the room
    eve = member(daemon, tmp_path)  # an account on the daemon, not in the room
    a_id, b_id, e_id = ana.user.user_id, bo.user.user_id, eve.user.user_id

    async def run() -> None:
        async with (
            Client(daemon, ana.user.token) as a,
            Client(daemon, bo.user.token) as b,
            Client(daemon, cy.user.token) as c,
            Client(daemon, eve.user.token) as e,
        ):
            for client in (a, b, c):
                assert (await client.call(protocol.EV_ROOM_JOIN, {"room_id": room}))["ok"]
            offer = await a.call(protocol.EV_TRANSFER_OFFER, offer_payload(room, "x.bin", 26))
            tid = offer["transfer"]["transfer_id"]

            # Only the transfer's sender opens a number for it, a well-formed one.
            opening = {"transfer_id": tid, "nameplate": "7"}
            assert _code(await b.call(protocol.EV_CODE_OPEN, opening)) == "forbidden"
            assert _code(await e.call(protocol.EV_CODE_OPEN, opening)) == "not_found"
            for nameplate in ("07", "x", "12345", ""):
                bad_open = {**opening, "nameplate": nameplate}
                assert _code(await a.call(protocol.EV_CODE_OPEN, bad_open)) == "validation_error"
            assert (await a.call(protocol.EV_CODE_OPEN, opening))["ok"]

            # A seek reaches the sockets that opened its number, naming who seeks; not the
            # room's other members (they never see the number), not a stranger's.
            seek = {"room_id": room, "nameplate": "7", "exchange": EXCHANGE}
            assert (await b.call(protocol.EV_CODE_SEEK, seek))["ok"]
            await _settle(lambda: a.got.get(protocol.EV_CODE_SEEK))
            assert a.got[protocol.EV_CODE_SEEK] == [
                {**seek, "user_id": b_id, "username": bo.user.username}
            ]
            other = {**seek, "nameplate": "8"}  # a number nobody opened reaches nobody
            assert (await b.call(protocol.EV_CODE_SEEK, other))["ok"]
            assert _code(await e.call(protocol.EV_CODE_SEEK, seek)) == "forbidden"  # a stranger
            for nameplate in ("07", "x", "12345", ""):
                bad = {**seek, "nameplate": nameplate}
                assert _code(await b.call(protocol.EV_CODE_SEEK, bad)) == "validation_error"

            # Sender -> member and member -> sender, each in its own steps.
            assert (await a.message(tid, b_id, "pake"))["ok"]
            assert (await b.message(tid, a_id, "reply"))["ok"]
            assert (await b.message(tid, a_id, "fail"))["ok"]
            await _settle(lambda: len(a.got.get(protocol.EV_CODE_MESSAGE, [])) == 2)
            relayed = a.got[protocol.EV_CODE_MESSAGE][0]
            assert relayed == {
                "transfer_id": tid,
                "exchange": EXCHANGE,
                "step": "reply",
                "body": BODY,
                "from_user_id": b_id,
                "from_username": bo.user.username,
            }
            await _settle(lambda: b.got.get(protocol.EV_CODE_MESSAGE))
            assert [m["step"] for m in b.got[protocol.EV_CODE_MESSAGE]] == ["pake"]

            assert _code(await b.message(tid, a_id, "pake")) == "validation_error"
            assert _code(await b.message(tid, a_id, "key")) == "validation_error"
            assert _code(await a.message(tid, b_id, "reply")) == "validation_error"
            # Only between the transfer's sender and a member it is offered to.
            assert _code(await b.message(tid, e_id, "reply")) == "forbidden"
            assert _code(await a.message(tid, e_id, "pake")) == "forbidden"
            assert _code(await a.message(tid, a_id, "pake")) == "forbidden"
            assert _code(await e.message(tid, a_id, "reply")) == "not_found"  # a stranger
            assert _code(await b.message("0" * 32, a_id, "reply")) == "not_found"
            assert not e.got  # the stranger heard nothing
            assert protocol.EV_CODE_SEEK not in c.got  # nor the other member: no number
            assert len(a.got[protocol.EV_CODE_SEEK]) == 1

            # Shapes and sizes.
            too_long = base64.b64encode(bytes(200)).decode("ascii")
            for extra in (
                {"body": too_long},
                {"body": "not base64!"},
                {"exchange": "ABC"},
                {"exchange": EXCHANGE.upper()},
                {"to_user_id": "1"},
            ):
                assert _code(await b.message(tid, a_id, "reply", **extra)) == "validation_error"
            assert _code(await b.message(tid, a_id, "hello")) == "validation_error"
            assert _code(await b.message(tid, a_id, "fail", body=BODY)) == "validation_error"

            # A rate per transfer: a burst, then refusals (the connection stays up).
            acks = [
                await b.message(tid, a_id, "reply") for _ in range(protocol.CODE_MESSAGES_BURST)
            ]
            refused = [_code(x) for x in acks if not x["ok"]]
            assert refused and set(refused) == {"rate_limited"}
            assert (await b.call(protocol.EV_CODE_SEEK, seek))["ok"]

            # Nothing more once the transfer is aborted.
            assert (await a.call(protocol.EV_TRANSFER_ABORT, {"transfer_id": tid}))["ok"]
            assert _code(await b.message(tid, a_id, "fail")) == "transfer_state"

    asyncio.run(run())
