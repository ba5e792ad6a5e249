"""`videonet analyze` against the fake OpenAI server: what is sent, what comes back, errors."""

from __future__ import annotations

import json
from pathlib import Path

from videonet_cli.analysis.schema import FRAME_SCHEMA

from .fake_openai import DEFAULT_FACTS, FakeOpenAI
from .helpers import decode_data_url, image_parts, run_cli


def test_frames_sent_as_low_detail_jpeg_of_512_with_schema(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    r = run_cli(["analyze", str(clip_720p), "--no-chat", "--json"], online_env)
    assert r.code == 0, r.err
    sent = fake.frame_requests()
    assert len(sent) == 10  # the default, as in the seed
    for req in sent:
        assert req["model"] == "gpt-4o-mini"
        assert req["max_tokens"] == 300
        fmt = req["response_format"]
        assert fmt["type"] == "json_schema"
        assert fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["schema"] == FRAME_SCHEMA
        (part,) = image_parts(req)
        assert part["image_url"]["detail"] == "low"
        image = decode_data_url(part["image_url"]["url"])
        assert image.shape[:2] == (288, 512)  # 1280x720 fitted in 512


def test_ten_frames_by_default_and_the_result_adds_up(
    fake: FakeOpenAI, online_env: dict[str, str], clip_dir: Path
) -> None:
    from .helpers import SCENE_COLORS, solid, write_clip

    clip = write_clip(
        clip_dir / "ten.mp4", [(solid(c, i), 8) for i, c in enumerate(SCENE_COLORS)], (320, 180)
    )
    fake.frame_answers = [
        dict(DEFAULT_FACTS),
        {
            "has_person": False,
            "people_count": 0,
            "activity": "nothing",
            "setting": "a beach",
            "description": "An empty beach.",
        },
    ]
    r = run_cli(["analyze", str(clip), "--no-chat", "--json"], online_env)
    assert r.code == 0, r.err
    result = r.json()
    assert len(fake.frame_requests()) == 10
    assert len(result["frames"]) == 10
    assert result["video"]["frame_count"] == 40
    assert result["video"]["width"] == 320
    summary = result["summary"]
    assert len(summary["frames_with_people"]) == 5
    assert len(summary["frames_without_people"]) == 5
    assert summary["max_people"] == 2
    assert "an office" in summary["settings"] and "a beach" in summary["settings"]
    assert "two people talking" in summary["activities"]
    usage = result["usage"]
    assert usage["requests"] == 10
    assert usage["prompt_tokens"] == 10 * (50 + 85)
    assert usage["completion_tokens"] == 10 * 30
    # gpt-4o-mini: $0.15 in, $0.60 out per million tokens
    assert result["cost_usd"] == round((1350 * 0.15 + 300 * 0.60) / 1e6, 6)


def test_high_detail_sends_768_short_side(
    fake: FakeOpenAI, online_env: dict[str, str], clip_1080p: Path
) -> None:
    args = ["analyze", str(clip_1080p), "--frames", "2", "--detail", "high", "--no-chat", "--json"]
    r = run_cli(args, online_env)
    assert r.code == 0, r.err
    for req in fake.frame_requests():
        (part,) = image_parts(req)
        assert part["image_url"]["detail"] == "high"
        assert decode_data_url(part["image_url"]["url"]).shape[:2] == (768, 1365)


def test_model_option_and_human_output(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    r = run_cli(
        ["analyze", str(clip_720p), "-n", "2", "--model", "gpt-4o", "--no-chat"], online_env
    )
    assert r.code == 0, r.err
    assert {req["model"] for req in fake.frame_requests()} == {"gpt-4o"}
    assert "People appear in 2 of 2 frames" in r.out
    assert "Two people talk at a desk." in r.out
    assert "estimated cost $" in r.out


def test_second_run_is_cached_and_refresh_calls_again(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path, tmp_path: Path
) -> None:
    args = ["analyze", str(clip_720p), "-n", "3", "--no-chat", "--json"]
    assert run_cli(args, online_env).code == 0
    assert len(fake.requests) == 3
    # Same bytes under another name: still the cache (keyed by SHA-256, not the name).
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes(clip_720p.read_bytes())
    again = run_cli(["analyze", str(copy), "-n", "3", "--no-chat", "--json"], online_env)
    assert again.code == 0
    assert len(fake.requests) == 3
    assert again.json()["cached"] is True
    assert again.json()["video"]["path"] == str(copy)
    fresh = run_cli([*args, "--refresh"], online_env)
    assert fresh.code == 0
    assert len(fake.requests) == 6
    assert fresh.json()["cached"] is False


def test_concurrency_is_bounded(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    fake.delay_s = 0.3
    r = run_cli(
        ["analyze", str(clip_720p), "-n", "8", "-c", "3", "--no-chat", "--json"], online_env
    )
    assert r.code == 0, r.err
    assert len(fake.requests) == 8
    assert fake.max_in_flight == 3


def test_frames_go_out_concurrently_by_default(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    fake.delay_s = 0.3
    r = run_cli(["analyze", str(clip_720p), "-n", "6", "--no-chat", "--json"], online_env)
    assert r.code == 0, r.err
    assert fake.max_in_flight == 6


def test_single_request_mode_sends_all_frames_at_once(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    args = ["analyze", str(clip_720p), "-n", "4", "--request", "single", "--no-chat", "--json"]
    r = run_cli(args, online_env)
    assert r.code == 0, r.err
    (req,) = fake.requests
    assert len(image_parts(req)) == 4
    assert req["response_format"]["json_schema"]["name"] == "video_frames"
    assert len(r.json()["frames"]) == 4
    assert all(f["facts"]["people_count"] == 2 for f in r.json()["frames"])


def test_429_and_500_are_retried(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    fake.script.extend(["429", "500"])
    r = run_cli(
        ["analyze", str(clip_720p), "-n", "2", "-c", "1", "--no-chat", "--json"], online_env
    )
    assert r.code == 0, r.err
    assert len(fake.requests) == 4
    assert all(f["facts"] for f in r.json()["frames"])


def test_persistent_500_is_one_line_exit_1(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    fake.default = "500"
    r = run_cli(["analyze", str(clip_720p), "-n", "1", "--no-chat"], online_env)
    assert r.code == 1
    assert "failed (500) after 3 retries" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert len(fake.requests) == 4  # first try + 3 retries


def test_malformed_answer_is_retried_once(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    fake.script.extend(["malformed"])
    r = run_cli(["analyze", str(clip_720p), "-n", "1", "--no-chat", "--json"], online_env)
    assert r.code == 0, r.err
    assert len(fake.requests) == 2
    (frame,) = r.json()["frames"]
    assert frame["facts"]["people_count"] == 2
    assert frame["usage"]["requests"] == 2  # both requests were paid for


def test_malformed_twice_is_reported_not_guessed(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    fake.default = "invalid"
    args = ["analyze", str(clip_720p), "-n", "2", "--no-chat", "--json"]
    r = run_cli(args, online_env)
    assert r.code == 0, r.err
    result = r.json()
    assert len(fake.requests) == 4
    for frame in result["frames"]:
        assert frame["facts"] is None
        assert "malformed answer" in frame["error"]
    assert result["summary"]["frames_failed"] == [1, 2]
    assert result["summary"]["frames_with_people"] == []
    # Failed runs are not cached: the next run asks again.
    fake.default = "ok"
    assert run_cli(args, online_env).json()["summary"]["frames_failed"] == []


def test_bad_key_is_exit_3(fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path) -> None:
    env = {**online_env, "OPENAI_API_KEY": "wrong"}
    r = run_cli(["analyze", str(clip_720p), "-n", "2", "--no-chat"], env)
    assert r.code == 3
    assert "refused the API key" in r.err
    assert "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_unknown_model_is_exit_4(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    r = run_cli(["analyze", str(clip_720p), "-n", "2", "-m", "nope", "--no-chat"], online_env)
    assert r.code == 4
    assert "model 'nope' not found" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_unreachable_endpoint_is_exit_5(online_env: dict[str, str], clip_720p: Path) -> None:
    env = {**online_env, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "VIDEONET_MODEL_RETRIES": "0"}
    r = run_cli(["analyze", str(clip_720p), "-n", "1", "--no-chat"], env)
    assert r.code == 5
    assert "cannot reach the model endpoint http://127.0.0.1:9/v1" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_timeout_is_exit_5(fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path) -> None:
    fake.delay_s = 2.0
    env = {**online_env, "VIDEONET_MODEL_TIMEOUT": "0.3", "VIDEONET_MODEL_RETRIES": "0"}
    r = run_cli(["analyze", str(clip_720p), "-n", "1", "--no-chat"], env)
    assert r.code == 5
    assert "did not answer within 0.3 s" in r.err


def test_price_table_override(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"llava": {"input": 1.0, "output": 2.0}}))
    env = {**online_env, "VIDEONET_PRICES": str(prices)}
    r = run_cli(["analyze", str(clip_720p), "-n", "2", "-m", "llava", "--no-chat", "--json"], env)
    assert r.code == 0, r.err
    assert r.json()["cost_usd"] == round((2 * 135 * 1.0 + 2 * 30 * 2.0) / 1e6, 6)
    # Without a price for the model the cost is unknown, not zero.
    r = run_cli(
        ["analyze", str(clip_720p), "-n", "1", "-m", "llava", "--no-chat", "--json"], online_env
    )
    assert r.json()["cost_usd"] is None
    prices.write_text("{not json")
    r = run_cli(["analyze", str(clip_720p), "-n", "3", "-m", "llava", "--no-chat"], env)
    assert r.code == 2
    assert "cannot read the price table" in r.err


def test_progress_is_shown_on_a_terminal(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    import os
    import subprocess

    from .helpers import BIN

    fake.delay_s = 0.3
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [str(BIN / "videonet"), "analyze", str(clip_720p), "-n", "4", "-c", "1", "--no-chat"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env={**online_env, "TERM": "xterm-256color"},
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert b"analysing frames" in seen
    assert b"4/4" in seen
    assert b"People appear in 4 of 4 frames" in out  # the result still goes to stdout
