"""Helpers for call tests: a raw Socket.IO participant that records what the daemon sends it."""

from __future__ import annotations

import asyncio
import fractions
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import socketio

from conftest import Daemon

EVENTS = (
    "call:joined",
    "call:left",
    "call:offer",
    "call:answer",
    "call:candidate",
    "call:hangup",
    "vn:error",
)
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def trickle(room_id: str, to: str, count: int) -> list[tuple[str, Any]]:
    """An offer, ``count`` candidates and the end of candidates, as one peer sends them."""
    candidates = [
        {"candidate": f"candidate:{n} 1 udp 1 192.0.2.1 {5000 + n} typ host", "sdpMid": "0"}
        for n in range(count)
    ]
    return [("call:offer", {"room_id": room_id, "to": to, "sdp": SDP})] + [
        ("call:candidate", {"room_id": room_id, "to": to, "candidate": c})
        for c in [*candidates, None]
    ]


async def received_in_order(peer: Peer, count: int) -> list[str | None]:
    """What ``peer`` received after a `trickle`: the offer first, then each candidate's text."""
    await peer.next("call:offer")
    got = [await peer.next("call:candidate") for _ in range(count + 1)]
    return [g["candidate"]["candidate"] if g["candidate"] else None for g in got]


class Peer:
    """One socket of a user, speaking the call protocol directly (no aiortc)."""

    def __init__(self, daemon: Daemon, token: str) -> None:
        self.daemon = daemon
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        for event in EVENTS:
            self.sio.on(event, self._handler(event))
        self.peer_id = ""

    def _handler(self, event: str) -> Any:
        async def handle(data: Any = None) -> None:
            await self.inbox[event].put(data)

        return handle

    async def __aenter__(self) -> Peer:
        await self.sio.connect(
            self.daemon.url, auth={"token": self.token}, transports=["websocket"]
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.sio.connected:
            await self.sio.disconnect()

    async def call(self, event: str, data: Any) -> dict[str, Any]:
        ack = await self.sio.call(event, data, timeout=10)
        assert isinstance(ack, dict), ack
        return ack

    async def send_all(self, messages: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        """Send every message at once, in this order, without waiting for an ack in between
        (as a browser trickles its candidates); then wait for all their acks."""
        loop = asyncio.get_running_loop()
        acks: list[asyncio.Future[Any]] = []
        for event, data in messages:
            ack = loop.create_future()
            await self.sio.emit(event, data, callback=lambda *a, f=ack: f.set_result(a[0]))
            acks.append(ack)
        return list(await asyncio.wait_for(asyncio.gather(*acks), 30))

    async def enter(self, room_id: str) -> dict[str, Any]:
        """room:join then call:join; returns the call:join ack."""
        assert (await self.call("room:join", {"room_id": room_id}))["ok"]
        ack = await self.call("call:join", {"room_id": room_id})
        assert ack["ok"], ack
        self.peer_id = ack["peer_id"]
        return ack

    async def next(self, event: str, timeout: float = 10) -> Any:
        return await asyncio.wait_for(self.inbox[event].get(), timeout)

    def pending(self, event: str) -> int:
        return self.inbox[event].qsize()


def refused(ack: dict[str, Any], code: str) -> bool:
    return ack.get("ok") is False and ack.get("error", {}).get("code") == code


def make_clip(
    path: Path, seconds: float, width: int, height: int, fps: int = 15, tone_hz: float = 440
) -> Path:
    """A small mp4 with H.264 video (changing flat colours) and an AAC tone (440 Hz unless
    told), with PyAV."""
    import array

    import av

    rate = 48_000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame(width, height, "yuv420p")
            for k, plane in enumerate(frame.planes):
                plane.update(bytes([(i * 8 + k * 60) % 256]) * plane.buffer_size)
            frame.pts, frame.time_base = i, fractions.Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        step = 1024
        for start in range(0, int(seconds * rate), step):
            tone = array.array(
                "h",
                (
                    int(9000 * math.sin(2 * math.pi * tone_hz * (start + j) / rate))
                    for j in range(step)
                ),
            )
            frame = av.AudioFrame(format="s16", layout="mono", samples=step)
            frame.planes[0].update(tone.tobytes())
            frame.sample_rate, frame.pts = rate, start
            frame.time_base = fractions.Fraction(1, rate)
            for packet in audio.encode(frame):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)
    return path
