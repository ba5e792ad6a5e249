"""Sending, receiving, devices and keys in Korean and Japanese (issue 28): through a real
pseudo-terminal with ``LANG=ko_KR.UTF-8`` / ``ja_JP.UTF-8`` (no VIDEONET_LANG), the real CLI
against the real daemon. The screens are checked against the catalogue's own translations
(not copies of them), for the absence of English sentences, and for columns that line up in
terminal cells; ``--json`` is the same in English, Korean and Japanese.
"""

from __future__ import annotations

import gettext
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from identity_helpers import device, first_device, room_of
from terminal import finish, spawn
from transfer_helpers import Member, json_events, random_file, room_with_receivers, sha256_of

from conftest import BIN, Daemon, User, http

pytestmark = pytest.mark.one_pass("client side: the CLI's words in Korean and Japanese")

LOCALEDIR = Path(__file__).resolve().parent.parent / "src" / "videonet_cli" / "locale"
LOCALES = {"ko": "ko_KR.UTF-8", "ja": "ja_JP.UTF-8"}
# The yes a Korean or Japanese user types at receive's [y/N] (y and yes always work too).
OWN_YES = {"ko": "예", "ja": "はい"}
# Variables that would decide the language ahead of LANG: a test of LANG drops them.
DECIDERS = ("VIDEONET_LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE")


def catalogue(language: str) -> gettext.GNUTranslations:
    """The compiled catalogue the CLI speaks from (the suite compiles the .po files first)."""
    return gettext.translation("videonet_cli", str(LOCALEDIR), languages=[language])


def lang_env(env: dict[str, str], language: str) -> dict[str, str]:
    """``env`` as a Korean or Japanese terminal has it: LANG only (English: LANG=C)."""
    env = {k: v for k, v in env.items() if k not in DECIDERS}
    env["LANG"] = LOCALES.get(language, "C.UTF-8")
    return env


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def screen_text(raw: str) -> str:
    return _ANSI.sub("", raw).replace("\r", "")


def squash(text: str) -> str:
    """Without whitespace: a line Rich wrapped at the terminal's width still matches."""
    return re.sub(r"\s+", "", text)


def template(translated: str, **known: str) -> re.Pattern[str]:
    """A translated sentence as a pattern over a squashed screen: the fields given are matched
    exactly, the others (sizes, speeds, hashes) as anything."""
    pattern = ""
    for literal, field in re.findall(r"([^{]*)(?:\{(\w+)\})?", translated):
        pattern += re.escape(squash(literal))
        if field:
            pattern += re.escape(squash(known[field])) if field in known else ".+?"
    return re.compile(pattern)


def english_sentences(screen: str, allowed: list[str]) -> list[str]:
    """Runs of two or more English words left once names, commands and units are taken out."""
    text = re.sub(r"`[^`]*`", " ", screen)  # commands to type stay as they are
    for word in sorted(allowed, key=len, reverse=True):
        text = text.replace(word, " ")
    return re.findall(r"\b[A-Za-z]{2,}(?:[ \t]+[A-Za-z]{2,}\b)+", text)


def record(child: Any) -> io.StringIO:
    log = io.StringIO()
    child.logfile_read = log
    return log


