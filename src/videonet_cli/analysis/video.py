"""Open a clip, read its metadata and check it against what can really be decoded.

OpenCV's ``CAP_PROP_FRAME_COUNT`` comes from the container header (or from duration x fps), which
is wrong for variable-frame-rate files and for truncated ones. We trust it only after reading the
last frame it promises; otherwise we count the frames by decoding them. The duration comes from
the timestamp of the last readable frame, not from count / fps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from videonet_cli.analysis.results import VideoInfo
from videonet_cli.errors import NotFoundError, UsageError
from videonet_cli.i18n import N_, _

Frame = npt.NDArray[np.uint8]

HASH_CHUNK = 1 << 20
# Past this many pixels a frame is refused: a decoded 16k x 16k frame is already 768 MB.
MAX_PIXELS = 16384 * 16384
# Sampled frames closer together than this are read by decoding forward instead of seeking.
SEQUENTIAL_STEP = 24


class NotAVideoError(UsageError):
    """Not a video that can be read (unsupported, damaged or truncated)."""

    default = N_("Not a video that can be read (unsupported, damaged or truncated).")


def check_path(path: Path) -> None:
    """Fail early, in one line, for what is not a readable, non-empty file."""
    if not path.exists():
        raise NotFoundError(_("no such file: {path}").format(path=path))
    if not path.is_file():
        raise UsageError(_("not a file: {path}").format(path=path))
    if path.stat().st_size == 0:
        raise NotAVideoError(_("empty file: {path}").format(path=path))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def open_capture(path: Path) -> Iterator[Any]:
    """A ``cv2.VideoCapture`` that is released whatever happens."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise NotAVideoError(_("not a video OpenCV can read: {path}").format(path=path))
        yield cap
    finally:
        cap.release()


def _read_at(cap: Any, index: int) -> tuple[Frame | None, float]:
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    if not ok or frame is None:
        return None, 0.0
    return frame, float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0


@dataclass(frozen=True)
class _Count:
    frames: int
    last_timestamp_s: float


def _count_by_decoding(cap: Any) -> _Count:
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    frames, last_ts = 0, 0.0
    while cap.grab():
        frames += 1
        last_ts = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
    return _Count(frames, last_ts)


def _verified_count(cap: Any, reported: int) -> _Count:
    if reported > 0:
        last, ts = _read_at(cap, reported - 1)
        if last is not None:
            beyond, _frame = _read_at(cap, reported)
            if beyond is None:
                return _Count(reported, ts)
    return _count_by_decoding(cap)


def probe(path: Path, sha256: str | None = None) -> VideoInfo:
    """Metadata of ``path`` with the frame count verified by reading."""
    check_path(path)
    with open_capture(path) as cap:
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width <= 0 or height <= 0:
            raise NotAVideoError(
                _("not a video OpenCV can read (no picture size): {path}").format(path=path)
            )
        if width * height > MAX_PIXELS:
            raise UsageError(
                _("frames of {width}x{height} are too large to analyse: {path}").format(
                    width=width, height=height, path=path
                )
            )
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 0.0
        reported = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        count = _verified_count(cap, reported)
    if count.frames == 0:
        raise NotAVideoError(
            _("no frame can be decoded (damaged or truncated?): {path}").format(path=path)
        )
    if fps <= 0 or fps > 1000:
        fps = count.frames / count.last_timestamp_s if count.last_timestamp_s > 0 else 25.0
    duration = count.last_timestamp_s + 1.0 / fps
    return VideoInfo(
        path=str(path),
        sha256=sha256 or sha256_file(path),
        size_bytes=path.stat().st_size,
        width=width,
        height=height,
        fps=round(fps, 3),
        reported_frame_count=reported,
        frame_count=count.frames,
        duration_s=round(duration, 3),
    )


@dataclass(frozen=True)
class DecodedFrame:
    frame_number: int
    timestamp_s: float
    image: Frame


def is_dense(wanted: Sequence[int]) -> bool:
    """Whether decoding forward beats seeking for these sorted frame numbers."""
    gaps = [b - a for a, b in zip([0, *wanted], wanted, strict=False)]
    return max(gaps, default=0) <= SEQUENTIAL_STEP


def iter_frames(path: Path, indices: Sequence[int]) -> Iterator[DecodedFrame]:
    """Decode the frames at ``indices`` (all below the verified frame count), in order.

    Sparse samples seek (the seed's way, cheap for 10 frames of a long clip); dense ones decode
    forward, since each seek decodes again from the previous keyframe. A frame that cannot be
    decoded is skipped.
    """
    wanted = sorted(set(indices))
    if not wanted:
        return
    with open_capture(path) as cap:
        if is_dense(wanted):
            want = set(wanted)
            for number in range(wanted[-1] + 1):
                if not cap.grab():
                    break
                if number in want:
                    ok, image = cap.retrieve()
                    if ok and image is not None:
                        ts = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
                        yield DecodedFrame(number, ts, image)
        else:
            for number in wanted:
                image, ts = _read_at(cap, number)
                if image is not None:
                    yield DecodedFrame(number, ts, image)


def read_frames(path: Path, indices: Sequence[int]) -> list[DecodedFrame]:
    """All of :func:`iter_frames` at once."""
    return list(iter_frames(path, indices))


def iter_small_frames(
    path: Path, stride: int, size: tuple[int, int], start: int = 0, stop: int | None = None
) -> Iterator[tuple[int, Frame]]:
    """Every ``stride``-th frame from ``start`` to ``stop``, shrunk to ``size``.

    That is the cheap pass shot detection needs: skipped frames are only grabbed (decoded, never
    converted to BGR), which is most of what a stride saves.
    """
    with open_capture(path) as cap:
        if start:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        number = start
        while (stop is None or number < stop) and cap.grab():
            if number % stride == 0:
                ok, image = cap.retrieve()
                if ok and image is not None:
                    yield number, cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            number += 1
