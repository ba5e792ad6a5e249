"""One peer's recording into one file, started only once every track it announced has sent.

aiortc's `MediaRecorder` opens every stream's encoder on the first packet it writes: a video
track whose first frame comes after the first audio was encoded at PyAV's default 640×480
fails with "Cannot change width after codec is open" and silently ends the video. So frames
are read from the start, buffered (a bounded queue per track), and the recorder is created only
when each announced track has delivered a frame — or, for a track that stays silent, after
`FIRST_FRAME_WAIT_SECONDS`; that track is then missing from the file, and the recording
reports it (`problem`), so that the command can fail instead of listing a file without video.

Within the recorder, the video stream must take its size from its first frame before any
packet is written: audio is held back until the video track has handed out its first frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRecorder
from aiortc.mediastreams import MediaStreamError

from videonet_cli.errors import CliError
from videonet_cli.i18n import N_

log = logging.getLogger(__name__)

FIRST_FRAME_WAIT_SECONDS = 10.0
# Decoded frames held per track while waiting or while the encoder is behind; older ones are
# dropped beyond this rather than held without bound. Audio (20 ms frames, ~4 KB each) is kept
# for the whole wait, so speech before a late camera is in the file; video (~460 KB a 640×480
# frame) for about 2 s.
BUFFER_FRAMES = {"audio": int(FIRST_FRAME_WAIT_SECONDS * 50) + 100, "video": 64}
_END = None
DRAIN_SECONDS = 5.0  # at the end, time for the encoders to take the buffered frames
RECORDER_VIDEO_RATE = 30  # aiortc's MediaRecorder: add_stream("libx264", rate=30), also vp8/png


def encoder_tick(frame: Any) -> int | None:
    """The frame's timestamp in the recorder's encoder clock, rounded as PyAV rounds it when it
    encodes (av_rescale_q, to nearest): MediaRecorder encodes video at `RECORDER_VIDEO_RATE`
    frames a second (its time base is 1/30 s, whatever the frame's 1/90000), audio in samples."""
    if frame.pts is None or frame.time_base is None:
        return None
    rate = getattr(frame, "sample_rate", None) or RECORDER_VIDEO_RATE
    ticks: Fraction = Fraction(frame.pts) * frame.time_base * rate
    half = Fraction(1, 2)
    return math.floor(ticks + half) if ticks >= 0 else -math.floor(-ticks + half)


class _Feed:
    """Reads one remote track from the start into a bounded queue; counts what came and went."""

    def __init__(self, source: MediaStreamTrack) -> None:
        self.source = source
        self.kind = source.kind
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.first = asyncio.Event()
        self.first_at: float | None = None
        self.limit = BUFFER_FRAMES.get(self.kind, BUFFER_FRAMES["video"])
        self.arrived = self.dropped = self.repeated = self.written = 0
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                frame = await self.source.recv()
                self.arrived += 1
                if self.first_at is None:
                    self.first_at = time.monotonic()
                    self.first.set()
                if self.queue.qsize() >= self.limit:
                    self.queue.get_nowait()
                    self.dropped += 1
                self.queue.put_nowait(frame)
        except MediaStreamError:
            pass
        finally:
            self.queue.put_nowait(_END)


class _Buffered(MediaStreamTrack):
    """What the recorder reads: the feed's frames, in order, then the end of the track."""

    def __init__(self, feed: _Feed, after: asyncio.Event | None) -> None:
        super().__init__()
        self.kind = feed.kind
        self.feed = feed
        self.after = after  # audio waits until the video stream has taken its size
        self.handed = asyncio.Event()
        self.drained = asyncio.Event()
        self.last_tick: int | None = None

    async def recv(self) -> Any:
        if self.after is not None:
            await self.after.wait()
            self.after = None
        while True:
            frame = await self.feed.queue.get()
            if frame is _END:
                self.feed.queue.put_nowait(_END)
                self.handed.set()  # a video track that ends unseen must not hold audio back
                self.drained.set()
                raise MediaStreamError
            # Two frames on one tick of the encoder's clock (a browser repeats a frame now and
            # then; under load it sends two within 1/30 s) make the encoder emit one DTS twice,
            # which the muxer refuses: the file could not be finished ("Invalid argument").
            tick = encoder_tick(frame)
            if tick is None or self.last_tick is None or tick > self.last_tick:
                break
            self.feed.repeated += 1
        self.last_tick = tick
        self.feed.written += 1
        self.handed.set()  # set before the recorder's task resumes, so it runs first
        return frame


class Recording:
    """Record `tracks` (from one peer) to `path` once each has sent, or after the wait."""

    def __init__(
        self, path: Path, tracks: list[MediaStreamTrack], wait: float = FIRST_FRAME_WAIT_SECONDS
    ) -> None:
        self.path = path
        self.wait = wait
        self.started_at = time.monotonic()
        self.feeds = [_Feed(track) for track in tracks]
        self.recorder: MediaRecorder | None = None
        self.recorded: list[str] = []  # kinds in the file
        self.stopped = False
        self.failure: str | None = None
        self._tracks: list[_Buffered] = []
        self._starter = asyncio.create_task(self._start_when_ready())

    async def _start_when_ready(self) -> None:
        waits = [asyncio.ensure_future(feed.first.wait()) for feed in self.feeds]
        await asyncio.wait(waits, timeout=self.wait)
        for waiter in waits:
            waiter.cancel()
        await self._begin()

    async def _begin(self) -> None:
        """Create the recorder for the tracks that have sent (once)."""
        ready = [feed for feed in self.feeds if feed.first.is_set()]
        if self.recorder is not None or not ready:
            return
        # Video first: its task takes the frame size before anything is written.
        ready.sort(key=lambda feed: feed.kind != "video")
        recorder = MediaRecorder(str(self.path))
        gate: asyncio.Event | None = None
        for feed in ready:
            track = _Buffered(feed, gate if feed.kind == "audio" else None)
            if feed.kind == "video":
                gate = track.handed
            recorder.addTrack(track)
            self._tracks.append(track)
        self.recorder = recorder
        self.recorded = sorted(feed.kind for feed in ready)
        await recorder.start()

    @property
    def problem(self) -> str | None:
        """Why the file is not a full recording of what the peer announced, or None (always
        None until `stop`: a track may still start)."""
        if not self.stopped:
            return None
        if self.failure is not None:
            return f"the file could not be finished: {self.failure}"
        missing = [f for f in self.feeds if f.written == 0]
        never = [f.kind for f in missing if f.first_at is None]
        late = [f.kind for f in missing if f.first_at is not None]
        problems = []
        if never:
            problems.append(
                f"no {' and '.join(never)} in the recording: the peer announced it but sent none"
            )
        if late:
            problems.append(
                f"no {' and '.join(late)} in the recording: it started more than "
                f"{self.wait:g} s after the rest"
            )
        if problems:
            return "; ".join(problems)
        # Frames kept coming but the encoder did not take them: it failed or fell far behind.
        lost = [f for f in self.feeds if f.arrived - f.repeated - f.written > 2 * f.limit]
        if lost:
            feed = lost[0]
            return (
                f"the {feed.kind} recording kept {feed.written} of {feed.arrived} frames "
                "(the encoder fell behind or failed)"
            )
        return None

    async def stop(self) -> None:
        """Finish the file (complete and playable after this), with what is still buffered."""
        self.stopped = True
        self._starter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._starter
        for feed in self.feeds:  # each queue now ends with _END
            feed.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed.task
        # A call shorter than the wait still leaves a file with what arrived.
        await self._begin()
        if self.recorder is None:
            return
        drained = [asyncio.ensure_future(track.drained.wait()) for track in self._tracks]
        await asyncio.wait(drained, timeout=DRAIN_SECONDS)
        for waiter in drained:
            waiter.cancel()
        try:
            await self.recorder.stop()
        except Exception as exc:
            log.debug("finishing %s failed", self.path, exc_info=True)
            self.failure = str(exc) or type(exc).__name__


class IncompleteRecording(CliError):
    """A recording lacks media its peer announced."""

    default = N_("A recording lacks media its peer announced.")


def split_failures(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Move the recordings with a problem out of the call result's ``recordings`` into
    ``failed_recordings`` (so no incomplete file is listed as fine); return those."""
    problems = {p["peer_id"]: p.get("recording_problem") for p in result.get("peers", [])}
    failed = [
        {**r, "problem": problems[r["peer_id"]]}
        for r in result.get("recordings", [])
        if problems.get(r["peer_id"])
    ]
    result["recordings"] = [
        r for r in result.get("recordings", []) if not problems.get(r["peer_id"])
    ]
    result["failed_recordings"] = failed
    return failed