def room_name(daemon: Daemon, room: str, who: Member) -> str:
    status, body, _ = http("GET", daemon.api(f"/api/rooms/{room}"), token=who.user.token)
    assert status == 200, body
    return str(body["name"])


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_send_and_receive_on_a_terminal_speak_the_users_language(
    daemon: Daemon, tmp_path: Path, language: str
) -> None:
    tr = catalogue(language)
    room, alice, (bob,) = room_with_receivers(daemon, tmp_path, 1, "i18n")
    name = room_name(daemon, room, alice)
    clips = tmp_path / "clips"
    clips.mkdir()
    big = random_file(clips / "take1.bin", 3_000_000)
    small = random_file(clips / "notes.txt", 4000)

    # alice sends a directory at 1 MB/s, so the bar is drawn while it moves; nobody receives
    # yet, so she is told what the others should run, and waits for their verdict.
    sender = spawn(
        lang_env(alice.cli.env(), language), "send", room, str(clips), "--limit-rate", "1M"
    )
    sent = record(sender)
    uploaded = tr.gettext(
        "{name}: uploaded; nobody is receiving yet: the others should run {command}"
    ).format(name="clips", command=f"`videonet receive {name}`")
    sender.expect(re.escape(name), timeout=60)  # the command in the uploaded line

    out = tmp_path / "in"
    out.mkdir()
    receiver = spawn(lang_env(bob.cli.env(), language), "receive", room, "--out", str(out))
    received = record(receiver)
    try:
        receiver.expect(r"\[y/N\] ", timeout=60)
    except Exception as exc:  # both screens say why
        raise AssertionError(
            f"no prompt:\n{screen_text(received.getvalue())}\n{screen_text(sent.getvalue())}"
        ) from exc
    asked = screen_text(received.getvalue())
    what = tr.ngettext(
        "the directory {name}/ ({n} file, {size})", "the directory {name}/ ({n} files, {size})", 2
    )
    prompt = tr.gettext(
        "{sender} (device {device}, identity {identity}) offers {what}. Accept? [y/N] "
    )
    # Who offers (the identity's state in the language), and what: the directory's own words.
    asked_for = template(prompt, sender=alice.user.username, identity=tr.gettext("pinned"))
    assert asked_for.search(squash(asked)), asked
    assert template(what, name="clips", n="2").search(squash(asked)), asked
    waiting = tr.gettext("Waiting for files in {room}…").format(room=name)
    assert squash(waiting) in squash(asked), asked
    receiver.sendline(OWN_YES[language])  # the language's own yes takes the offer
    assert finish(receiver) == 0, received.getvalue()
    assert finish(sender) == 0, sent.getvalue()

    assert sha256_of(out / "clips" / "take1.bin") == sha256_of(big)
    assert sha256_of(out / "clips" / "notes.txt") == sha256_of(small)

    rx_screen = screen_text(received.getvalue())
    ok_line = tr.gettext(
        "✓ {path}: {size} from {sender} (device {device}, identity {identity}), "
        "sha256 {sha256}… verified{speed}"
    )
    for file in ("take1.bin", "notes.txt"):
        line = template(
            ok_line,
            path=str(out / "clips" / file),
            sender=alice.user.username,
            identity=tr.gettext("pinned"),
        )
        assert line.search(squash(rx_screen)), rx_screen
    tx_screen = screen_text(sent.getvalue())
    # The progress bar: Rich's bar, its description in the language (the batch's file count),
    # the units as they are.
    bar = tr.ngettext("{name} ({n} file)", "{name} ({n} files)", 2).format(name="clips", n=2)
    assert bar in tx_screen and "━" in tx_screen and "MB" in tx_screen, tx_screen
    assert squash(uploaded) in squash(tx_screen), tx_screen
    verified = template(
        tr.gettext("{mark} {file} verified by {users}{speed}"), mark="✓", users=bob.user.username
    )
    assert len(verified.findall(squash(tx_screen))) == 2, tx_screen

    names = [alice.user.username, bob.user.username, name, "clips", "take1.bin", "notes.txt"]
    names += [str(tmp_path), "MB/s", "MB", "KB", "sha256", "[y/N]"]
    assert english_sentences(tx_screen, names) == [], tx_screen
    assert english_sentences(rx_screen, names) == [], rx_screen


