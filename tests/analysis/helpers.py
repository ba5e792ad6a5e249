"""Helpers for the analysis tests: run the real CLI, clean environments, generated clips.

The real ``videonet`` CLI runs as a subprocess; the only stand-in is the local OpenAI-compatible
server in ``fake_openai.py``. Clips are generated here with ``cv2.VideoWriter``, small and short.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

BIN = Path(sys.executable).parent
CLI_TIMEOUT = 120


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment minus anything that could point the CLI at a real model or real dirs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "VIDEONET_")) or k == "VIDEONET_DEBUG"
    }
    env.pop("VIDEONET_DEBUG", None)
    env.update(
        VIDEONET_DATA_DIR=str(tmp / "data"),
        VIDEONET_CONFIG_DIR=str(tmp / "config"),
        VIDEONET_MODEL_RETRIES="3",
        COLUMNS="200",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def run_cli(args: Sequence[str], env: dict[str, str], stdin: str | None = None) -> Result:
    proc = subprocess.run(
        [str(BIN / "videonet"), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=CLI_TIMEOUT,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


# -- clips ------------------------------------------------------------------------------------


def write_clip(
    path: Path,
    scenes: Sequence[tuple[np.ndarray, int]],
    size: tuple[int, int],
    fps: float = 10.0,
    fourcc: str = "mp4v",
) -> Path:
    """A clip of ``scenes``: (BGR image, how many frames it lasts), each resized to ``size``.

    A little moving noise keeps consecutive frames from being identical, as in real footage.
    """
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"cannot write {path}"
    rng = np.random.default_rng(0)
    for image, frames in scenes:
        base = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        for _ in range(frames):
            noise = rng.integers(-3, 4, size=base.shape, dtype=np.int16)
            writer.write(np.clip(base.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    writer.release()
    return path


def solid(color: tuple[int, int, int], pattern: int = 0) -> np.ndarray:
    """A plain image with a few shapes so that scenes differ in colour and layout."""
    image = np.full((360, 640, 3), color, np.uint8)
    cv2.circle(image, (100 + 80 * pattern, 180), 60, (255 - color[0], 128, color[2] // 2), -1)
    cv2.rectangle(image, (400, 50 + 20 * pattern), (600, 250), (color[1], 255 - color[1], 90), -1)
    return image


SCENE_COLORS = [(40, 40, 200), (40, 200, 40), (200, 40, 40), (200, 200, 40), (40, 200, 200)]


def decode_data_url(url: str) -> np.ndarray:
    """The image inside a ``data:image/jpeg;base64,...`` URL; asserts it really is a JPEG."""
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    raw = base64.b64decode(url[len(prefix) :])
    assert raw[:3] == b"\xff\xd8\xff", "not a JPEG"
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def image_parts(request: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for message in request["messages"]:
        if isinstance(message["content"], list):
            parts += [p for p in message["content"] if p["type"] == "image_url"]
    return parts
