"""What the CLI prints: server text never as markup, full values when piped, human times on a
terminal, waits in rate-limit errors, durations checked, `| head` without a traceback.

Terminal behaviour runs the real CLI in a pseudo-terminal (pexpect), as a user sees it.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pexpect
import pytest

from terminal import default_sigint
from videonet_protocol import protocol

from conftest import BIN, TEST_PASSWORD, Cli, CliResult, Daemon, User, http

pytestmark = pytest.mark.one_pass("terminal and client side: API tests cover the daemon")

HOSTILE_ROOM = "[/oops] [link=https://evil.example]click[/link]"
HOSTILE_TEXT = "[black on black]hidden[/] [bold]loud[/bold]"


def in_terminal(cli: Cli, *args: str, width: int = 250, **env: str) -> CliResult:
    """Run the CLI in a pseudo-terminal; what the terminal showed, escape codes removed."""
    child = pexpect.spawn(
        str(BIN / "videonet"),
        list(args),
        env=cli.env(COLUMNS=str(width), **env),
        dimensions=(50, width),
        encoding="utf-8",
        timeout=60,
        preexec_fn=default_sigint,
    )
    child.expect(pexpect.EOF)
    child.close()
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\\\", "", child.before or "")
    return CliResult(child.exitstatus if child.exitstatus is not None else -1, shown, "")


def hostile_user(daemon: Daemon, tmp_path: Path) -> User:
    # Usernames cannot hold markup characters (the daemon refuses them: tests/test_unique_names.py);
    # room names, descriptions, chat text and file names can, and carry the hostile text here.
    return daemon.make_user(tmp_path, name=f"u{uuid.uuid4().hex[:8]}")


def test_server_text_is_never_markup(daemon: Daemon, tmp_path: Path) -> None:
    owner = hostile_user(daemon, tmp_path)
    cli = Cli(daemon.url, owner.config_dir, owner.token)
    r = cli("rooms", "create", HOSTILE_ROOM, "-d", HOSTILE_TEXT, "--json")
    assert r.code == 0, r.err
    room_id = r.json()["id"]
    assert cli("chat", room_id, "--send", HOSTILE_TEXT).code == 0

    shown = in_terminal(cli, "rooms", "list")
    assert shown.code == 0, shown.out
    assert HOSTILE_ROOM in shown.out and HOSTILE_TEXT in shown.out
    shown = in_terminal(cli, "rooms", "members", room_id)
    assert shown.code == 0, shown.out
    assert owner.username in shown.out
    r = cli("rooms", "create", "[/oops]")  # created, and said so literally
    assert r.code == 0 and r.out.startswith("Created room [/oops] ("), r.out

    # The chat history on a terminal shows the name and the message as typed.
    child = pexpect.spawn(
        str(BIN / "videonet"),
        ["chat", room_id, "--history", "5", "--follow"],
        env=cli.env(COLUMNS="200"),
        dimensions=(40, 200),
        encoding="utf-8",
        timeout=30,
        preexec_fn=default_sigint,
    )
    child.expect_exact(HOSTILE_TEXT)
    assert owner.username in (child.before or "")
    child.sendintr()
    child.expect(pexpect.EOF)

    # The receiver's "waiting" line with bars on a terminal names the room literally.
    shown = in_terminal(cli, "receive", room_id, "--timeout", "2", "--out", str(tmp_path))
    assert f"Waiting for files in {HOSTILE_ROOM}" in shown.out
    assert "MarkupError" not in shown.out and "Traceback" not in shown.out


def test_piped_tables_are_tab_separated_full_values(cli: Cli) -> None:
    long_description = "a description far longer than any terminal column would leave " * 3
    room = cli("rooms", "create", f"piped-{uuid.uuid4().hex[:6]}", "-d", long_description, "--json")
    room_id = room.json()["id"]
    r = cli("rooms", "list")
    assert r.code == 0, r.err
    row = next(line for line in r.out.splitlines() if room_id in line)
    cells = row.split("\t")
    assert cells[1] == room_id and cells[-1] == long_description.strip()
    assert "│" not in r.out and "…" not in r.out

    code = cli("invite", "create", "--expires", "7d", "--json").json()["code"]
    r = cli("invite", "list")
    row = next(line for line in r.out.splitlines() if line.startswith(code + "\t"))
    expires = row.split("\t")[3]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", expires), row


def test_terminal_tables_show_human_times(cli: Cli) -> None:
    cli("invite", "create", "--expires", "2h")
    shown = in_terminal(cli, "invite", "list")
    assert shown.code == 0, shown.out
    assert "just now" in shown.out
    assert re.search(r"in (1 h|119 min|120 min)", shown.out) or "in 1 h" in shown.out, shown.out
    assert not re.search(r"\d\d:\d\d:\d\d\.\d{3}", shown.out)  # no raw ISO with microseconds


def test_rate_limit_says_how_long_to_wait(daemon_factory: Any, tmp_path: Path) -> None:
    d: Daemon = daemon_factory(VIDEONET_LOGIN_FAILURES_MAX="2")
    user = d.make_user(tmp_path)
    cli = Cli(d.url, user.config_dir)
    for _ in range(2):
        r = cli("login", "--email", user.email, "--password-stdin", input="wrong-password\n")
        assert r.code == 3
    r = cli("login", "--email", user.email, "--password-stdin", input="wrong-password\n")
    assert r.code == 1
    assert re.fullmatch(r"Error: too many failed logins; try again in \d+ s\n", r.err), r.err


def test_invite_lifetime_is_checked_here(cli: Cli) -> None:
    r = cli("invite", "create", "--expires", "7")
    assert r.code == 2
    assert r.err == (
        "Error: --expires: '7' is 7 s; an invite lives from 1 minute to 365 days "
        "(e.g. 30m, 12h, 7d)\n"
    )
    assert cli("invite", "create", "--expires", "400d").code == 2


def test_closed_output_ends_quietly(cli: Cli, user: User, daemon: Daemon) -> None:
    """`videonet … | head`: the reader goes away; no BrokenPipeError traceback, exit 1."""
    status, room, _ = http(
        "POST",
        daemon.api(protocol.API_ROOM_CREATE),
        {"name": f"p{uuid.uuid4().hex[:6]}"},
        user.token,
    )
    assert status == 201
    for i in range(3):
        assert cli("chat", room["id"], "--send", f"line {i}").code == 0
    for args in (
        ("rooms", "list"),
        ("chat", room["id"], "--history", "3", "--follow"),
        ("--help",),
    ):
        proc = subprocess.Popen(
            [str(BIN / "videonet"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli.env(),
            text=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # as `head` does once it has enough
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 1, err
        assert "Traceback" not in err and "BrokenPipe" not in err and err == "", err


def test_no_standard_output_at_all_does_nothing(cli: Cli, daemon: Daemon) -> None:
    """`videonet … >&-`: Python starts with no sys.stdout; the command did its work and ended
    with a traceback from the final flush (docs/exit-codes.md said "quietly, exit 1")."""
    name = f"closed{uuid.uuid4().hex[:6]}"
    for program, args in (
        ("videonet", f"rooms create {name}"),
        ("videonet", "--help"),
        ("videonet-daemon", "--version"),
    ):
        r = subprocess.run(
            ["sh", "-c", f'"{BIN / program}" {args} >&-'],
            capture_output=True,
            text=True,
            env=cli.env(),
            timeout=60,
        )
        assert r.returncode == 1, r.stderr
        assert r.stderr == "Error: standard output is closed: nothing was done\n", r.stderr
    listed = cli("rooms", "list", "--json")
    assert listed.code == 0 and name not in listed.out


def test_password_rules_come_before_the_prompt(daemon: Daemon, tmp_path: Path) -> None:
    config = tmp_path / "cfg-new"
    config.mkdir()
    cli = Cli(daemon.url, config)
    name = f"n{uuid.uuid4().hex[:8]}"
    child = pexpect.spawn(
        str(BIN / "videonet"),
        [
            "register",
            "--email",
            f"{name}@example.test",
            "--username",
            name,
            "--invite",
            daemon.shared_invite(),
        ],
        env=cli.env(),
        encoding="utf-8",
        timeout=30,
    )
    child.expect_exact(f"Choose a password: {protocol.PASSWORD_MIN_BYTES} to")
    child.expect_exact("Password:")
    child.sendline("short")
    # Refused at once, before the confirmation and before anything is sent.
    child.expect_exact("the password must be 8 to 72 bytes")
    child.expect_exact("Password:")
    child.sendline(TEST_PASSWORD)
    child.expect_exact("Repeat for confirmation:")
    child.sendline(TEST_PASSWORD + "x")
    child.expect_exact("the two entries do not match")
    child.expect_exact("Password:")
    child.sendline(TEST_PASSWORD)
    child.expect_exact("Repeat for confirmation:")
    child.sendline(TEST_PASSWORD)
    child.expect_exact(f"Logged in to {daemon.url} as {name}")  # registering logs in too
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_short_password_from_stdin_is_refused_before_sending(anon_cli: Cli) -> None:
    r = anon_cli(
        "register",
        "--email",
        "s@example.test",
        "--username",
        "s",
        "--invite",
        "NOT-SENT",
        "--password-stdin",
        input="short\n",
    )
    assert r.code == 2
    assert r.err == (
        "Error: the password must be 8 to 72 bytes (a long phrase is fine, accents count "
        "double); this one is 5 bytes\n"
    )
