"""The first ten minutes: a friend with nothing but the invite line gets a file in few commands.

The friend runs the real CLI on a pseudo-terminal with a fresh HOME (no config, no token, no
server), answers the prompts as a person would, and the test counts the commands they type.
"""

from __future__ import annotations

import hashlib
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from terminal import finish, spawn

from conftest import Cli, Daemon, User, base_env, http

pytestmark = pytest.mark.one_pass("terminal and client side: the daemon's part is in the API tests")

FRIEND_PASSWORD = "a long friend phrase"


def fresh_home(tmp_path: Path) -> dict[str, str]:
    """A friend's environment: a HOME of their own, nothing of VideoNet's saved anywhere."""
    home = tmp_path / "friend-home"
    home.mkdir()
    env = {k: v for k, v in base_env().items() if not k.startswith("XDG_")}
    env["HOME"] = str(home)
    return env


def invite_line(cli: Cli, room: str) -> str:
    r = cli("invite", "--room", room)
    assert r.code == 0, r.err
    line = r.out.strip()
    assert line.count("\n") == 0 and line.startswith("videonet join "), r.out
    return line


def join_on_terminal(env: dict[str, str], line: str, name: str) -> Any:
    """The friend pastes the line and answers: email, username, the new password twice."""
    child = spawn(env, *shlex.split(line)[1:])
    child.expect("Email: ")
    child.sendline(f"{name}@example.test")
    child.expect("Username: ")
    child.sendline(name)
    child.expect("Password: ")
    child.sendline(FRIEND_PASSWORD)
    child.expect("Repeat for confirmation: ")
    child.sendline(FRIEND_PASSWORD)
    return child


def receive_on_terminal(env: dict[str, str], room: str, out: Path) -> int:
    child = spawn(env, "receive", room, "--out", str(out))
    child.expect(r"Accept\? \[y/N\]")
    child.sendline("y")
    return finish(child)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_friend_with_only_the_invite_line_receives_a_file_in_two_commands(
    daemon: Daemon, user: User, cli: Cli, tmp_path: Path
) -> None:
    assert cli("rooms", "create", "studio-first", "--json").code == 0
    line = invite_line(cli, "studio-first")
    env = fresh_home(tmp_path)
    commands = 0

    child = join_on_terminal(env, line, "fay")
    commands += 1
    child.expect("joined the room studio-first")
    assert finish(child) == 0
    # The server is saved: the next command needs no --server.
    assert (Path(env["HOME"]) / ".config" / "videonet" / "config.json").exists()

    clip = tmp_path / "cut.txt"
    clip.write_text("the first cut\n")
    r = cli("send", "studio-first", str(clip), "--no-wait", "--no-progress")
    assert r.code == 0, r.err

    out = tmp_path / "got"
    out.mkdir()
    assert receive_on_terminal(env, "studio-first", out) == 0
    commands += 1
    assert sha(out / "cut.txt") == sha(clip)
    print(f"friend's commands from the invite line to the file: {commands}")
    assert commands <= 3


def test_send_to_a_person_and_receive_from_them(
    daemon: Daemon, user: User, cli: Cli, tmp_path: Path
) -> None:
    """`send @gus` makes the direct room of the two; `receive @ana-name` finds the same one."""
    assert cli("rooms", "create", "studio-direct").code == 0
    env = fresh_home(tmp_path)
    child = join_on_terminal(env, invite_line(cli, "studio-direct"), "gus")
    assert finish(child) == 0

    clip = tmp_path / "note.txt"
    clip.write_text("for gus only\n")
    r = cli("send", "@gus", str(clip), "--no-wait", "--no-progress")
    assert r.code == 0, r.err
    out = tmp_path / "got"
    out.mkdir()
    assert receive_on_terminal(env, f"@{user.username}", out) == 0
    assert sha(out / "note.txt") == sha(clip)

    r = cli("rooms", "list", "--mine", "--json")
    direct = [room for room in r.json() if room["name"].startswith("@")]
    assert len(direct) == 1 and direct[0]["participant_count"] == 2 and direct[0]["private"]


