"""The analyze REPL on a real terminal (pexpect): prompt_toolkit with a history file, !edit,
Ctrl-C cancelling an answer (the REPL stays), Ctrl-D; `videonet conversations`; no cost offline."""

from __future__ import annotations

import json
from pathlib import Path

from terminal import finish, spawn

from .fake_openai import FakeOpenAI
from .helpers import run_cli

LONG_REPLY = " ".join(f"word{i}" for i in range(40)) + " THE-END"


def test_repl_on_a_terminal(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path, tmp_path: Path
) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "Edited question?\\n" > "$1"\n')
    editor.chmod(0o755)
    env = {**online_env, "EDITOR": str(editor), "PROMPT_TOOLKIT_NO_CPR": "1"}
    fake.chat_reply = LONG_REPLY
    fake.word_delay_s = 0.2
    child = spawn(env, "analyze", str(clip_720p), "-n", "2")
    child.expect("Ctrl-C cancels an answer")
    child.send("half typed")
    child.sendintr()  # at the prompt: the line is dropped, the REPL stays
    child.send("How many people?\r")
    child.expect("word3")
    child.sendintr()  # during the answer: cancelled, back to the prompt
    child.expect(r"answer cancelled")
    fake.word_delay_s = 0
    child.send("!edit\r")
    child.expect("Edited question")
    child.expect("THE-END")
    child.expect(">")  # Ctrl-D only once the prompt is back (between prompts it is cooked mode)
    child.sendcontrol("d")
    assert finish(child) == 0

    chats = fake.chat_requests()
    assert [r["messages"][-1]["content"] for r in chats] == ["How many people?", "Edited question?"]
    # The cancelled turn was never stored: the second request carries no half answer.
    assert [m["role"] for m in chats[1]["messages"]] == ["system", "user"]
    history = (Path(online_env["VIDEONET_DATA_DIR"]) / "analyze-history").read_text()
    assert "How many people?" in history and "!edit" in history and "half typed" not in history

    r = run_cli(["conversations", "--json"], online_env)
    assert r.code == 0, r.err
    [conversation] = json.loads(r.out)
    assert conversation["messages"] == 2
    assert conversation["first_question"] == "Edited question?"
    assert conversation["video"] == str(clip_720p)
    r = run_cli(["conversations"], online_env)
    assert r.code == 0 and "Edited question?" in r.out


def test_conversations_when_there_are_none(offline_env: dict[str, str], clip_720p: Path) -> None:
    """None yet: one line says so (it printed an empty table, or nothing when piped), and after
    an offline analyze, why that video has none (issue 27: "prints nothing")."""
    r = run_cli(["conversations", "--json"], offline_env)
    assert r.code == 0 and json.loads(r.out) == []
    r = run_cli(["conversations"], offline_env)
    assert r.code == 0 and r.out == "", r.out
    assert r.err == (
        "No conversations yet: `videonet analyze CLIP` with a model endpoint starts one.\n"
    )
    assert run_cli(["analyze", str(clip_720p), "-n", "2", "--no-chat"], offline_env).code == 0
    r = run_cli(["conversations"], offline_env)
    assert r.code == 0 and r.out == "", r.out
    assert r.err.startswith(
        f"No conversations yet: 1 video analysed here (offline: {clip_720p}); a chat about a "
        "video needs a model endpoint (OPENAI_BASE_URL or OPENAI_API_KEY)"
    ), r.err
    assert r.err.count("\n") == 1
    assert json.loads(run_cli(["conversations", "--json"], offline_env).out) == []


def test_no_token_or_cost_line_offline(offline_env: dict[str, str], clip_720p: Path) -> None:
    r = run_cli(["analyze", str(clip_720p), "-n", "2", "--no-chat"], offline_env)
    assert r.code == 0, r.err
    assert "estimated cost" not in r.out and "tokens:" not in r.out


def test_ctrl_c_during_the_analysis_says_so(
    fake: FakeOpenAI, online_env: dict[str, str], clip_720p: Path
) -> None:
    fake.delay_s = 30  # every frame request hangs
    child = spawn(online_env, "analyze", str(clip_720p), "-n", "2", "--refresh")
    child.expect("frame")  # the progress bar is up
    child.sendintr()
    child.expect(r"Error: (\x1b\[0m)?interrupted")
    assert finish(child) == 130
