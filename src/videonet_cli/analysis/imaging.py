"""Shrink a frame to what the model will look at, then JPEG-encode it.

Sending more pixels than the model uses costs upload time and nothing else: with detail "low"
OpenAI's models see a 512 x 512 box; with "high" the image is fitted in 2048 x 2048 and its short
side scaled to 768. We downscale to the same size before encoding (quality 60, as the seed found
good enough for people and scenes).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

LOW_LONG_SIDE = 512
HIGH_LONG_SIDE = 2048
HIGH_SHORT_SIDE = 768


class Detail(StrEnum):
    LOW = "low"
    HIGH = "high"


@dataclass(frozen=True)
class EncodedFrame:
    jpeg: bytes
    width: int
    height: int

    def data_url(self) -> str:
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii")


def target_size(width: int, height: int, detail: Detail) -> tuple[int, int]:
    """The size the model will use for a ``width`` x ``height`` image (never upscaled)."""
    scale = 1.0
    if detail is Detail.LOW:
        scale = min(1.0, LOW_LONG_SIDE / max(width, height))
    else:
        scale = min(1.0, HIGH_LONG_SIDE / max(width, height))
        scale = min(scale, HIGH_SHORT_SIDE / min(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode(image: npt.NDArray[np.uint8], detail: Detail, quality: int) -> EncodedFrame:
    """Downscale ``image`` (BGR) for ``detail`` and encode it as JPEG at ``quality``."""
    height, width = image.shape[:2]
    w, h = target_size(width, height, detail)
    small = (
        image
        if (w, h) == (width, height)
        else cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    )
    ok, buffer = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return EncodedFrame(jpeg=buffer.tobytes(), width=w, height=h)
