"""Chat, rooms, invites and the analyze REPL in Korean and Japanese, as a person meets them.

The real daemon and the real CLI on a pseudo-terminal, the language chosen the POSIX way
(``LANG=ko_KR.UTF-8``, ``VIDEONET_LANG`` unset). Expected words come from the compiled
catalogues (the msgstr), not copied into the test: a translation can change without the test
changing, and a word that does not reach the catalogue shows up as English on the screen.
``--json`` output is compared byte for byte across en, ko and ja.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from chatkit import Accounts, create_room
from terminal import finish, spawn
from videonet_cli.i18n import DOMAIN, LOCALEDIR
from videonet_protocol import protocol
from videonet_protocol.i18n import translations

from conftest import BIN, Cli, Daemon, User, http

pytestmark = pytest.mark.one_pass("terminal words: the daemon's side is covered elsewhere")

LOCALES = {"ko": "ko_KR.UTF-8", "ja": "ja_JP.UTF-8"}
WAIT = 30
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def tr(language: str, message: str) -> str:
    """``message`` as the CLI's catalogue says it in ``language``."""
    return translations(LOCALEDIR, DOMAIN, language).gettext(message)


def trn(language: str, singular: str, plural: str, count: int) -> str:
    return translations(LOCALEDIR, DOMAIN, language).ngettext(singular, plural, count)


def in_language(env: dict[str, str], language: str) -> dict[str, str]:
    """The environment of a user whose terminal speaks ``language`` (no VIDEONET_LANG)."""
    env = {k: v for k, v in env.items() if k not in ("VIDEONET_LANG", "LC_ALL", "LC_MESSAGES")}
    env["LANG"] = LOCALES.get(language, "C.UTF-8")
    return env


def plain(text: str) -> str:
    return ANSI.sub("", text)


