"""Which frames to analyse: ``uniform`` (the seed's evenly spaced frames) or ``shots``.

Shot detection is deliberately cheap: every few frames, shrunk to 64x36, a colour histogram is
compared with the previous one (Bhattacharyya distance); a jump above ``CUT_THRESHOLD`` is a cut.
Each shot contributes its middle frame; when there are more shots than frames wanted, the longest
shots win. The chosen frames are returned in timeline order.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2

from videonet_cli.analysis.video import iter_small_frames

SMALL_SIZE = (64, 36)
CUT_THRESHOLD = 0.35
# Histogram comparisons per second of video; more finds cuts more precisely and costs more.
SAMPLES_PER_SECOND = 8.0
HIST_BINS = [8, 8, 8]


class Sampling(StrEnum):
    UNIFORM = "uniform"
    SHOTS = "shots"


@dataclass(frozen=True)
class Shot:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def middle(self) -> int:
        return self.start + self.length // 2


def uniform_indices(frame_count: int, n: int) -> list[int]:
    """``n`` evenly spaced frames: the middle of each of ``n`` equal parts of the clip.

    The seed took the start of each part (frame 0 included, often a black fade-in); the middle
    keeps the same spacing and avoids both ends.
    """
    n = min(n, frame_count)
    return sorted({int((i + 0.5) * frame_count / n) for i in range(n)})


def _histograms(path: Path, stride: int, start: int, stop: int) -> list[tuple[int, Any]]:
    out = []
    for number, small in iter_small_frames(path, stride, SMALL_SIZE, start, stop):
        hist = cv2.calcHist([small], [0, 1, 2], None, HIST_BINS, [0, 256, 0, 256, 0, 256])
        cv2.normalize(hist, hist)
        out.append((number, hist))
    return out


def detect_shots(path: Path, frame_count: int, fps: float, workers: int = 2) -> list[Shot]:
    """Cut the clip into shots by comparing colour histograms of shrunk frames.

    The clip is split into ``workers`` parts decoded at once (OpenCV decodes without the GIL);
    the histograms are then compared in order, across the seams too.
    """
    stride = max(1, round(fps / SAMPLES_PER_SECOND))
    parts = max(1, min(workers, frame_count // (stride * 64)))
    bounds = [frame_count * i // parts // stride * stride for i in range(parts)] + [frame_count]
    with ThreadPoolExecutor(max_workers=parts) as pool:
        jobs = [pool.submit(_histograms, path, stride, a, b) for a, b in itertools.pairwise(bounds)]
        samples = [sample for job in jobs for sample in job.result()]
    cuts: list[int] = [0]
    for (_, before), (number, after) in itertools.pairwise(samples):
        if cv2.compareHist(before, after, cv2.HISTCMP_BHATTACHARYYA) > CUT_THRESHOLD:
            cuts.append(number)
    edges = [*cuts, frame_count]
    return [Shot(a, b) for a, b in itertools.pairwise(edges) if b > a]


def shot_indices(shots: list[Shot], n: int) -> list[int]:
    """The middle frame of each of the ``n`` longest shots, in timeline order."""
    longest = sorted(shots, key=lambda s: (-s.length, s.start))[:n]
    return sorted(s.middle for s in longest)
