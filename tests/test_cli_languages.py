"""The CLI in Korean and Japanese (issue 28): how the language is chosen, click's own words,
help on a real terminal with its columns aligned, an error with its hint, the header that asks
the daemon for its language, and `--json` that stays byte-for-byte the same.

The suite's CLIs speak English (base_env sets VIDEONET_LANG=en); these tests set it, or drop it
to let LANG decide as it does for a user.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from rich.cells import cell_len

from conftest import BIN, Cli, Daemon, base_env

# The account's saved language, the database's part, is test_daemon_languages's (both passes).
pytestmark = pytest.mark.one_pass("the CLI's language: no database")

USAGE = {"en": "Usage: ", "ko": "사용법: ", "ja": "使い方: "}
OPTIONS = {"en": "Options:", "ko": "옵션:", "ja": "オプション:"}


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "videonet"), *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def user_env(config: Path, **extra: str) -> dict[str, str]:
    """A CLI environment with no language chosen: the variables given decide."""
    env = base_env(VIDEONET_CONFIG_DIR=str(config), VIDEONET_DATA_DIR=str(config / "data"))
    for name in ("VIDEONET_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        env.pop(name, None)
    env.update(extra)
    return env


def language_of(env: dict[str, str]) -> str:
    """The language `videonet --help` speaks in ``env`` (its usage line's first word)."""
    first = run("--help", env=env).stdout.splitlines()[0]
    found = [lang for lang, word in USAGE.items() if first.startswith(word)]
    assert len(found) == 1, first
    return found[0]


def test_config_set_language_get_list_unset(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    for lang in ("ko", "ja", "en"):
        r = run("config", "set", "language", lang, "--json", env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"key": "language", "value": lang}
        got = run("config", "get", "language", "--json", env=env)
        assert json.loads(got.stdout) == {"key": "language", "value": lang}
    run("config", "set", "language", "ja", env=env)
    listed = run("config", "list", "--json", env=env)
    assert json.loads(listed.stdout)["language"] == "ja"
    # The saved language speaks at once, `config list` included.
    table = run("config", "list", env=env)
    assert table.returncode == 0 and "CLI が使う言語です" in table.stdout
    removed = run("config", "unset", "language", "--json", env=env)
    assert json.loads(removed.stdout) == {"key": "language", "removed": True, "value": ""}
    assert language_of(env) == "en"


@pytest.mark.parametrize("value", ["fr", "korean", "", "KO_kr"])
def test_a_bad_language_is_one_line_and_exit_2(tmp_path: Path, value: str) -> None:
    env = user_env(tmp_path)
    r = run("config", "set", "language", value, env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"Error: language: {value!r} is not one of en, ko, ja"]
    assert not (tmp_path / "config.json").exists()  # nothing saved


def test_a_bad_language_is_said_in_the_language_spoken(tmp_path: Path) -> None:
    r = run("config", "set", "language", "fr", env=user_env(tmp_path, VIDEONET_LANG="ko"))
    assert r.returncode == 2
    assert r.stderr.strip() == "오류: language: 'fr' 값은 en, ko, ja 중 하나여야 합니다"


def test_the_language_is_chosen_in_order(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    assert language_of(env) == "en"  # nothing set
    assert language_of({**env, "LANG": "ja_JP.UTF-8"}) == "ja"
    assert language_of({**env, "LANG": "ja_JP.UTF-8", "LC_MESSAGES": "ko_KR.UTF-8"}) == "ko"
    assert language_of({**env, "LC_MESSAGES": "ko_KR.UTF-8", "LC_ALL": "ja_JP.UTF-8"}) == "ja"
    # LC_ALL set to a language we do not have decides too: English, without a word about it.
    unknown = {**env, "LC_ALL": "fr_FR.UTF-8", "LANG": "ko_KR.UTF-8"}
    r = run("--help", env=unknown)
    assert r.stdout.startswith(USAGE["en"]) and r.stderr == ""
    # The saved language beats the locale; VIDEONET_LANG beats both.
    run("config", "set", "language", "ko", env=env)
    assert language_of({**env, "LANG": "ja_JP.UTF-8", "LC_ALL": "ja_JP.UTF-8"}) == "ko"
    assert language_of({**env, "LC_ALL": "ko_KR.UTF-8", "VIDEONET_LANG": "ja"}) == "ja"
    assert language_of({**env, "VIDEONET_LANG": "en"}) == "en"
    # An unknown VIDEONET_LANG is no choice: the next one (the saved ko) decides, silently.
    r = run("--help", env={**env, "VIDEONET_LANG": "xx"})
    assert r.stdout.startswith(USAGE["ko"]) and r.stderr == ""


def test_the_json_of_a_saved_unknown_language_is_english(tmp_path: Path) -> None:
    # A hand-edited config.json with a language we do not have: English, no error.
    (tmp_path / "config.json").write_text('{"language": "tlh"}\n', encoding="utf-8")
    r = run("--help", env=user_env(tmp_path, LANG="C"))
    assert r.returncode == 0 and r.stdout.startswith(USAGE["en"]) and r.stderr == ""


@pytest.mark.parametrize(
    ("lang", "missing", "no_option"),
    [
        (
            "ko",
            "오류: 'ROOM' 인수가 필요합니다 (`videonet send --help` 참조)",
            "그런 옵션은 없습니다",
        ),
        (
            "ja",
            "エラー: 引数 'ROOM' を指定してください (`videonet send --help` を参照)",
            "オプションはありません",
        ),
    ],
)
def test_clicks_usage_errors_are_translated(
    tmp_path: Path, lang: str, missing: str, no_option: str
) -> None:
    env = user_env(tmp_path, VIDEONET_LANG=lang)
    r = run("send", env=env)
    assert r.returncode == 2 and r.stderr.strip() == missing
    r = run("send", "--nope", "room", "file", env=env)
    assert r.returncode == 2 and no_option in r.stderr and "--nope" in r.stderr
    r = run("rooms", "list", "--limit", "0", env=env)
    assert r.returncode == 2 and "--limit" in r.stderr and "1" in r.stderr
    assert "Input should" not in r.stderr and "Invalid value" not in r.stderr


# --- the header that asks the daemon for the CLI's language --------------------------------


class Recorder:
    """A stand-in daemon on a thread: records every request's headers, refuses every request
    with the daemon's error shape (so the CLI shows the message it was given)."""

    def __init__(self) -> None:
        self.headers: list[tuple[str, dict[str, str]]] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.headers.append((request.path, dict(request.headers)))
        body = {"error": {"code": "unauthenticated", "message": "stand-in refusal"}}
        return web.json_response(body, status=401)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> Recorder:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as r:
        yield r


@pytest.mark.parametrize("lang", ["en", "ko", "ja"])
def test_every_request_says_the_language(recorder: Recorder, tmp_path: Path, lang: str) -> None:
    env = user_env(tmp_path, VIDEONET_SERVER=recorder.url, VIDEONET_TOKEN="t", VIDEONET_LANG=lang)
    r = run("whoami", env=env)
    # The daemon's message is shown as it came (the daemon translates it), exit 3 for its code.
    assert r.returncode == 3 and "stand-in refusal" in r.stderr
    assert recorder.headers and all(h.get("Accept-Language") == lang for _, h in recorder.headers)


@pytest.mark.parametrize("lang", ["ko", "ja"])
def test_the_socket_says_the_language(recorder: Recorder, tmp_path: Path, lang: str) -> None:
    # The CLI's own socket client, in a process of its own whose language is `lang`.
    probe = (
        "import asyncio\n"
        "from videonet_cli import i18n\n"
        "i18n.settle()\n"
        "from videonet_cli.api.socket import SocketClient\n"
        "from videonet_cli.errors import CliError\n"
        "async def main():\n"
        f"    client = SocketClient({recorder.url!r}, 'token')\n"
        "    try:\n"
        "        await client.connect()\n"
        "    except CliError as exc:\n"
        "        print(type(exc).__name__)\n"
        "asyncio.run(main())\n"
    )
    env = user_env(tmp_path, VIDEONET_LANG=lang)
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.stdout.strip() == "UnreachableError", out.stderr
    sockets = [h for path, h in recorder.headers if path.startswith("/socket.io")]
    assert sockets and all(h.get("Accept-Language") == lang for h in sockets)


# --- `--json`: the same bytes in every language --------------------------------------------


def test_json_is_the_same_in_every_language(daemon: Daemon, cli: Cli) -> None:
    made = cli("rooms", "create", "i18n-json-room", "--json")
    assert made.code == 0, made.err
    commands = [
        ("config", "list", "--json"),
        ("config", "get", "language", "--json"),
        ("whoami", "--json"),
        ("rooms", "list", "--json"),
        ("rooms", "members", "i18n-json-room", "--json"),
        ("--version",),
    ]
    for args in commands:
        outputs = {lang: cli(*args, VIDEONET_LANG=lang) for lang in ("en", "ko", "ja")}
        assert outputs["en"].code == 0, (args, outputs["en"].err)
        for lang in ("ko", "ja"):
            assert outputs[lang].code == outputs["en"].code, (args, lang)
            assert outputs[lang].out.encode() == outputs["en"].out.encode(), (args, lang)
    # An error has no JSON form: its line is for people (translated), its exit code is not.
    errors = {
        lang: cli("rooms", "members", "no-such-room-x", "--json", VIDEONET_LANG=lang)
        for lang in ("en", "ko", "ja")
    }
    assert {r.code for r in errors.values()} == {4}
    assert all(r.out == "" for r in errors.values())


# --- a real terminal, LANG as a user's ------------------------------------------------------


def _have_locale(name: str) -> bool:
    try:
        found = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout
    except OSError:
        return False
    wanted = name.lower().replace("utf-8", "utf8")
    return any(line.strip().lower().replace("utf-8", "utf8") == wanted for line in found.split())


LOCALES = {"ko": "ko_KR.UTF-8", "ja": "ja_JP.UTF-8"}


def terminal_env(tmp_path: Path, lang: str, **extra: str) -> dict[str, str]:
    name = LOCALES[lang]
    if not _have_locale(name):
        pytest.skip(f"the {name} locale is not installed (make test-packages makes it, as root)")
    return user_env(tmp_path, LANG=name, **extra)


def screen_lines(text: str) -> list[str]:
    """The captured terminal's lines, without colour codes."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return [line.rstrip() for line in plain.replace("\r\n", "\n").split("\n")]


def check_aligned(lines: list[str], heading: str) -> None:
    """Under ``heading``, every description starts at the same cell, and no line is wider
    than the help's width (80 cells: click's limit) so the terminal never wraps it."""
    start = lines.index(heading) + 1
    section: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            break
        section.append(line)
    assert section, heading
    columns = set()
    for line in section:
        assert cell_len(line) <= 80, line
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if indent == 2:  # an option's row: "  --name VALUE   description"
            match = re.match(r"^(\S+(?: \S+)*?(?:, \S+(?: \S+)?)?)( {2,})(\S.*)$", body)
            if match is None:
                continue  # an option too long for the column: its text is on the next line
            columns.add(2 + cell_len(match.group(1)) + len(match.group(2)))
        else:  # a continuation line of a description
            columns.add(indent)
    assert len(columns) == 1, (heading, columns, section)


@pytest.mark.one_pass("the terminal")
@pytest.mark.parametrize("lang", ["ko", "ja"])
@pytest.mark.parametrize("args", [("--help",), ("send", "--help"), ("config", "--help")])
def test_help_on_a_terminal_in_the_users_language(
    tmp_path: Path, lang: str, args: tuple[str, ...]
) -> None:
    from terminal import finish, spawn

    child = spawn(terminal_env(tmp_path, lang), *args)
    assert finish(child) == 0
    lines = screen_lines(child.before or "")
    assert lines[0].startswith(USAGE[lang] + "videonet"), lines[:3]
    assert OPTIONS[lang] in lines
    check_aligned(lines, OPTIONS[lang])
    assert "Show this message and exit." not in child.before
    if args == ("--help",):
        commands = {"ko": "명령:", "ja": "コマンド:"}[lang]
        check_aligned(lines, commands)
        assert any(
            "초대 코드로 계정을" in line or "招待コードでアカウント" in line for line in lines
        )


@pytest.mark.parametrize("group", [(), ("rooms",), ("keys",), ("devices",), ("config",)])
def test_each_command_in_a_japanese_list_is_a_whole_sentence(
    tmp_path: Path, group: tuple[str, ...]
) -> None:
    """Click shortens a command's help at spaces, which Japanese does not put between words: a
    command's line was "..." alone (chat) or cut at a space inside a parenthesis (send)."""
    out = run(*group, "--help", env=user_env(tmp_path, VIDEONET_LANG="ja")).stdout
    listed = out.split("コマンド:\n", 1)[1]
    entries = re.split(r"\n(?=  \S)", listed.strip("\n"))
    assert len(entries) >= 4, entries
    for entry in entries:
        name, text = entry.strip().split(maxsplit=1)
        text = "".join(line.strip() for line in text.splitlines())
        assert text.endswith("。") and "..." not in text, (name, text)


@pytest.mark.one_pass("the terminal")
@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("ko", "오류: {server}에 로그인되어 있지 않습니다. `videonet login`을 실행하십시오"),
        ("ja", "エラー: {server} にログインしていません。`videonet login` を実行してください"),
    ],
)
def test_not_logged_in_on_a_terminal(daemon: Daemon, tmp_path: Path, lang: str, words: str) -> None:
    from terminal import finish, spawn

    env = terminal_env(tmp_path, lang, VIDEONET_SERVER=daemon.url)
    child = spawn(env, "rooms", "list")
    assert finish(child) == 3
    screen = " ".join(screen_lines(child.before or ""))
    assert words.format(server=daemon.url) in screen


