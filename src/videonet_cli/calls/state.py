"""Mute state and who is speaking, exchanged through the daemon (`call:state`), the same in a
mesh and through a media server.

Ours: audio and video are on when we send that kind; speaking is measured on the audio we
send — a pass-through track (`LevelTap`) sits between the source and the peer connections and
takes the RMS of each frame: above `SPEAKING_RMS` we are speaking, and we stop `HANGOVER_SECONDS`
after the last loud frame. Each change goes to the others at once, and our state again to each
newcomer (the daemon keeps none). Theirs: each `call:state` becomes a ``peer_media`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from array import array
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack

from videonet_cli.api.socket import SocketClient
from videonet_cli.calls.media import LocalMedia
from videonet_cli.errors import CliError
from videonet_cli.reporting import Reporter
from videonet_protocol import protocol

SPEAKING_RMS = 500.0  # of 16-bit samples: about -36 dBFS
HANGOVER_SECONDS = 0.8
SAMPLES_MEASURED = 240  # per frame: a subsample is enough for a level


def rms(frame: Any) -> float:
    """The RMS of a 16-bit audio frame (0 for formats we do not measure)."""
    if frame.format.name not in ("s16", "s16p"):
        return 0.0
    samples = array("h", bytes(frame.planes[0]))
    if not samples:
        return 0.0
    picked = samples[:: max(1, len(samples) // SAMPLES_MEASURED)]
    return math.sqrt(sum(x * x for x in picked) / len(picked))


class LevelTap(MediaStreamTrack):
    """The audio source as it is sent, with each frame's level handed to ``on_level``."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, on_level: Callable[[float], None]) -> None:
        super().__init__()
        self.source = source
        self.on_level = on_level

    async def recv(self) -> Any:
        frame = await self.source.recv()
        self.on_level(rms(frame))
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class CallState:
    def __init__(self, rt: SocketClient, room_id: str, media: LocalMedia, report: Reporter):
        self.rt = rt
        self.room_id = room_id
        self.report = report
        self.audio = media.audio is not None
        self.video = media.video is not None
        self.speaking = False
        self._loud_at = 0.0
        self._joined = False
        self._sending: set[asyncio.Task[None]] = set()
        if media.audio is not None:
            media.audio = LevelTap(media.audio, self.level)

    def listen(self) -> None:
        async def heard(data: Any = None) -> None:
            if not isinstance(data, dict) or data.get("room_id") != self.room_id:
                return
            peer = data.get("peer") or {}
            self.report(
                {
                    "event": "peer_media",
                    "peer_id": str(peer.get("peer_id", "")),
                    "username": str(peer.get("username", "?")),
                    "audio": bool(data.get("audio")),
                    "video": bool(data.get("video")),
                    "speaking": bool(data.get("speaking")),
                }
            )

        self.rt.on(protocol.EV_CALL_STATE, heard)

    def joined(self) -> None:
        """In the call: tell the others our state (and every change from now on)."""
        self._joined = True
        self._send()

    def newcomer(self) -> None:
        """Someone joined after us: they learn our state (the daemon keeps none)."""
        self._send()

    def level(self, value: float) -> None:
        now = time.monotonic()
        if value >= SPEAKING_RMS:
            self._loud_at = now
            if not self.speaking:
                self.speaking = True
                self._send()
        else:
            self.tick(now)

    def tick(self, now: float | None = None) -> None:
        """Stop speaking after the hang-over (also when no audio comes any more)."""
        now = time.monotonic() if now is None else now
        if self.speaking and now - self._loud_at > HANGOVER_SECONDS:
            self.speaking = False
            self._send()

    def _send(self) -> None:
        if not self._joined:
            return
        body = {
            "room_id": self.room_id,
            "audio": self.audio,
            "video": self.video,
            "speaking": self.speaking,
        }
        self.report({"event": "media_state", **{k: v for k, v in body.items() if k != "room_id"}})

        async def send() -> None:
            with contextlib.suppress(CliError):
                await self.rt.call(protocol.EV_CALL_STATE, body, timeout=5)

        task = asyncio.create_task(send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