@pytest.fixture(scope="module")
def accounts(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Accounts:
    return Accounts(daemon, tmp_path_factory.mktemp("i18n-rest-accounts"))


def named_room(daemon: Daemon, owner: User, name: str, *members: User) -> str:
    status, room, _ = http(
        "POST", daemon.api(protocol.API_ROOM_CREATE), {"name": name}, token=owner.token
    )
    assert status == 201, room
    for member in members:
        path = protocol.API_ROOM_JOIN.format(room_id=room["id"])
        status, body, _ = http("POST", daemon.api(path), {}, token=member.token)
        assert status == 200, body
    return str(room["id"])


class Follower:
    """`videonet chat ROOM --follow --json` in English: someone else in the room."""

    def __init__(self, daemon: Daemon, user: User, data: Path, room: str) -> None:
        env = Cli(daemon.url, user.config_dir, user.token).env(VIDEONET_DATA_DIR=str(data))
        self.proc = subprocess.Popen(
            [str(BIN / "videonet"), "chat", room, "--follow", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=in_language(env, "en"),
        )

    def expect(self, kind: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            if event["type"] == kind:
                return dict(event)
        raise AssertionError(f"the follower ended before a {kind!r} event")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_chat_on_a_terminal_speaks_the_users_language(
    daemon: Daemon, accounts: Accounts, tmp_path: Path, language: str
) -> None:
    """The room's help line, who is online, someone coming online, an unknown /command, a
    message sent and seen by the other side, and Ctrl-D: all in the terminal's language."""
    alice, bob = accounts.make(), accounts.make()
    room_name = (
        f"회의실-{uuid.uuid4().hex[:6]}" if language == "ko" else f"会議室-{uuid.uuid4().hex[:6]}"
    )
    room = named_room(daemon, alice, room_name, bob)
    env = Cli(daemon.url, alice.config_dir, alice.token).env(
        VIDEONET_DATA_DIR=str(tmp_path / "alice"), PROMPT_TOOLKIT_NO_CPR="1"
    )
    child = spawn(in_language(env, language), "chat", room, timeout=WAIT)
    follower: Follower | None = None
    try:
        help_line = tr(language, protocol_help())
        assert help_line != protocol_help(), "the chat help has no translation"
        child.expect_exact(tr(language, "{room} — {help}").format(room=room_name, help=help_line))
        child.expect_exact(tr(language, "online: {names}").format(names=alice.username))
        child.expect_exact(f"{alice.username}>")

        follower = Follower(daemon, bob, tmp_path / "bob", room)
        follower.expect("online")
        child.expect_exact(tr(language, "{name} is online").format(name=bob.username))

        child.send("/nope\r")
        unknown = tr(language, "unknown command {command}; {help}")
        child.expect_exact(unknown.format(command="/nope", help=help_line))

        words = "안녕하세요, 여러분" if language == "ko" else "こんにちは、皆さん"
        child.send(words + "\r")
        assert follower.expect("message")["text"] == words
        child.expect_exact(f"{alice.username}>")
        child.sendcontrol("d")
        assert finish(child, timeout=WAIT) == 0
        screen = plain(child.before or "")
        # Nothing of the English chat lines reached the screen.
        assert "is online" not in screen and "unknown command" not in screen, screen
    finally:
        if child.isalive():
            child.terminate(force=True)
        if follower is not None:
            follower.stop()


def protocol_help() -> str:
    from videonet_cli.chat_repl import HELP

    return HELP


def table_lines(screen: str) -> list[str]:
    """The lines of a Rich table (its borders and rows) on a captured screen."""
    return [line for line in screen.split("\n") if line and line[0] in "┏┃┡│└"]


def column_edges(line: str) -> list[int]:
    return [cell_len(line[:i]) for i, ch in enumerate(line) if ch in "┃│┳╇┴┏┓┡┩└┘"]


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_rooms_list_lines_up_with_double_width_names_and_headers(
    daemon: Daemon, accounts: Accounts, language: str
) -> None:
    """`rooms list` on a terminal: the headers in the user's language and a room name of
    double-width characters; every row's column edges fall on the same terminal cells."""
    owner = accounts.make()
    wide = "한국어로-된-회의실" if language == "ko" else "日本語の会議室です"
    names = [f"{wide}-{uuid.uuid4().hex[:4]}", f"ab-{uuid.uuid4().hex[:4]}"]
    for name in names:
        named_room(daemon, owner, name)
    env = in_language(Cli(daemon.url, owner.config_dir, owner.token).env(), language)
    child = spawn(env, "rooms", "list", "--mine", timeout=WAIT)
    assert finish(child, timeout=WAIT) == 0
    screen = plain(child.before or "")
    lines = table_lines(screen)
    assert len(lines) >= 6, screen
    header = next(line for line in lines if line.startswith("┃"))
    for english in ("Name", "Members", "Joined", "Private", "Creator"):
        word = tr(language, english)
        assert word != english and word in header, (english, header)
    assert tr(language, "Rooms") in screen
    rows = [line for line in lines if line.startswith("│")]
    assert any(names[0] in row for row in rows) and any(names[1] in row for row in rows), screen
    edges = {tuple(column_edges(line)) for line in lines}
    assert len(edges) == 1, "\n".join(lines)
    widths = {cell_len(line) for line in lines}
    assert len(widths) == 1, "\n".join(lines)


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_invites_show_relative_times_and_the_room_line_in_the_language(
    daemon: Daemon, accounts: Accounts, language: str
) -> None:
    """`invite --room` says what it made in the user's language; `invite list` shows when an
    invite was made and when it ends as relative times from the catalogue, aligned."""
    owner = accounts.make()
    room_name = (
        f"초대방-{uuid.uuid4().hex[:4]}" if language == "ko" else f"招待-{uuid.uuid4().hex[:4]}"
    )
    room = named_room(daemon, owner, room_name)
    cli = Cli(daemon.url, owner.config_dir, owner.token)
    env = in_language(cli.env(), language)
    made = subprocess.run(
        [str(BIN / "videonet"), "invite", "--room", room, "--expires", "3h"],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT,
    )
    assert made.returncode == 0, made.stderr
    told = tr(
        language,
        "An invite into {room} for one person, until {until}; they paste this line "
        "(or open the link in a browser):",
    )
    before, _, after = told.partition("{until}")
    head = before.format(room=room_name)
    assert made.stderr.startswith(head) and made.stderr.rstrip("\n").endswith(after), made.stderr
    assert made.stdout.startswith("videonet join ")

    made_code = cli("invite", "create", "--expires", "3h", "--json").json()["code"]
    child = spawn(env, "invite", "list", timeout=WAIT)
    assert finish(child, timeout=WAIT) == 0
    screen = plain(child.before or "")
    lines = table_lines(screen)
    [row] = [line for line in lines if made_code in line]
    # Made a moment ago, ending in a little under three hours: "2 h" ahead.
    just_now = tr(language, "just now")
    ahead = trn(language, "in {n} h", "in {n} h", 2).format(n=2)
    assert just_now in row and ahead in row, (just_now, ahead, row)
    header = next(line for line in lines if line.startswith("┃"))
    assert tr(language, "Expires") in header and tr(language, "Uses left") in header
    assert len({tuple(column_edges(line)) for line in lines}) == 1, "\n".join(lines)


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_an_error_and_its_hint_in_the_language(
    daemon: Daemon, accounts: Accounts, language: str
) -> None:
    """Not a member of a private room: one line, the daemon's refusal followed by our hint
    (`videonet rooms join ROOM`), in the user's language; the exit code is English's (3).
    A usage error says its words in the language too, exit 2."""
    owner, stranger = accounts.make(), accounts.make()
    room = create_room(daemon, owner)
    cli = Cli(daemon.url, stranger.config_dir, stranger.token)
    env = in_language(cli.env(), language)
    english = subprocess.run(
        [str(BIN / "videonet"), "chat", room, "--send", "hi"],
        capture_output=True,
        text=True,
        env=in_language(cli.env(), "en"),
        timeout=WAIT,
    )
    said = subprocess.run(
        [str(BIN / "videonet"), "chat", room, "--send", "hi"],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT,
    )
    assert said.returncode == english.returncode == 3, (english.stderr, said.stderr)
    lines = said.stderr.strip().splitlines()
    assert len(lines) == 1, said.stderr
    hint = tr(language, "{message}: run `videonet rooms join {room}` first")
    assert hint != "{message}: run `videonet rooms join {room}` first"
    tail = hint.split("{message}", 1)[1].format(room=room)
    assert lines[0].startswith(tr(language, "Error: ")) and lines[0].endswith(tail), lines[0]
    assert "run `videonet rooms join" not in said.stderr

    usage = subprocess.run(
        [str(BIN / "videonet"), "chat", room, "--send", "hi", "--follow"],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT,
    )
    assert usage.returncode == 2
    assert tr(language, "--send and --follow do not go together") in usage.stderr
    assert "do not go together" not in usage.stderr


def test_json_is_the_same_bytes_in_every_language(
    daemon: Daemon, accounts: Accounts, tmp_path: Path
) -> None:
    """`rooms list --json`, `rooms members --json` and the chat's JSON lines (history and who
    is online) do not change with the language."""
    alice, bob = accounts.make(), accounts.make()
    room = named_room(daemon, alice, f"회의-{uuid.uuid4().hex[:6]}", bob)
    bob_cli = Cli(daemon.url, bob.config_dir, bob.token)
    for text in ("첫 메시지", "二つ目", "third"):
        assert bob_cli("chat", room, "--send", text).code == 0
    cli = Cli(daemon.url, alice.config_dir, alice.token)

    def run(language: str, *args: str) -> bytes:
        done = subprocess.run(
            [str(BIN / "videonet"), *args],
            capture_output=True,
            input=b"",
            env=in_language(cli.env(VIDEONET_DATA_DIR=str(tmp_path / language)), language),
            timeout=WAIT,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    for args in (
        ("rooms", "list", "--mine", "--json"),
        ("rooms", "members", room, "--json"),
        ("chat", room, "--json", "--history", "3"),
    ):
        outputs = {language: run(language, *args) for language in ("en", "ko", "ja")}
        assert outputs["ko"] == outputs["en"] == outputs["ja"], args
        assert outputs["en"].strip(), args
    lines = [json.loads(line) for line in outputs["en"].splitlines()]
    assert [m["text"] for m in lines if m["type"] == "message"] == ["첫 메시지", "二つ目", "third"]


@pytest.fixture
def fake_model() -> Iterator[Any]:
    from analysis.fake_openai import FakeOpenAI, FakeServerThread

    server = FakeServerThread(FakeOpenAI())
    yield server.start()
    server.stop()


def test_analyze_repl_in_japanese(fake_model: Any, tmp_path: Path) -> None:
    """`videonet analyze` with LANG=ja_JP.UTF-8 against the local model server: progress and
    result in Japanese, the REPL's help and its /history, and the model told to answer in
    Japanese (the analysis it is given stays English)."""
    from analysis.helpers import SCENE_COLORS, clean_env, solid, write_clip

    clip = write_clip(
        tmp_path / "clip.mp4",
        [(solid(c, i), 5) for i, c in enumerate(SCENE_COLORS[:2])],
        (320, 180),
    )
    env = clean_env(
        tmp_path, OPENAI_BASE_URL=fake_model.base_url, OPENAI_API_KEY=fake_model.api_key
    )
    env = {**in_language(env, "ja"), "PROMPT_TOOLKIT_NO_CPR": "1"}
    fake_model.chat_reply = "動画には 2 人が映っています。"
    child = spawn(env, "analyze", str(clip), "-n", "2", timeout=90)
    from videonet_cli.render.analysis_view import REPL_HELP

    help_line = tr("ja", REPL_HELP)
    assert help_line != REPL_HELP
    child.expect_exact(help_line[:20])
    child.expect_exact(">")
    child.send("何人いますか?\r")
    child.expect_exact("動画には 2 人が映っています。")
    child.expect_exact(">")
    child.send("/history\r")
    user_line = tr("ja", "{role}: {text}").format(role=tr("ja", "user"), text="何人いますか?")
    child.expect_exact(user_line)
    child.expect_exact(">")
    child.sendcontrol("d")
    assert finish(child, timeout=60) == 0
    screen = plain(child.before or "")
    assert "Type a question" not in screen

    [chat] = fake_model.chat_requests()
    system = chat["messages"][0]
    assert system["role"] == "system" and "Answer in Japanese." in system["content"]
    assert chat["messages"][-1] == {"role": "user", "content": "何人いますか?"}


def test_analyze_result_lines_in_korean(fake_model: Any, tmp_path: Path) -> None:
    """The result's first line, summary and token line come from the catalogue (--no-chat);
    the same run's --json keeps the English summary."""
    from analysis.helpers import SCENE_COLORS, clean_env, solid, write_clip

    clip = write_clip(
        tmp_path / "clip.mp4",
        [(solid(c, i), 5) for i, c in enumerate(SCENE_COLORS[:2])],
        (320, 180),
    )
    env = clean_env(
        tmp_path, OPENAI_BASE_URL=fake_model.base_url, OPENAI_API_KEY=fake_model.api_key
    )
    ko = in_language(env, "ko")

    def analyze(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "videonet"), "analyze", str(clip), "-n", "2", *args],
            capture_output=True,
            text=True,
            env=ko,
            timeout=120,
        )

    shown = analyze("--no-chat")
    assert shown.returncode == 0, shown.stderr
    first = trn(
        "ko",
        "{path}: {width}x{height}, {seconds} s, {fps} fps, {frames} frame",
        "{path}: {width}x{height}, {seconds} s, {fps} fps, {frames} frames",
        10,
    ).format(path=clip, width=320, height=180, seconds="1.0", fps="10", frames=10)
    assert shown.stdout.startswith(first), shown.stdout
    people = trn(
        "ko",
        "People appear in {n} of {total} frame ({frames}), at most {most} at once.",
        "People appear in {n} of {total} frames ({frames}), at most {most} at once.",
        2,
    )
    assert people.split("{n}")[0] and "People appear" not in shown.stdout
    assert people.format(n=2, total=2, frames="1, 2", most=2) in shown.stdout, shown.stdout
    result = analyze("--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["text"].startswith("People appear in 2 of 2")


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_call_status_lines_in_the_language(
    daemon: Daemon, accounts: Accounts, language: str
) -> None:
    """`videonet call ROOM --duration 1` alone in the room, its lines on a pipe: joining (with
    nobody there, sending nothing) and leaving, with the reason, in the user's language; the
    same call's --json result keeps the English reason code."""
    pytest.importorskip("aiortc", reason="the calls extra")
    owner = accounts.make()
    room_name = ("통화방-" if language == "ko" else "通話-") + uuid.uuid4().hex[:4]
    room = named_room(daemon, owner, room_name)
    cli = Cli(daemon.url, owner.config_dir, owner.token)
    env = in_language(cli.env(), language)
    done = subprocess.run(
        [str(BIN / "videonet"), "call", room, "--duration", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    joined = tr(language, "Joined the call in {room}: {others}; sending nothing (receive only).")
    nobody = tr(language, "nobody yet")
    assert joined.format(room=room_name, others=nobody) in done.stdout, done.stdout
    left = tr(language, "Left the call after {seconds} s ({reason}).")
    before, _, after = left.partition("{seconds}")
    reason = tr(language, "the duration was reached")
    assert before in done.stdout and after.format(reason=reason) in done.stdout, done.stdout
    assert "Joined the call" not in done.stdout and "Left the call" not in done.stdout

    as_json = subprocess.run(
        [str(BIN / "videonet"), "call", room, "--duration", "1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
    )
    assert as_json.returncode == 0, as_json.stderr
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert events[-1]["event"] == "result" and events[-1]["reason"] == "duration"


def test_a_korean_conversation_is_trimmed_by_its_tokens_not_its_characters(
    fake_model: Any, tmp_path: Path
) -> None:
    """Korean answers cost about a token a character, not a quarter: the history sent stays
    within the context budget counted that way (the oldest turns go first)."""
    from analysis.helpers import SCENE_COLORS, clean_env, run_cli, solid, write_clip

    scenes = [(solid(c, i), 5) for i, c in enumerate(SCENE_COLORS[:2])]
    clip = write_clip(tmp_path / "clip.mp4", scenes, (320, 180))
    env = {
        **in_language(
            clean_env(
                tmp_path, OPENAI_BASE_URL=fake_model.base_url, OPENAI_API_KEY=fake_model.api_key
            ),
            "ko",
        ),
        "VIDEONET_CHAT_CONTEXT_TOKENS": "1200",
        "VIDEONET_CHAT_MAX_TOKENS": "100",
    }
    fake_model.chat_reply = " ".join(["사람이"] * 60)  # 240 characters, ~200 tokens
    for i in range(6):
        assert run_cli(["ask", str(clip), f"질문 {i}"], env).code == 0
    last = fake_model.chat_requests()[-1]["messages"]
    contents = [m["content"] for m in last[1:-1]]
    assert last[-1] == {"role": "user", "content": "질문 5"}
    assert "질문 0" not in contents and "질문 4" in contents
    wide = sum(1 for m in last for ch in m["content"] if ord(ch) > 0x7F)
    narrow = sum(len(m["content"]) for m in last) - wide
    assert narrow // 4 + wide <= 1200


def test_the_live_call_table_in_japanese(daemon: Daemon, accounts: Accounts) -> None:
    """`videonet call` on a terminal: the live table's title and headers in Japanese, its
    columns on the same cells in every line, and the waiting row said in Japanese."""
    pytest.importorskip("aiortc", reason="the calls extra")
    owner = accounts.make()
    room = named_room(daemon, owner, "通話テスト-" + uuid.uuid4().hex[:4])
    env = in_language(Cli(daemon.url, owner.config_dir, owner.token).env(), "ja")
    child = spawn(env, "call", room, "--duration", "2", timeout=90)
    assert finish(child, timeout=90) == 0
    screen = plain(child.before or "")
    lines = table_lines(screen)
    header = next(line for line in lines if line.startswith("┃"))
    for english in ("Peer", "State", "Receiving", "In kbit/s", "Recording"):
        word = tr("ja", english)
        assert word != english and word in header, (english, header)
    assert tr("ja", "Call") in screen and tr("ja", "(waiting for others)") in screen, screen
    assert len({tuple(column_edges(line)) for line in lines}) == 1, "\n".join(lines)
