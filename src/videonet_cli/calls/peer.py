"""One remote participant: its RTCPeerConnection, what arrives from it, and its traffic counters."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiortc import MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.contrib.media import MediaBlackhole
from aiortc.stats import RTCOutboundRtpStreamStats, RTCTransportStats

from videonet_cli.calls.recording import Recording
from videonet_protocol import protocol

log = logging.getLogger(__name__)


def rtc_configuration(servers: list[protocol.IceServer]) -> RTCConfiguration:
    """The daemon's ICE servers as aiortc takes them. An empty list stays empty: aiortc would
    otherwise fall back to a public Google STUN server, and a self-hosted call must not."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=list(server.get("urls", [])),
                username=server.get("username"),
                credential=server.get("credential"),
            )
            for server in servers
        ]
    )


@dataclass
class Traffic:
    """Transport bytes at the last sample, for bitrates between two samples."""

    at: float = field(default_factory=time.monotonic)
    sent: int = 0
    received: int = 0
    in_kbps: float = 0.0
    out_kbps: float = 0.0


class PeerLink:
    """The connection to one remote participant; records (or discards) the media it sends."""

    def __init__(
        self,
        remote: protocol.CallPeer,
        config: RTCConfiguration,
        record_to: Path | None,
        accept_video: bool,
    ) -> None:
        self.remote = remote
        self.pc = RTCPeerConnection(config)
        self.record_to = record_to
        self.accept_video = accept_video
        self.started = time.monotonic()
        self.connected_at: float | None = None
        self.kinds: list[str] = []
        self.traffic = Traffic()
        self._pending: list[MediaStreamTrack] = []
        self._sinks: list[Recording | MediaBlackhole] = []
        self._recordings: list[Recording] = []
        self.recording: Path | None = None
        self.pc.on("track", self._pending.append)

    @property
    def peer_id(self) -> str:
        return self.remote["peer_id"]

    @property
    def username(self) -> str:
        return self.remote["username"]

    @property
    def state(self) -> str:
        return str(self.pc.connectionState)

    async def start_sink(self) -> None:
        """After the remote description: record the tracks it brought (or consume them)."""
        tracks, self._pending = self._pending, []
        if not tracks:
            return
        wanted = [t for t in tracks if t.kind == "audio" or self.accept_video]
        # Tracks nobody reads would queue decoded frames without end, so the rest go to a sink.
        discard = MediaBlackhole()
        for track in tracks:
            if track not in wanted or self.record_to is None:
                discard.addTrack(track)
        await discard.start()
        self._sinks.append(discard)
        if self.record_to is not None and wanted:
            # Starts writing once every wanted track has sent (see recording.py).
            recording = Recording(self.record_to, wanted)
            self._sinks.append(recording)
            self._recordings.append(recording)
            self.recording = self.record_to
        self.kinds = sorted({t.kind for t in wanted})

    async def sample(self) -> Traffic:
        """Update the bitrates from the transport's byte counters (getStats)."""
        report = await self.pc.getStats()
        sent = received = 0
        for stats in report.values():
            if isinstance(stats, RTCTransportStats):
                sent, received = max(sent, stats.bytesSent), max(received, stats.bytesReceived)
        now = time.monotonic()
        elapsed = max(now - self.traffic.at, 1e-3)
        self.traffic = Traffic(
            at=now,
            sent=sent,
            received=received,
            in_kbps=max(received - self.traffic.received, 0) * 8 / 1000 / elapsed,
            out_kbps=max(sent - self.traffic.sent, 0) * 8 / 1000 / elapsed,
        )
        return self.traffic

    def describe(self) -> dict[str, Any]:
        return {
            "peer_id": self.peer_id,
            "username": self.username,
            "state": self.state,
            "kinds": self.kinds,
            "in_kbps": round(self.traffic.in_kbps, 1),
            "out_kbps": round(self.traffic.out_kbps, 1),
            "bytes_received": self.traffic.received,
            "bytes_sent": self.traffic.sent,
            "recording": str(self.recording) if self.recording else None,
            "recording_problem": self.recording_problem,
        }

    @property
    def recording_problem(self) -> str | None:
        """Why the recording lacks media the peer announced (no video, say), or None."""
        problems = [r.problem for r in self._recordings if r.problem]
        return "; ".join(problems) if problems else None

    async def close(self) -> None:
        """Close the connection, then finish the recording (the file is complete after this)."""
        with contextlib.suppress(Exception):
            await self.sample()
        for sender in self.pc.getSenders():
            if sender.track is not None:
                sender.track.stop()  # unsubscribes from the shared source's relay
        await self.pc.close()
        sinks, self._sinks = self._sinks, []
        for sink in sinks:
            try:
                await sink.stop()
            except Exception:
                # A broken recording must not keep the others from being closed properly.
                log.exception("could not finish the recording of %s", self.username)


async def uplink_of(pcs: list[RTCPeerConnection]) -> dict[str, Any]:
    """What these connections upload: transport bytes sent, and how many video streams (an
    outbound video RTP stream that has sent packets) — one per peer in a mesh, one in an SFU."""
    sent = streams = 0
    for pc in pcs:
        with contextlib.suppress(Exception):
            report = await pc.getStats()
            for stats in report.values():
                if isinstance(stats, RTCTransportStats):
                    sent += stats.bytesSent
                elif (
                    isinstance(stats, RTCOutboundRtpStreamStats)
                    and stats.kind == "video"
                    and stats.packetsSent > 0
                ):
                    streams += 1
    return {"bytes_sent": sent, "video_streams": streams}
