"""The chat about an analysis: the REPL fed lines on stdin, `ask` across processes, trimming."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .fake_openai import FakeOpenAI
from .helpers import run_cli

REPLY = "The video shows two people talking in an office."


def _roles(request: dict) -> list[str]:
    return [m["role"] for m in request["messages"]]


def test_repl_streams_answers_and_sends_history(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    stdin = "How many people?\nWhere are they?\n/history\nexit\n"
    r = run_cli(["analyze", str(clip_720p), "-n", "2"], online_env, stdin=stdin)
    assert r.code == 0, r.err
    first, second = fake.chat_requests()
    assert first["stream"] is True
    assert first["max_tokens"] == 500
    assert _roles(first) == ["system", "user"]
    system = first["messages"][0]["content"]
    assert "frame 1 at" in system and "people=2" in system and "an office" in system
    assert second["messages"][0]["content"] == system
    assert _roles(second) == ["system", "user", "assistant", "user"]
    assert [m["content"] for m in second["messages"][1:]] == [
        "How many people?",
        REPLY,
        "Where are they?",
    ]
    assert r.out.count(REPLY) >= 2  # both answers, streamed to stdout
    assert "user: How many people?" in r.out  # /history


def test_multi_line_input_reset_and_frames(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    stdin = "!multi\nfirst line\nsecond line\n!end\n/reset\n/frames\nAfter reset?\nquit\n"
    r = run_cli(["analyze", str(clip_720p), "-n", "2"], online_env, stdin=stdin)
    assert r.code == 0, r.err
    first, second = fake.chat_requests()
    assert first["messages"][-1]["content"] == "first line\nsecond line"
    assert _roles(second) == ["system", "user"]  # /reset forgot the first turn
    assert "New conversation." in r.out
    assert r.out.count("Two people talk at a desk.") >= 4  # the table, before and on /frames


def test_ctrl_d_leaves_the_repl(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    r = run_cli(["analyze", str(clip_720p), "-n", "1"], online_env, stdin="Hello?\n")
    assert r.code == 0, r.err
    assert len(fake.chat_requests()) == 1


def test_ask_remembers_across_processes(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    first = run_cli(["ask", str(clip_720p), "How many people?"], online_env)
    assert first.code == 0, first.err
    assert REPLY in first.out
    assert len(fake.frame_requests()) == 10  # analysed on demand (then cached)
    second = run_cli(["ask", str(clip_720p), "And where?", "--json"], online_env)
    assert second.code == 0, second.err
    assert len(fake.frame_requests()) == 10
    data = second.json()
    assert data["answer"] == REPLY
    assert data["messages"] == 4
    last = fake.chat_requests()[-1]
    assert [m["content"] for m in last["messages"][1:]] == ["How many people?", REPLY, "And where?"]
    # `analyze --continue` picks the same conversation up.
    r = run_cli(["analyze", str(clip_720p), "--continue"], online_env, stdin="Third?\n")
    assert r.code == 0, r.err
    assert "Continuing a conversation of 4 messages." in r.out
    assert len(fake.chat_requests()[-1]["messages"]) == 1 + 4 + 1


def test_conversation_is_keyed_by_content_in_sqlite(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path, tmp_path: Path
) -> None:
    assert run_cli(["ask", str(clip_720p), "Q1"], online_env).code == 0
    db = sqlite3.connect(Path(online_env["VIDEONET_DATA_DIR"]) / "analysis.sqlite3")
    ((sha,),) = db.execute("SELECT DISTINCT sha256 FROM conversations").fetchall()
    import hashlib

    assert sha == hashlib.sha256(clip_720p.read_bytes()).hexdigest()
    copy = tmp_path / "other-name.mp4"
    copy.write_bytes(clip_720p.read_bytes())
    assert run_cli(["ask", str(copy), "Q2"], online_env).code == 0
    assert [m["content"] for m in fake.chat_requests()[-1]["messages"][1:]] == ["Q1", REPLY, "Q2"]


def test_history_is_trimmed_from_the_oldest_keeping_the_system_message(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    fake.chat_reply = " ".join(["word"] * 150)  # ~750 characters, ~190 tokens per answer
    env = {
        **online_env,
        "VIDEONET_CHAT_CONTEXT_TOKENS": "1200",
        "VIDEONET_CHAT_MAX_TOKENS": "100",
    }
    for i in range(6):
        assert run_cli(["ask", str(clip_720p), f"question {i}"], env).code == 0
    last = fake.chat_requests()[-1]["messages"]
    assert last[0]["role"] == "system"
    assert last[-1] == {"role": "user", "content": "question 5"}
    contents = [m["content"] for m in last[1:-1]]
    assert "question 0" not in contents  # the oldest went first
    assert "question 4" in contents  # the newest stayed
    assert len(contents) % 2 == 0  # whole turns
    assert sum(len(m["content"]) for m in last) // 4 <= 1200


def test_offline_chat_says_it_needs_an_endpoint(
    offline_env: dict[str, str], clip_720p: Path
) -> None:
    r = run_cli(["analyze", str(clip_720p), "-n", "2"], offline_env, stdin="hello\n")
    assert r.code == 0, r.err
    assert "Chat needs a model endpoint" in r.err
    assert len([line for line in r.err.splitlines() if line.strip()]) == 1
    r = run_cli(["ask", str(clip_720p), "hello"], offline_env)
    assert r.code == 2
    assert "needs a model endpoint" in r.err


def test_ask_uses_the_existing_analysis_whatever_its_options(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    r = run_cli(["analyze", str(clip_720p), "-n", "3", "--no-chat"], online_env)
    assert r.code == 0, r.err
    assert len(fake.frame_requests()) == 3
    r = run_cli(["ask", str(clip_720p), "How many frames were analysed?"], online_env)
    assert r.code == 0, r.err
    assert len(fake.frame_requests()) == 3  # no new analysis with the default 10 frames
    system = fake.chat_requests()[0]["messages"][0]["content"]
    assert "frame 3 at" in system and "frame 4 at" not in system


def test_ask_after_an_offline_analysis_asks_the_model_first(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    r = run_cli(["analyze", str(clip_720p), "-n", "2", "--offline", "--no-chat"], online_env)
    assert r.code == 0, r.err
    assert fake.requests == []
    r = run_cli(["ask", str(clip_720p), "Who is there?"], online_env)
    assert r.code == 0, r.err
    assert len(fake.frame_requests()) == 10
    assert "an office" in fake.chat_requests()[0]["messages"][0]["content"]