@pytest.mark.one_pass("the terminal")
@pytest.mark.parametrize("lang", ["ko", "ja"])
def test_config_list_table_lines_up_on_a_terminal(tmp_path: Path, lang: str) -> None:
    from terminal import finish, spawn

    env = terminal_env(tmp_path, lang)
    run("config", "set", "room", "lobby", env=env)
    child = spawn(env, "config", "list")
    assert finish(child) == 0
    rows = [line for line in screen_lines(child.before or "") if line.startswith(("│", "┃"))]
    assert len(rows) >= 1 + 5, rows  # the header and one row a key
    # Every row's borders fall on the same cells (Rich measures Korean and Japanese as two).
    borders = {tuple(i for i, cell in enumerate(_cells(row)) if cell in "│┃") for row in rows}
    assert len(borders) == 1, rows
    header = {"ko": ("키", "값", "출처", "설명"), "ja": ("キー", "値", "設定元", "説明")}[lang]
    assert all(word in rows[0] for word in header)
    saved = {"ko": "저장됨", "ja": "保存済み"}[lang]
    assert any("lobby" in row and saved in row for row in rows)


def _cells(line: str) -> list[str]:
    """``line`` as terminal cells: a double-width character fills two."""
    cells: list[str] = []
    for char in line:
        cells.extend([char] * cell_len(char) if cell_len(char) else [])
    return cells