def _join(who: Cli, link: str, name: str, *extra: str) -> Any:
    """`videonet join LINK` as a new user NAME, the password on standard input."""
    return who(
        "join",
        link,
        "--email",
        f"{name}@example.test",
        "--username",
        name,
        "--password-stdin",
        *extra,
        input=FRIEND_PASSWORD + "\n",
    )


def _one_line(r: Any) -> None:
    assert r.err.count("\n") == 1 and r.err.startswith("Error: "), r.err
    assert "Traceback" not in r.err


def test_bad_links_are_one_line_with_their_exit_code(
    daemon: Daemon, user: User, cli: Cli, tmp_path: Path
) -> None:
    friend = Cli(daemon.url, tmp_path / "friend")
    for link, code in (
        ("not-a-link", 2),
        (daemon.url + "/#nothing=here", 2),
        (daemon.url + "/somewhere#join=ABCD", 2),
        ("http://127.0.0.1:1/#join=ABCD-EFGH-JKMN-PQRS", 5),  # nothing listens there
        ("http://example.org/#join=ABCD-EFGH-JKMN-PQRS", 2),  # plain http off this machine
        (daemon.url + "/#join=ABCD-EFGH-JKMN-PQRS", 1),  # no such invite
    ):
        r = _join(friend, link, "x")
        assert r.code == code, (link, r.err)
        _one_line(r)

    assert cli("rooms", "create", "studio-used").code == 0
    link = invite_line(cli, "studio-used").split(" ", 2)[2]
    r = _join(Cli(daemon.url, tmp_path / "first"), link, "hal", "--json")
    assert r.code == 0, r.err
    assert r.json()["room"]["name"] == "studio-used" and r.json()["registered"] is True
    second = Cli(daemon.url, tmp_path / "second")
    r = _join(second, link, "ida")
    assert r.code == 1 and "used up" in r.err, r.err
    _one_line(r)
    assert second("whoami").code == 3  # nothing saved by the refused join

    expired = daemon.mint_invite(expires="1s")
    time.sleep(1.2)
    late = Cli(daemon.url, tmp_path / "late")
    r = _join(late, f"{daemon.url}/#join={expired}", "jo")
    assert r.code == 1 and "expired" in r.err, r.err
    _one_line(r)
    assert late("whoami").code == 3  # nothing saved by the refused join


def test_direct_room_find_or_create_is_one_room_under_a_race(
    daemon: Daemon, user: User, tmp_path: Path
) -> None:
    other = daemon.make_user(tmp_path)
    third = daemon.make_user(tmp_path)

    def direct(token: str, name: str) -> tuple[int, Any]:
        status, body, _ = http("POST", daemon.api("/api/rooms/direct"), {"username": name}, token)
        return status, body

    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda i: direct(
                    *((user.token, other.username) if i % 2 else (other.token, user.username))
                ),
                range(8),
            )
        )
    assert all(status in (200, 201) for status, _ in answers), answers
    assert len({body["id"] for _, body in answers}) == 1
    assert sum(status == 201 for status, _ in answers) == 1
    room_id = answers[0][1]["id"]
    # Only ever the two: no third member by invite, join, or an invite link into it.
    status, body, _ = http(
        "POST",
        daemon.api(f"/api/rooms/{room_id}/invite"),
        {"username": third.username},
        user.token,
    )
    assert status == 403, body
    status, body, _ = http("POST", daemon.api(f"/api/rooms/{room_id}/join"), {}, third.token)
    assert status == 404, body
    status, body, _ = http("POST", daemon.api("/api/invites"), {"room_id": room_id}, user.token)
    assert status == 403, body
    status, body, _ = http(
        "POST", daemon.api("/api/rooms/direct"), {"username": user.username}, user.token
    )
    assert status == 400, body
    status, body, _ = http("POST", daemon.api("/api/rooms/create"), {"name": "@ana @x"}, user.token)
    assert status == 400 and "direct rooms" in body["error"]["message"], body
