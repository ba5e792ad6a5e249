"""What a call sends and where it records: the local media source and one file per remote peer.

The source is an aiortc `MediaPlayer` on a file or a capture device, shared by every peer
connection through a `MediaRelay` (a player track can feed only one consumer). Recordings are
named after ``--record OUT`` with the remote user's name put before the extension:
``call.mp4`` becomes ``call-bob.mp4``; a second recording of the same name (bob on two devices,
or bob joining again) becomes ``call-bob-2.mp4``. An existing file is never overwritten.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import av
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaPlayer, MediaRelay

from videonet_cli.errors import NotFoundError, UsageError
from videonet_cli.i18n import _

VIDEO_CONTAINERS = (".mp4", ".mkv", ".mov", ".webm")
AUDIO_CONTAINERS = (".wav", ".ogg", ".opus", ".m4a")
# Capture formats FFmpeg names; `--device FORMAT:NAME` picks one explicitly.
DEVICE_FORMATS = ("v4l2", "alsa", "pulse", "avfoundation", "dshow", "x11grab", "gdigrab")
DEVICE_OPTIONS = {"v4l2": {"video_size": "640x480", "framerate": "30"}}
PEER_NAME_MAX_CHARS = 40


@dataclass
class LocalMedia:
    """The tracks this participant sends (none: receive only)."""

    player: MediaPlayer | None = None
    audio: MediaStreamTrack | None = None
    video: MediaStreamTrack | None = None
    relay: MediaRelay = field(default_factory=MediaRelay)

    @property
    def kinds(self) -> list[str]:
        return [kind for kind in ("audio", "video") if self.source(kind) is not None]

    def source(self, kind: str) -> MediaStreamTrack | None:
        return self.audio if kind == "audio" else self.video

    def track_for_peer(self, kind: str) -> MediaStreamTrack | None:
        """A fresh view of the source for one peer connection, or None if nothing of that kind."""
        source = self.source(kind)
        return self.relay.subscribe(source) if source is not None else None

    def close(self) -> None:
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()


def device_input(device: str) -> tuple[str, str]:
    """(FFmpeg format, input name) for ``--device``: ``v4l2:/dev/video0`` or a platform default."""
    prefix, sep, rest = device.partition(":")
    if sep and prefix in DEVICE_FORMATS:
        return prefix, rest
    if sys.platform == "darwin":
        return "avfoundation", device
    if sys.platform == "win32":
        return "dshow", device
    return "v4l2", device


def open_media(play: Path | None, device: str | None, audio_only: bool) -> LocalMedia:
    """Open the chosen source; a file or device that cannot be read is a one-line error."""
    if play is not None and device is not None:
        raise UsageError(_("choose --play FILE or --device DEVICE, not both"))
    if play is None and device is None:
        return LocalMedia()
    try:
        if play is not None:
            if not play.is_file():
                raise NotFoundError(_("--play: no such file: {path}").format(path=play))
            player = MediaPlayer(str(play))
            what = str(play)
        else:
            assert device is not None
            fmt, name = device_input(device)
            player = MediaPlayer(name, format=fmt, options=DEVICE_OPTIONS.get(fmt))
            what = _("device {device}").format(device=device)
    except av.FFmpegError as exc:
        raise UsageError(
            _("cannot open {source}: {problem}").format(source=play or device, problem=exc)
        ) from exc
    video = None if audio_only else player.video
    media = LocalMedia(player=player, audio=player.audio, video=video)
    if not media.kinds:
        media.close()
        missing = (
            _("{source} has no audio to send")
            if audio_only
            else _("{source} has no audio or video to send")
        )
        raise UsageError(missing.format(source=what))
    return media


def check_record_target(out: Path, audio_only: bool) -> None:
    """Fail before joining if recordings could not be written as asked."""
    suffix = out.suffix.lower()
    allowed = VIDEO_CONTAINERS + (AUDIO_CONTAINERS if audio_only else ())
    if suffix not in allowed:
        raise UsageError(
            _("--record: use one of {suffixes}").format(suffixes=", ".join(allowed))
            if audio_only
            else _("--record: use one of {suffixes} ({audio} with --audio-only)").format(
                suffixes=", ".join(allowed), audio=", ".join(AUDIO_CONTAINERS)
            )
        )
    if not out.parent.is_dir():
        raise NotFoundError(_("--record: no such directory: {path}").format(path=out.parent))


def recording_path(out: Path, username: str, taken: set[Path]) -> Path:
    """OUT with the peer's name before the extension, numbered past files that already exist."""
    name = re.sub(r"[^\w.-]", "_", username)[:PEER_NAME_MAX_CHARS].strip(".") or "peer"
    number = 1
    while True:
        tail = f"-{name}" if number == 1 else f"-{name}-{number}"
        candidate = out.with_name(f"{out.stem}{tail}{out.suffix}")
        if candidate not in taken and not candidate.exists():
            taken.add(candidate)
            return candidate
        number += 1