@pytest.mark.parametrize("width", [12, 17, 20, 33])
def test_help_text_wraps_by_cells(width: int) -> None:
    from videonet_protocol.adapters.typer import wrap_cells

    text = (
        "このデバイスはアカウントのアイデンティティにリンクされていません。ここで "
        "`videonet devices link` を実行してください。"
    )
    lines = wrap_cells(text, width, "  ", "    ")
    assert all(cell_len(line) <= width for line in lines), lines
    assert lines[0].startswith("  ") and all(line.startswith("    ") for line in lines[1:])
    assert not any(line.strip()[0] in "。、" for line in lines)
    # Nothing lost or reordered: the words come back when the lines are joined.
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert not any(line.endswith(" ") for line in lines)


def test_the_daemons_operator_cli_stays_english(tmp_path: Path) -> None:
    # videonet-daemon shares the help formatter and the usage errors (videonet_protocol), but
    # binds no catalogue: operators read English whatever their locale.
    env = user_env(tmp_path, LANG="ko_KR.UTF-8", LC_ALL="ko_KR.UTF-8")
    daemon_cli = str(BIN / "videonet-daemon")
    r = subprocess.run([daemon_cli, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("Usage: videonet-daemon"), r.stdout[:200]
    assert "Options:" in r.stdout and "Show this message and exit." in r.stdout
    r = subprocess.run(
        [daemon_cli, "serve", "--nope"], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 2 and "No such option: --nope" in r.stderr
