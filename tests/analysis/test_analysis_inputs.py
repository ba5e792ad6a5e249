"""Bad and unusual input: each a one-line error with a sensible exit code, or a correct result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from .fake_openai import FakeOpenAI
from .helpers import SCENE_COLORS, decode_data_url, image_parts, run_cli, solid, write_clip


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_file_is_exit_4(offline_env: dict[str, str], tmp_path: Path) -> None:
    r = run_cli(["analyze", str(tmp_path / "nope.mp4"), "--no-chat"], offline_env)
    assert r.code == 4
    assert "no such file" in _one_line_error(r.err)


def test_directory_is_exit_2(offline_env: dict[str, str], tmp_path: Path) -> None:
    r = run_cli(["analyze", str(tmp_path), "--no-chat"], offline_env)
    assert r.code == 2
    assert "not a file" in _one_line_error(r.err)


def test_empty_file_is_exit_2(offline_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    r = run_cli(["analyze", str(empty), "--no-chat"], offline_env)
    assert r.code == 2
    assert "empty file" in _one_line_error(r.err)


def test_not_a_video_is_exit_2(offline_env: dict[str, str], tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    r = run_cli(["analyze", str(text), "--no-chat"], offline_env)
    assert r.code == 2
    assert "not a video" in _one_line_error(r.err)


def test_truncated_mp4_is_exit_2(
    offline_env: dict[str, str], clip_720p: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip_720p.read_bytes()[: clip_720p.stat().st_size // 2])  # index is at the end
    r = run_cli(["analyze", str(cut), "--no-chat"], offline_env)
    assert r.code == 2
    assert "not a video" in _one_line_error(r.err)


def test_wrong_frame_count_is_corrected(
    fake: FakeOpenAI, online_env: dict[str, str], tmp_path: Path
) -> None:
    # An AVI cut short keeps its header, which still promises all 40 frames.
    whole = write_clip(
        tmp_path / "whole.avi",
        [(solid(c, i), 10) for i, c in enumerate(SCENE_COLORS[:4])],
        (320, 240),
        fourcc="MJPG",
    )
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    r = run_cli(["analyze", str(cut), "-n", "5", "--no-chat", "--json"], online_env)
    assert r.code == 0, r.err
    result = r.json()
    video = result["video"]
    assert video["reported_frame_count"] == 40
    assert 0 < video["frame_count"] < 40
    assert video["duration_s"] < 4.0
    assert any("can be decoded" in note for note in result["notes"])
    assert len(result["frames"]) == 5
    assert all(f["frame_number"] < video["frame_count"] for f in result["frames"])
    human = run_cli(["analyze", str(cut), "-n", "5", "--no-chat"], online_env)
    assert "note: the file claims 40 frames" in human.out


def test_very_large_resolution_is_downscaled(
    fake: FakeOpenAI, online_env: dict[str, str], tmp_path: Path
) -> None:
    frame = np.zeros((4320, 7680, 3), np.uint8)
    frame[1000:3000, 2000:5000] = (0, 0, 255)
    clip = write_clip(tmp_path / "8k.avi", [(frame, 3)], (7680, 4320), fourcc="MJPG")
    r = run_cli(["analyze", str(clip), "-n", "2", "--no-chat", "--json"], online_env)
    assert r.code == 0, r.err
    assert r.json()["video"]["width"] == 7680
    for req in fake.frame_requests():
        (part,) = image_parts(req)
        assert decode_data_url(part["image_url"]["url"]).shape[:2] == (288, 512)


def test_bad_options_are_usage_errors(offline_env: dict[str, str], clip_720p: Path) -> None:
    for args in (
        ["--sampling", "random"],
        ["--detail", "ultra"],
        ["--request", "batch"],
        ["--frames", "0"],
        ["--frames", "100000"],
    ):
        r = run_cli(["analyze", str(clip_720p), "--no-chat", *args], offline_env)
        assert r.code == 2, (args, r.err)
        assert "Traceback" not in r.err
    r = run_cli(["analyze", str(clip_720p)], {**offline_env, "VIDEONET_JPEG_QUALITY": "high"})
    assert r.code == 2
    assert "VIDEONET_JPEG_QUALITY must be an integer" in _one_line_error(r.err)


def test_version_does_not_import_heavy_modules() -> None:
    code = (
        "import sys, videonet_cli.main\n"
        "heavy = [m for m in ('cv2', 'numpy', 'openai', 'videonet_cli.analysis') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_variable_frame_rate_count_is_verified(
    offline_env: dict[str, str], clip_720p: Path, tmp_path: Path
) -> None:
    # 40 frames: the first 20 at 10 fps, the rest at 2 fps, in Matroska (no frame count in the
    # container), made with the ffmpeg binary that the imageio-ffmpeg wheel ships. OpenCV
    # estimates duration x nominal fps = 116 frames.
    import imageio_ffmpeg

    vfr = tmp_path / "vfr.mkv"
    timing = "setpts='if(lt(N,20),N/10,2+(N-20)/2)/TB'"
    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error"]
    args = ["-i", str(clip_720p), "-vf", timing, "-fps_mode", "vfr", "-c:v", "mpeg4", str(vfr)]
    subprocess.run([*ffmpeg, *args], check=True)
    r = run_cli(["analyze", str(vfr), "--offline", "-n", "4", "--json"], offline_env)
    assert r.code == 0, r.err
    result = r.json()
    assert result["video"]["reported_frame_count"] > 40
    assert result["video"]["frame_count"] == 40
    assert 11.5 <= result["video"]["duration_s"] <= 12.0  # 2 s + 20 frames of 0.5 s
    assert [f["frame_number"] for f in result["frames"]] == [5, 15, 25, 35]
    assert [f["timestamp_s"] for f in result["frames"]] == [0.5, 1.5, 4.5, 9.5]
