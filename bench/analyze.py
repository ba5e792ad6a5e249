"""Benchmark of `videonet analyze` against the seed's sequential way, in the same run.

A local OpenAI-compatible server (the tests' fake) answers every request after 1.0 s, as a slow
model would. On a generated 60 s 1080p clip (30 fps, a cut every 5 s) it measures:

- the seed's way: 10 frames by OpenCV seeks, full-size JPEG q60, one request after another with
  the synchronous client (seed section 3.2);
- `videonet analyze CLIP --no-chat --refresh` as a user runs it (a subprocess, start-up included),
  per-frame requests (the default) and one multi-image request (`--request single`);
- frame extraction alone: the seed's, ours uniform, ours shot-aware.

It prints the figures and the ratios. Not a test: nothing is asserted.

    .venv/bin/python bench/analyze.py [--repeat 3] [--delay 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "analysis"))

from fake_openai import FakeOpenAI, FakeServerThread  # noqa: E402

from videonet_cli.analysis import video  # noqa: E402
from videonet_cli.analysis.sampling import detect_shots, shot_indices, uniform_indices  # noqa: E402

SECONDS, FPS, SIZE, CUT_EVERY_S = 60, 30, (1920, 1080), 5
FRAMES = 10


def make_clip(path: Path) -> None:
    """60 s of 1080p: a new scene every 5 s (colour, shapes), moving shapes within each."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    rng = np.random.default_rng(1)
    for scene in range(SECONDS // CUT_EVERY_S):
        color = tuple(int(c) for c in rng.integers(20, 235, 3))
        base = np.full((SIZE[1], SIZE[0], 3), color, np.uint8)
        for _ in range(6):
            center = (int(rng.integers(0, SIZE[0])), int(rng.integers(0, SIZE[1])))
            shade = tuple(int(c) for c in rng.integers(0, 255, 3))
            cv2.circle(base, center, int(rng.integers(60, 300)), shade, -1)
        for i in range(CUT_EVERY_S * FPS):
            frame = base.copy()
            cv2.rectangle(frame, (40 + 8 * i, 600), (240 + 8 * i, 800), (255, 255, 255), -1)
            cv2.putText(frame, f"scene {scene} frame {i}", (60, 120), 0, 3, (0, 0, 0), 6)
            writer.write(frame)
    writer.release()


# -- the seed's way (section 3.2), kept as close to the original as possible ----------------


def seed_extract(path: Path, num_frames: int = FRAMES) -> list[str]:
    cap = cv2.VideoCapture(str(path))
    total_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    frame_indices = [int(i * total_frames / num_frames) for i in range(num_frames)]
    key_frames = []
    for idx in frame_indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
        ret, frame = cap.read()
        if ret:
            _, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 60])
            key_frames.append(base64.b64encode(buffer).decode("utf-8"))
    cap.release()
    return key_frames


def seed_analyze(path: Path, base_url: str, api_key: str) -> int:
    from openai import OpenAI

    client = OpenAI(api_key=api_key, base_url=base_url)
    tokens = 0
    for frame_b64 in seed_extract(path):
        response = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe: people, activity, place. Briefly."},
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": f"data:image/jpeg;base64,{frame_b64}",
                                "detail": "low",
                            },
                        },
                    ],
                }
            ],
            max_tokens=150,
        )
        tokens += response.usage.total_tokens if response.usage else 0
    client.close()
    return tokens


# -- ours ---------------------------------------------------------------------------------


def ours_cli(path: Path, env: dict[str, str], *extra: str) -> None:
    cmd = [str(Path(sys.executable).parent / "videonet"), "analyze", str(path)]
    cmd += ["--no-chat", "--json", "--refresh", *extra]
    subprocess.run(cmd, env=env, check=True, capture_output=True)


