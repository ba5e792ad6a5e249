"""Offline analysis: the CenterFace detector on real photographs that ship inside PyPI wheels.

The labelled set (nothing downloaded; all inside the scikit-image and matplotlib wheels):

- people, full photographs: astronaut, camera (the cameraman), grace_hopper;
- no people, full photographs: coffee, chelsea (a cat), rocket, hubble_deep_field, moon, coins,
  brick, grass, gravel, cell, page, retina, immunohistochemistry, text, clock, microaneurysms,
  the left motorcycle of the stereo pair;
- scikit-image's LFW subset: 100 face crops and 100 non-face crops (25x25 grey, real photos),
  each scaled to 150x150 and placed on a grey 640x480 frame.

They become one clip (two frames per photograph), analysed with ``--offline --frames 220``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest
from skimage import data

from .helpers import run_cli, write_clip

FRAME = (640, 480)
PEOPLE = ["astronaut", "camera", "grace_hopper"]
NO_PEOPLE = [
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "moon",
    "coins",
    "brick",
    "grass",
    "gravel",
    "cell",
    "page",
    "retina",
    "immunohistochemistry",
    "text",
    "clock",
    "microaneurysms",
    "motorcycle",
]


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        image = (image * 255).astype(np.uint8) if image.max() <= 1.0 else image.astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2BGR)


def _photo(name: str) -> np.ndarray:
    if name == "grace_hopper":
        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        return cv2.imread(str(path), cv2.IMREAD_COLOR)
    if name == "motorcycle":
        return _bgr(data.stereo_motorcycle()[0])
    return _bgr(getattr(data, name)())


def _lfw_frame(patch: np.ndarray) -> np.ndarray:
    frame = np.full((FRAME[1], FRAME[0], 3), 128, np.uint8)
    big = cv2.resize((patch * 255).astype(np.uint8), (150, 150), interpolation=cv2.INTER_CUBIC)
    frame[165:315, 245:395] = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    return frame


@pytest.fixture(scope="module")
def labelled_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, bool]]]:
    labels: list[tuple[str, bool]] = []
    scenes: list[tuple[np.ndarray, int]] = []
    for name in PEOPLE:
        scenes.append((_photo(name), 2))
        labels.append((name, True))
    for name in NO_PEOPLE:
        scenes.append((_photo(name), 2))
        labels.append((name, False))
    lfw = data.lfw_subset()  # the first 100 are faces, the last 100 are not
    for i, patch in enumerate(lfw):
        scenes.append((_lfw_frame(patch), 2))
        labels.append((f"lfw-{i}", i < 100))
    path = tmp_path_factory.mktemp("labelled") / "labelled.mp4"
    return write_clip(path, scenes, FRAME), labels


def test_offline_accuracy_on_real_photographs(
    labelled_clip: tuple[Path, list[tuple[str, bool]]], offline_env: dict[str, str]
) -> None:
    clip, labels = labelled_clip
    r = run_cli(
        ["analyze", str(clip), "--offline", "--frames", str(len(labels)), "--json"], offline_env
    )
    assert r.code == 0, r.err
    result = r.json()
    assert result["backend"] == "offline"
    assert result["usage"]["requests"] == 0
    frames = result["frames"]
    assert len(frames) == len(labels)
    got = [f["facts"]["has_person"] for f in frames]
    right = [g == want for g, (_, want) in zip(got, labels, strict=True)]
    photos = right[: len(PEOPLE) + len(NO_PEOPLE)]
    lfw = right[len(PEOPLE) + len(NO_PEOPLE) :]
    wrong = [name for ok, (name, _) in zip(right, labels, strict=True) if not ok]
    overall = sum(right) / len(right)
    print(
        f"offline accuracy: {overall:.1%} of {len(right)} frames; full photos "
        f"{sum(photos)}/{len(photos)}, LFW {sum(lfw)}/{len(lfw)}; wrong: {wrong}"
    )
    assert overall >= 0.90
    assert sum(photos) / len(photos) >= 0.90
    # Each person photo has one face (grace_hopper, astronaut, the cameraman).
    assert [f["facts"]["people_count"] for f in frames[: len(PEOPLE)]] == [1, 1, 1]


def test_no_key_and_no_base_url_means_offline(offline_env: dict[str, str], clip_720p: Path) -> None:
    r = run_cli(["analyze", str(clip_720p), "-n", "3", "--no-chat", "--json"], offline_env)
    assert r.code == 0, r.err
    result = r.json()
    assert result["backend"] == "offline"
    assert result["model"] == "centerface (offline)"
    assert result["summary"]["frames_with_people"] == []  # shapes, no faces
    assert result["cost_usd"] == 0.0


def test_offline_flag_wins_over_a_configured_endpoint(
    online_env: dict[str, str], fake: object, clip_720p: Path
) -> None:
    r = run_cli(["analyze", str(clip_720p), "-n", "2", "--offline", "--json"], online_env)
    assert r.code == 0, r.err
    assert r.json()["model"] == "centerface (offline)"
    assert fake.requests == []  # type: ignore[attr-defined]
