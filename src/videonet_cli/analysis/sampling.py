"""Which frames to analyse: ``uniform`` (the seed's evenly spaced frames) or ``shots``.

Shot detection is deliberately cheap: every few frames, shrunk to 64x36, a colour histogram is
compared with the previous one (Bhattacharyya distance); a jump above ``CUT_THRESHOLD`` is a cut.
Each shot contributes its middle frame; when there are more shots than frames wanted, the longest
shots win. The chosen frames are returned in timeline order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

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


def detect_shots(path: Path, frame_count: int, fps: float) -> list[Shot]:
    """Cut the clip into shots by comparing colour histograms of shrunk frames."""
    stride = max(1, round(fps / SAMPLES_PER_SECOND))
    cuts: list[int] = [0]
    previous = None
    for number, small in iter_small_frames(path, stride, SMALL_SIZE):
        hist = cv2.calcHist([small], [0, 1, 2], None, HIST_BINS, [0, 256, 0, 256, 0, 256])
        cv2.normalize(hist, hist)
        if previous is not None:
            distance = cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA)
            if distance > CUT_THRESHOLD:
                cuts.append(number)
        previous = hist
    edges = [*cuts, frame_count]
    return [Shot(a, b) for a, b in itertools.pairwise(edges) if b > a]


def shot_indices(shots: list[Shot], n: int) -> list[int]:
    """The middle frame of each of the ``n`` longest shots, in timeline order."""
    longest = sorted(shots, key=lambda s: (-s.length, s.start))[:n]
    return sorted(s.middle for s in longest)
