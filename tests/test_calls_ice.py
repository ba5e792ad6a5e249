"""`videonet call` and the end of a peer's trickled candidates: with none that work, the
connection fails (instead of waiting for more forever) and ends with a message and a hang-up."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from calls_helpers import Peer
from media_env import namespace_daemon, own_namespace  # noqa: F401  (fixtures: in a namespace)
from transfer_helpers import Background, make_room, member

from conftest import Daemon

pytestmark = pytest.mark.one_pass("call media: no database in the media path")


async def an_offer_without_candidates() -> str:
    """A real aiortc offer (audio + video) with its candidates taken out: they trickle later."""
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    lines = [
        line
        for line in sdp.splitlines()
        if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    ]
    return "\r\n".join(lines) + "\r\n"


async def test_a_peer_whose_candidates_cannot_work_fails_and_is_hung_up(
    daemon: Daemon, tmp_path: Path
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "ice-end")
    bob = member(daemon, tmp_path, room)
    listener = Background(alice.cli, "call", room, "--json", "--duration", "60")
    await asyncio.to_thread(listener.wait_for, lambda e: e["event"] == "joined")
    try:
        async with Peer(daemon, bob.user.token) as peer:
            ack = await peer.enter(room)
            (cli_peer,) = ack["participants"]
            to = cli_peer["peer_id"]
            sdp = await an_offer_without_candidates()
            assert (await peer.call("call:offer", {"room_id": room, "to": to, "sdp": sdp}))["ok"]
            assert (await peer.next("call:answer"))["sdp"].startswith("v=0")
            # A TCP candidate: aioice has nothing it can pair with it.
            bad = {
                "candidate": "candidate:1 1 tcp 2122260223 127.0.0.1 9 typ host tcptype passive",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
                "usernameFragment": None,
            }
            for candidate in (bad, None):
                body = {"room_id": room, "to": to, "candidate": candidate}
                assert (await peer.call("call:candidate", body))["ok"]
            hangup = await peer.next("call:hangup", timeout=30)
            assert hangup["reason"] == "the connection failed"
        failed = await asyncio.to_thread(
            listener.wait_for, lambda e: e["event"] == "peer_hung_up", 30
        )
        assert failed["username"] == bob.user.username
        assert failed["reason"] == "the connection failed"
    finally:
        listener.proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(listener.finish, 30) == 0, listener.stderr()