def ours_in_process(path: Path, env: dict[str, str]) -> None:
    """The same core the CLI runs, in this process: imports already paid, like the seed's."""
    from videonet_cli.analysis import settings
    from videonet_cli.analysis.pipeline import analyze
    from videonet_cli.commands.analyze import _request

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        req = _request(path, None, None, None, None, None, None, False, True)
        asyncio.run(analyze(req, settings.endpoint()))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def ours_extract_uniform(path: Path) -> None:
    info = video.probe(path)
    video.read_frames(path, uniform_indices(info.frame_count, FRAMES))


def ours_extract_shots(path: Path) -> int:
    info = video.probe(path)
    shots = detect_shots(path, info.frame_count, info.fps)
    video.read_frames(path, shot_indices(shots, FRAMES))
    return len(shots)


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--delay", type=float, default=1.0, help="server delay per request, s")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="videonet-bench-") as tmp_name:
        tmp = Path(tmp_name)
        clip = tmp / "clip-60s-1080p.mp4"
        start = time.perf_counter()
        make_clip(clip)
        print(
            f"clip: {clip.stat().st_size / 1e6:.1f} MB, {SECONDS} s {SIZE[0]}x{SIZE[1]} "
            f"@ {FPS} fps, made in {time.perf_counter() - start:.1f} s"
        )

        server = FakeServerThread(FakeOpenAI(delay_s=args.delay))
        fake = server.start()
        # A normal install has its .pyc files written at install time; an editable one writes
        # them on first import unless PYTHONDONTWRITEBYTECODE forbids it (as some sandboxes
        # do). Allow it, and warm up once below, so imports are measured as a user has them.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OPENAI_", "VIDEONET_")) and k != "PYTHONDONTWRITEBYTECODE"
        }
        env.update(
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY=fake.api_key,
            VIDEONET_DATA_DIR=str(tmp / "data"),
            VIDEONET_CONFIG_DIR=str(tmp / "config"),
        )
        try:
            ext_seed = timed(lambda: seed_extract(clip), args.repeat)
            ext_uniform = timed(lambda: ours_extract_uniform(clip), args.repeat)
            shots = ours_extract_shots(clip)
            ext_shots = timed(lambda: ours_extract_shots(clip), args.repeat)
            seed = timed(lambda: seed_analyze(clip, fake.base_url, fake.api_key), 1)
            ours_cli(clip, env)  # warm-up: .pyc files, page cache
            in_process = timed(lambda: ours_in_process(clip, env), args.repeat)
            per_frame = timed(lambda: ours_cli(clip, env), args.repeat)
            single = timed(lambda: ours_cli(clip, env, "--request", "single"), args.repeat)
            shots_cli = timed(lambda: ours_cli(clip, env, "--sampling", "shots"), args.repeat)
        finally:
            server.stop()

    print(
        f"\nserver delay {args.delay:.1f} s per request, {FRAMES} frames, "
        f"median of {args.repeat} (seed: 1 run)\n"
    )
    rows = [
        ("seed: sequential requests, seek+full-size JPEG", seed, 1.0),
        ("videonet core in-process (per-frame, concurrency 10)", in_process, seed / in_process),
        ("videonet analyze CLI, cold process (per-frame)", per_frame, seed / per_frame),
        ("videonet analyze CLI --request single", single, seed / single),
        ("videonet analyze CLI --sampling shots", shots_cli, seed / shots_cli),
    ]
    print(f"{'end to end':<52} {'wall s':>8} {'x faster':>8}")
    for name, secs, ratio in rows:
        print(f"{name:<52} {secs:>8.2f} {ratio:>8.1f}")
    print(f"\n{'frame extraction only':<52} {'wall s':>8} {'x seed t':>8}")
    for name, secs in (
        ("seed: 10 seeks + full-size JPEG", ext_seed),
        ("ours uniform: probe (verified count) + 10 frames", ext_uniform),
        (f"ours shots: probe + cut detection ({shots} shots)", ext_shots),
    ):
        print(f"{name:<52} {secs:>8.2f} {secs / ext_seed:>8.2f}")


if __name__ == "__main__":
    main()
