"""The real `videonet` CLI against the real daemon: accounts, invites, rooms, exit codes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, TEST_PASSWORD, Cli, Daemon, User, base_env

pytestmark = pytest.mark.one_pass("terminal and client side: API tests cover the daemon")


def test_register_login_whoami_logout_through_the_cli(daemon: Daemon, anon_cli: Cli) -> None:
    invite = daemon.mint_invite()
    r = anon_cli(
        "register",
        "--email",
        "carol@example.test",
        "--username",
        "carol",
        "--invite",
        invite,
        "--password-stdin",
        "--json",
        input=TEST_PASSWORD + "\n",
    )
    assert r.code == 0, r.err
    assert r.json()["user"]["username"] == "carol"
    # Registering logs in too (one command, one password prompt): the token is saved.
    assert anon_cli("whoami", "--json").json()["email"] == "carol@example.test"
    assert r.json()["device"]["recovery_key"], r.json()  # the identity is made, shown once

    r = anon_cli("login", "--email", "carol@example.test", "--password-stdin", input=TEST_PASSWORD)
    assert r.code == 0, r.err
    creds = anon_cli.config_dir / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert daemon.url in json.loads(creds.read_text())

    r = anon_cli("whoami", "--json")
    assert r.code == 0 and r.json()["email"] == "carol@example.test"

    r = anon_cli("logout")
    assert r.code == 0
    r = anon_cli("whoami")
    assert r.code == 3
    assert "not logged in" in r.err


def test_password_from_environment(daemon: Daemon, anon_cli: Cli, user: User) -> None:
    r = anon_cli("login", "--email", user.email, VIDEONET_PASSWORD=user.password)
    assert r.code == 0, r.err


def test_no_password_source_is_a_usage_error(anon_cli: Cli, user: User) -> None:
    r = anon_cli("login", "--email", user.email, input="")
    assert r.code == 2
    assert "--password-stdin" in r.err


def test_wrong_password_exit_3_one_line(anon_cli: Cli, user: User) -> None:
    r = anon_cli("login", "--email", user.email, "--password-stdin", input="wrong-password\n")
    assert r.code == 3
    assert r.err.strip() == "Error: Wrong email or password."
    assert "Traceback" not in r.err


def test_register_errors_are_one_line(daemon: Daemon, anon_cli: Cli) -> None:
    r = anon_cli(
        "register",
        "--email",
        "x@example.test",
        "--username",
        "x",
        "--invite",
        "BAD-CODE",
        "--password-stdin",
        input=TEST_PASSWORD,
    )
    assert r.code == 1
    assert r.err.count("\n") == 1 and "invite" in r.err


def test_rooms_through_the_cli(daemon: Daemon, cli: Cli, tmp_path: Path) -> None:
    r = cli("rooms", "create", "cli-room", "-d", "for tests", "--json")
    assert r.code == 0, r.err
    room = r.json()

    other = daemon.make_user(tmp_path)
    other_cli = Cli(daemon.url, other.config_dir, other.token)
    r = other_cli("rooms", "members", room["id"])
    assert r.code == 3 and "not a member" in r.err
    assert other_cli("rooms", "join", "cli-room").code == 0  # by name
    r = other_cli("rooms", "members", "cli-room", "--json")
    assert {m["username"] for m in r.json()} == {cli_user(cli), other.username}

    r = other_cli("rooms", "list", "--mine", "--json")
    listed = next(x for x in r.json() if x["id"] == room["id"])
    assert listed["is_joined"] is True and listed["participant_count"] == 2

    r = other_cli("rooms", "leave", room["id"], "--json")
    assert r.code == 0 and r.json()["left"] is True

    r = cli("rooms", "list", "--mine")
    assert r.code == 0 and "cli-room" in r.out


def cli_user(cli: Cli) -> str:
    return str(cli("whoami", "--json").json()["username"])


def test_room_not_found_exit_4(cli: Cli) -> None:
    r = cli("rooms", "join", "no-such-room-at-all")
    assert r.code == 4
    assert r.err.strip() == (
        "Error: no room named 'no-such-room-at-all' "
        "(`videonet rooms list` shows the rooms you can join)"
    )


def test_a_room_name_is_taken_whatever_its_case(cli: Cli) -> None:
    assert cli("rooms", "create", "twin").code == 0
    r = cli("rooms", "create", "TWIN")
    assert r.code == 1
    assert r.err.strip() == "Error: a room named 'TWIN' already exists"


def test_invites_through_the_cli(cli: Cli) -> None:
    r = cli("invite", "create", "--uses", "2", "--expires", "7d", "--json")
    assert r.code == 0, r.err
    code = r.json()["code"]
    r = cli("invite", "list", "--json")
    assert any(i["code"] == code and i["uses_left"] == 2 for i in r.json())
    r = cli("invite", "create", "--expires", "soon")
    assert r.code == 2 and "duration" in r.err


def test_unauthenticated_exit_3(anon_cli: Cli) -> None:
    r = anon_cli("rooms", "list")
    assert r.code == 3 and "videonet login" in r.err


def test_bad_token_exit_3(anon_cli: Cli) -> None:
    r = anon_cli("rooms", "list", VIDEONET_TOKEN="garbage")
    assert r.code == 3 and r.err.strip() == "Error: invalid token"


def test_daemon_not_running_exit_5(tmp_path: Path) -> None:
    dead = Cli("http://127.0.0.1:9", tmp_path, token="whatever")
    r = dead("rooms", "list")
    assert r.code == 5
    assert "http://127.0.0.1:9" in r.err
    assert r.err.count("\n") == 1


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("rooms", "create").code == 2
    assert cli("no-such-command").code == 2
    assert cli("rooms", "list", "--bogus").code == 2


def test_version_is_fast_path(tmp_path: Path) -> None:
    """`videonet --version` must not import the network stack or heavy modules."""
    code = (
        "import sys, videonet_cli.main as m;"
        "heavy = [x for x in ('aiohttp', 'socketio', 'cv2', 'openai', 'aiortc', 'sqlalchemy')"
        " if x in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    r = subprocess.run(
        [str(BIN / "videonet"), "--version"], capture_output=True, text=True, env=base_env()
    )
    assert r.returncode == 0 and r.stdout.startswith("videonet ")


def test_send_and_receive_import_only_what_they_use(tmp_path: Path) -> None:
    """`videonet send` and `receive` talk to the daemon through h11 and wsproto, without
    aiohttp, python-socketio or the backends those import (redis, requests), and without SPAKE2
    unless --code is given: each costs start-up time before the first byte moves
    (docs/performance.md, issue 13 and "Session 15")."""
    one = tmp_path / "one.txt"
    one.write_text("hi\n")
    env = {**base_env(), "VIDEONET_SERVER": "http://127.0.0.1:9", "VIDEONET_TOKEN": "t"}
    for argv in (
        ["send", "room", str(one)],
        ["receive", "room", "--yes"],
        ["send", "room", "--code=", str(one)],
    ):
        r = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "videonet_cli", *argv],
            capture_output=True,
            text=True,
            env=env,
        )
        assert r.returncode != 0 and "cannot reach the daemon" in r.stderr  # imports done
        imported = {
            line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if "|" in line
        }
        assert {"h11", "wsproto", "videonet_cli.api.sio"} <= imported  # the send path was
        heavy = {"aiohttp", "socketio", "engineio", "yarl", "redis", "valkey", "requests"}
        assert not {name for name in imported if name.split(".")[0] in heavy}, argv
        assert ("spake2.spake2" in imported) == ("--code=" in argv), argv


def test_debug_shows_traceback(tmp_path: Path) -> None:
    dead = Cli("http://127.0.0.1:9", tmp_path, token="t")
    r = dead("rooms", "list", VIDEONET_DEBUG="1")
    assert r.code != 0 and "Traceback" in r.err


def test_python_m_entry_points() -> None:
    for module in ("videonet_cli", "videonet_daemon"):
        r = subprocess.run(
            [sys.executable, "-m", module, "--version"],
            capture_output=True,
            text=True,
            env={**os.environ},
        )
        assert r.returncode == 0, r.stderr