def test_plain_y_still_takes_an_offer_and_anything_else_declines(
    daemon: Daemon, tmp_path: Path
) -> None:
    tr = catalogue("ko")
    room, alice, (bob,) = room_with_receivers(daemon, tmp_path, 1, "i18n-y")
    for file in ("first.txt", "second.txt"):
        r = alice.cli("send", room, str(random_file(tmp_path / file, 500)), "--no-wait")
        assert r.code == 0, r.err
    out = tmp_path / "in"
    out.mkdir()
    # Newest first: second.txt is asked about first and declined with "n"; first.txt is taken
    # with a plain "y" on a Korean terminal.
    rx = spawn(lang_env(bob.cli.env(), "ko"), "receive", room, "--out", str(out), "-n", "2")
    screen = record(rx)
    rx.expect(r"\[y/N\] ")
    rx.sendline("n")
    rx.expect(r"\[y/N\] ")
    rx.sendline("y")
    assert finish(rx) == 0, screen.getvalue()
    assert sorted(p.name for p in out.iterdir()) == ["first.txt"]
    declined = template(
        tr.gettext("✗ declined {name} from {sender} (device {device}, identity {identity})"),
        name="second.txt",
        sender=alice.user.username,
        identity=tr.gettext("pinned"),
    )
    assert declined.search(squash(screen_text(screen.getvalue()))), screen.getvalue()


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI without a terminal (standard input is not one)."""
    return subprocess.run(
        [str(BIN / "videonet"), *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_errors_and_their_hints_in_the_users_language(
    daemon: Daemon, tmp_path: Path, language: str
) -> None:
    tr = catalogue(language)
    room, alice, (bob,) = room_with_receivers(daemon, tmp_path, 1, "i18n-err")
    name = room_name(daemon, room, alice)
    env, english = lang_env(bob.cli.env(), language), lang_env(bob.cli.env(), "en")

    cases: list[tuple[tuple[str, ...], str]] = [
        # No terminal to ask on: the hint names --yes and --from.
        (
            ("receive", room),
            tr.gettext(
                "receive asks before taking a file and there is no terminal to ask on: "
                "pass --yes to accept offers (with --from USER to take only that member's)"
            ),
        ),
        # A code that is not one: the hint shows what a code looks like.
        (
            ("receive", room, "--code=seven"),
            tr.gettext(
                "--code {code} is not a code like 7-guitar-meadow (a number, then words "
                "joined by '-')"
            ).format(code=repr("seven")),
        ),
        # A room with nothing in it.
        (
            ("receive", room, "--yes", "--timeout", "1"),
            tr.gettext("no file was offered in {room} within {seconds} s{notes}").format(
                room=name, seconds="1", notes=""
            ),
        ),
    ]
    for args, message in cases:
        said = run(env, *args)
        plain = run(english, *args)
        assert said.returncode == plain.returncode != 0, (said.stderr, plain.stderr)
        assert squash(message) in squash(said.stderr), said.stderr
        assert squash(message) not in squash(plain.stderr)  # English in English
        lines = [line for line in said.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, said.stderr  # one line, as in English


def device_rows(screen: str, short_ids: list[str]) -> list[str]:
    return [line for line in screen.splitlines() if any(s in line for s in short_ids)]


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_devices_and_keys_line_up_with_double_width_labels(
    daemon: Daemon, user: User, tmp_path: Path, language: str
) -> None:
    tr = catalogue(language)
    first, recovery = first_device(daemon, user, tmp_path)
    second = device(daemon, user, tmp_path, "second")
    assert second.cli("devices", VIDEONET_RECOVERY_KEY=recovery).code == 0
    mine = first.cli("devices", "--json").json()
    ids = [d["device_id"] for d in mine["devices"]]
    # A Korean (or Japanese) label of two cells a character, and a short ASCII one.
    label = {"ko": "작업용 노트북", "ja": "仕事用ノート"}[language]
    assert first.cli("devices", "rename", label).code == 0
    assert first.cli("devices", "rename", "ci", "--device", ids[1]).code == 0

    for command in (("devices",), ("devices", "list"), ("keys",)):
        child = spawn(lang_env(first.cli.env(), language), *command)
        log = record(child)
        assert finish(child) == 0, log.getvalue()
        screen = screen_text(log.getvalue())
        short = [i[:8] for i in ids]
        rows = device_rows(screen, short)
        assert len(rows) == 2, screen
        # The short ids start in the same terminal column, and so do the statuses.
        id_columns = {cell_len(row[: row.index(s)]) for row, s in zip(rows, short, strict=True)}
        assert len(id_columns) == 1, rows
        certified = tr.gettext("certified")
        assert all(certified in row for row in rows), rows
        status_columns = {cell_len(row[: row.index(certified)]) for row in rows}
        assert len(status_columns) == 1, rows
        assert tr.gettext("<- this device") in rows[0] and label in rows[0], rows
        heading = tr.gettext("{user}'s identity (held on this device):").format(user=user.username)
        assert heading in screen, screen
        assert english_sentences(screen, [user.username, "ci", "<-"]) == [], screen

    # --json: the same bytes in English, Korean and Japanese.
    outputs = {
        language: run(lang_env(first.cli.env(), language), *args).stdout
        for language in ("en", "ko", "ja")
        for args in [("devices", "--json")]
    }
    assert outputs["en"] == outputs["ko"] == outputs["ja"] and json.loads(outputs["en"])


# Fields that differ from one run to the next (ids, times, speeds), and where files landed.
PER_RUN = {"transfer_id", "seconds", "moving_seconds", "mb_per_s", "available_until"}


def normalized(lines: str, out: Path) -> list[Any]:
    """The JSON lines with the per-run values blanked; progress events by their keys alone
    (how many a run reports depends on timing, not on the language)."""
    found: list[Any] = []
    for event in json_events(lines.replace(str(out), "OUT")):
        if event.get("event") in ("progress", "checking"):
            found.append(("progress", sorted(event)))
            continue
        found.append({k: ("*" if k in PER_RUN else v) for k, v in event.items()})
    # Consecutive progress events collapse: their count is timing.
    return [e for i, e in enumerate(found) if i == 0 or e != found[i - 1]]


def test_json_is_the_same_in_every_language(daemon: Daemon, tmp_path: Path) -> None:
    room, alice, (bob,) = room_with_receivers(daemon, tmp_path, 1, "i18n-json")
    # A first send shows its one-time notices (alice's own device, first seen): the runs
    # compared below start from the same state.
    warm = random_file(tmp_path / "warm.txt", 10)
    assert run(alice.cli.env(), "send", room, str(warm), "--no-wait").returncode == 0
    sends, receives = {}, {}
    for language in ("en", "ko", "ja"):
        src = tmp_path / f"src-{language}"
        src.mkdir()
        out = tmp_path / f"out-{language}"
        out.mkdir()
        # An offer that cannot land here (its name exists), then the file that is taken: the
        # skipped offer's reason is a sentence, and stays English in --json.
        (out / "taken.txt").write_bytes(b"mine")
        report = src / "report.bin"
        report.write_bytes(bytes(range(256)) * 400)
        old = src / "old"
        old.mkdir()
        (old / "taken.txt").write_bytes(b"theirs")
        sent = run(
            lang_env(alice.cli.env(), language), "send", room, str(report), "--no-wait", "--json"
        )
        assert sent.returncode == 0, sent.stderr
        also = run(
            lang_env(alice.cli.env(), language),
            "send",
            room,
            str(old / "taken.txt"),
            "--no-wait",
            "--json",
        )
        assert also.returncode == 0, also.stderr
        got = run(
            lang_env(bob.cli.env(), language),
            "receive",
            room,
            "--yes",
            "--out",
            str(out),
            "--json",
        )
        assert got.returncode == 0, got.stderr
        assert (out / "report.bin").read_bytes() == report.read_bytes()
        sends[language] = normalized(sent.stdout.replace(str(src), "SRC"), out)
        receives[language] = normalized(got.stdout, out)
    skipped = [e for e in receives["ko"] if isinstance(e, dict) and e["event"] == "offer_skipped"]
    assert skipped and "exists" in skipped[0]["reason"], receives["ko"]
    assert sends["en"] == sends["ko"] == sends["ja"]
    assert receives["en"] == receives["ko"] == receives["ja"]


def test_an_interrupted_send_says_how_to_go_on_and_a_changed_file_starts_anew(
    daemon: Daemon, tmp_path: Path
) -> None:
    """Ctrl-C says in Korean how to resume; the file changed since, the same command sends it
    as a new transfer (whole, from byte 0)."""
    tr = catalogue("ko")
    room, alice, _ = room_with_receivers(daemon, tmp_path, 1, "i18n-int")
    src = random_file(tmp_path / "long.bin", 4_000_000)
    env = lang_env(alice.cli.env(), "ko")
    child = spawn(env, "send", room, str(src), "--limit-rate", "1M")
    screen = record(child)
    child.expect("MB/s")
    child.expect(r"[1-9]\.\d/4\.0 MB")  # some of it is on the daemon
    child.sendintr()
    assert finish(child) == 130
    hint = template(
        tr.gettext(
            "interrupted: {name} at {done} of {total}; run the same `videonet send` again "
            "to resume where the daemon's copy ends"
        ),
        name="long.bin",
    )
    assert hint.search(squash(screen_text(screen.getvalue()))), screen.getvalue()
    with src.open("ab") as fh:
        fh.write(b"more")
    again = run(env, "send", room, str(src), "--no-wait", "--json")
    assert again.returncode == 0, again.stderr
    result = json_events(again.stdout)[-1]
    assert result["bytes"] == 4_000_004 and result["resumed_from"] == 0, result


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_linking_a_device_and_a_safety_number_in_the_users_language(
    daemon: Daemon, user: User, tmp_path: Path, language: str
) -> None:
    tr = catalogue(language)
    first, _ = first_device(daemon, user, tmp_path)
    new = device(daemon, user, tmp_path, "new")
    # The new device shows the code to type and waits; the old one asks for it without echo.
    waiting = spawn(lang_env(new.cli.env(), language), "devices", "link")
    shown = record(waiting)
    waiting.expect(r"videonet devices link (\d+-[a-z]+-[a-z]+)")
    code = waiting.match.group(1)
    typing = spawn(lang_env(first.cli.env(), language), "devices", "link", "--prompt")
    typed = record(typing)
    typing.expect(re.escape(tr.gettext("Code shown on the new device")))
    typing.sendline(code)
    assert finish(typing) == 0 and finish(waiting) == 0, typed.getvalue()
    both = tr.gettext("Linked {device}. Both devices show: {words}")
    before_words = both.split("{words}")[0].split("{device}")[-1]
    said_words = []
    for log in (shown, typed):
        screen = screen_text(log.getvalue())
        assert template(both).search(squash(screen)), screen
        line = next(line for line in screen.splitlines() if before_words in line)
        said_words.append(line.split(before_words)[-1].strip())  # the three words (English)
        allowed = [code, user.username, said_words[-1], "videonet devices"]
        assert english_sentences(screen, allowed) == [], screen
    assert said_words[0] == said_words[1] and len(said_words[0].split()) == 3
    run_there = tr.gettext("On a device you already use, run:  videonet devices link {code}")
    assert squash(run_there.format(code=code)) in squash(screen_text(shown.getvalue()))

    # A safety number with another member: the heading and the two hints in the language.
    other = daemon.make_user(tmp_path)
    first_device(daemon, other, tmp_path)
    room_of(daemon, user, other)  # a safety number is for someone you share a room with
    child = spawn(lang_env(first.cli.env(), language), "keys", "verify", other.username)
    log = record(child)
    assert finish(child) == 0, log.getvalue()
    screen = screen_text(log.getvalue())
    heading = tr.gettext("Safety number with {user} ({state}):").format(
        user=other.username, state=tr.gettext("not pinned")
    )
    same = tr.gettext("{user} sees the same number with `videonet keys verify` on their side.")
    matches = tr.gettext("If it matches: videonet keys trust {user} NUMBER")
    for line in (heading, same, matches):
        assert squash(line.format(user=other.username)) in squash(screen), screen
    names = [other.username, "videonet keys trust", "NUMBER"]
    assert english_sentences(screen, names) == [], screen


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_send_asks_about_a_first_seen_identity_in_the_users_language(
    daemon: Daemon, tmp_path: Path, language: str
) -> None:
    tr = catalogue(language)
    room, alice, (bob,) = room_with_receivers(daemon, tmp_path, 1, "i18n-trust")
    src = random_file(tmp_path / "memo.txt", 300)
    env = lang_env(alice.cli.env(VIDEONET_TRUST_NEW="0"), language)
    child = spawn(env, "send", room, str(src), "--no-wait")
    log = record(child)
    asked = tr.ngettext("Trust this identity and send?", "Trust these {n} identities and send?", 1)
    child.expect(re.escape(asked.format(n=1)))
    # The language's own yes, as at receive's prompt (click's confirm knew only y and n).
    child.sendline(OWN_YES[language])
    assert finish(child) == 0, log.getvalue()
    screen = screen_text(log.getvalue())
    told = template(
        tr.gettext(
            "encrypting to: {user} — first use, identity {fingerprint} (compare it with them: "
            "videonet keys verify {user})"
        ),
        user=bob.user.username,
    )
    assert told.search(squash(screen)), screen

    # `receive --list`: nothing waiting for alice, said in the language.
    listed = run(lang_env(alice.cli.env(), language), "receive", room, "--list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == tr.gettext("No offers are waiting for you."), listed.stdout
