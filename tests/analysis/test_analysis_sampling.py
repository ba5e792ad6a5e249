"""Frame choice: uniform spacing and one frame per detected shot, longest shots first."""

from __future__ import annotations

from pathlib import Path

from videonet_cli.analysis.sampling import Shot, shot_indices, uniform_indices

from .helpers import SCENE_COLORS, run_cli, solid, write_clip


def test_uniform_indices_are_evenly_spaced_middles() -> None:
    assert uniform_indices(40, 4) == [5, 15, 25, 35]
    assert uniform_indices(1800, 10) == [90 + 180 * i for i in range(10)]
    assert uniform_indices(3, 10) == [0, 1, 2]  # never more frames than the clip has


def test_shot_indices_prefer_the_longest_shots() -> None:
    shots = [Shot(0, 30), Shot(30, 40), Shot(40, 60), Shot(60, 65)]
    assert shot_indices(shots, 2) == [15, 50]
    assert shot_indices(shots, 10) == [15, 35, 50, 62]


def test_shots_sampling_finds_the_cuts(offline_env: dict[str, str], tmp_path: Path) -> None:
    lengths = [30, 10, 20, 5]
    scenes = [(solid(c, i), n) for i, (c, n) in enumerate(zip(SCENE_COLORS, lengths, strict=False))]
    clip = write_clip(tmp_path / "shots.mp4", scenes, (320, 180))
    args = ["analyze", str(clip), "--sampling", "shots", "--no-chat", "--json", "--offline"]
    r = run_cli([*args, "-n", "3"], offline_env)
    assert r.code == 0, r.err
    # The three longest shots (30, 20, 10 frames), in timeline order.
    assert [f["frame_number"] for f in r.json()["frames"]] == [15, 35, 50]
    r = run_cli([*args, "-n", "10"], offline_env)
    assert [f["frame_number"] for f in r.json()["frames"]] == [15, 35, 50, 62]


def test_uniform_sampling_in_the_cli(offline_env: dict[str, str], clip_720p: Path) -> None:
    r = run_cli(["analyze", str(clip_720p), "-n", "4", "--no-chat", "--json"], offline_env)
    assert r.code == 0, r.err
    frames = r.json()["frames"]
    assert [f["frame_number"] for f in frames] == [5, 15, 25, 35]
    assert [f["timestamp_s"] for f in frames] == [0.5, 1.5, 2.5, 3.5]


def test_shot_detection_in_two_parts_matches_one_pass(tmp_path: Path) -> None:
    from videonet_cli.analysis.sampling import detect_shots

    # A cut exactly at the seam between the two halves (frame 100) must still be found.
    lengths = [40, 60, 30, 40, 30]
    scenes = [(solid(c, i), n) for i, (c, n) in enumerate(zip(SCENE_COLORS, lengths, strict=True))]
    clip = write_clip(tmp_path / "long.mp4", scenes, (320, 180))
    expected = [Shot(0, 40), Shot(40, 100), Shot(100, 130), Shot(130, 170), Shot(170, 200)]
    assert detect_shots(clip, 200, 10.0, workers=1) == expected
    assert detect_shots(clip, 200, 10.0, workers=2) == expected
