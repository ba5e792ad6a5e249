"""`videonet chat` end to end: real CLI processes against the real daemon.

Long-running chats are driven through pipes: each stdin line is a message, `--json` prints one
JSON object per line (type "online" once joined, "message", "presence", "who", "status").
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chatkit import Accounts, create_room, history
from videonet_protocol import protocol

from conftest import BIN, Cli, Daemon, User, start_daemon

pytestmark = pytest.mark.one_pass("terminal and client side: API tests cover the daemon")

WAIT = 20.0


@pytest.fixture(scope="module")
def accounts(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Accounts:
    return Accounts(daemon, tmp_path_factory.mktemp("chat-cli-accounts"))


class ChatProcess:
    """`videonet chat ...` running in the background, its stdout lines read by a thread."""

    def __init__(self, url: str, user: User, data_dir: Path, *args: str) -> None:
        env = Cli(url, user.config_dir, user.token).env(VIDEONET_DATA_DIR=str(data_dir))
        self.proc = subprocess.Popen(
            [str(BIN / "videonet"), "chat", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The next JSON line of this type with these fields (earlier other lines are skipped)."""
        while True:
            line = self.lines.get(timeout=WAIT)
            assert line is not None, f"chat exited: {self.stderr()}"
            event = json.loads(line)
            if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                return dict(event)

    def say(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=WAIT)

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=WAIT)


def room_name(daemon: Daemon, user: User, room_id: str) -> str:
    _status, body, _ = _get(daemon, user, protocol.API_ROOM.format(room_id=room_id))
    return str(body["name"])


def _get(daemon: Daemon, user: User, path: str) -> Any:
    from conftest import http

    return http("GET", daemon.api(path), token=user.token)


def test_send_exit_codes(
    daemon: Daemon, accounts: Accounts, cli: Cli, user: User, anon_cli: Cli
) -> None:
    room = create_room(daemon, user)
    name = room_name(daemon, user, room)
    result = cli("chat", name, "--send", "hello from a script", "--json")
    assert result.code == 0, result.err
    message = result.json()
    assert message["text"] == "hello from a script" and message["username"] == user.username
    _, page = history(daemon, user.token, room)
    assert page["messages"] == [message]  # acknowledged means stored

    assert cli("chat", room, "--send", "by id").code == 0
    assert anon_cli("chat", room, "--send", "hi").code == 3
    assert cli("chat", room, "--send", "hi", VIDEONET_TOKEN="not-a-token").code == 3
    result = cli("chat", "no-such-room", "--send", "hi")
    assert result.code == 4 and "no-such-room" in result.err
    stranger = accounts.make()
    result = Cli(daemon.url, stranger.config_dir, stranger.token)("chat", room, "--send", "hi")
    assert result.code == 3 and "rooms join" in result.err
    result = cli("chat", room, "--send", "bad \x1b[31m escape")
    assert result.code == 1 and "control character" in result.err
    assert cli("chat", room, "--send", "x", "--follow").code == 2


def test_two_users_chat_both_ways(daemon: Daemon, accounts: Accounts, tmp_path: Path) -> None:
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    a = ChatProcess(daemon.url, alice, tmp_path / "a", room, "--json")
    b = None
    try:
        a.expect("online")
        b = ChatProcess(daemon.url, bob, tmp_path / "b", room, "--json")
        joined = b.expect("online")
        assert {u["username"] for u in joined["online"]} == {alice.username, bob.username}
        a.expect("presence", username=bob.username, status=protocol.PRESENCE_ONLINE)

        a.say("hello bob")
        got = b.expect("message", username=alice.username)
        assert got["text"] == "hello bob"
        b.say("hi alice")
        b.say("/who")
        got = a.expect("message", username=bob.username)
        assert got["text"] == "hi alice"
        who = b.expect("who")
        assert len(who["online"]) == 2
        b.say("//slash is literal")
        assert a.expect("message", username=bob.username)["text"] == "/slash is literal"

        assert b.finish() == 0
        a.expect("presence", username=bob.username, status=protocol.PRESENCE_OFFLINE)
        a.say("/quit")
        assert a.proc.wait(timeout=WAIT) == 0
    finally:
        a.kill()
        if b is not None:
            b.kill()


def test_killed_client_gets_what_it_missed(
    daemon: Daemon, accounts: Accounts, tmp_path: Path
) -> None:
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    bob_cli = Cli(daemon.url, bob.config_dir, bob.token)
    data = tmp_path / "alice-data"
    follower = ChatProcess(daemon.url, alice, data, room, "--follow", "--json")
    try:
        follower.expect("online")
        first = bob_cli("chat", room, "--send", "before", "--json").json()
        assert follower.expect("message")["id"] == first["id"]
    finally:
        follower.kill()  # SIGKILL: no goodbye, no chance to save anything more
    missed = [bob_cli("chat", room, "--send", f"missed {i}", "--json").json() for i in range(3)]
    follower = ChatProcess(daemon.url, alice, data, room, "--follow", "--json")
    try:
        got = []
        while len(got) < 3:
            message = follower.expect("message")
            if message["id"] != first["id"]:  # at most a repeat of the last one seen
                got.append(message["id"])
        assert got == [m["id"] for m in missed]
        follower.expect("online")
        live = bob_cli("chat", room, "--send", "live", "--json").json()
        assert follower.expect("message")["id"] == live["id"]
        follower.proc.send_signal(signal.SIGTERM)
        assert follower.proc.wait(timeout=WAIT) == 0
    finally:
        follower.kill()


def test_follow_stops_cleanly_on_sigint(daemon: Daemon, user: User, tmp_path: Path) -> None:
    room = create_room(daemon, user)
    follower = ChatProcess(daemon.url, user, tmp_path, room, "--follow", "--json")
    try:
        follower.expect("online")
        follower.proc.send_signal(signal.SIGINT)
        assert follower.proc.wait(timeout=WAIT) == 0
    finally:
        follower.kill()


def test_leaving_the_room_over_http_ends_the_chat(
    daemon: Daemon, accounts: Accounts, tmp_path: Path
) -> None:
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    follower = ChatProcess(daemon.url, bob, tmp_path, room, "--follow", "--json")
    try:
        follower.expect("online")
        result = Cli(daemon.url, bob.config_dir, bob.token)("rooms", "leave", room)
        assert result.code == 0, result.err
        assert follower.proc.wait(timeout=WAIT) == 3
        assert "no longer a member" in follower.stderr()
    finally:
        follower.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_reconnects_after_the_daemon_restarts(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "daemon"
    first = start_daemon(data, "--port", str(port))
    follower = None
    try:
        accounts = Accounts(first, tmp_path)
        alice, bob = accounts.make(), accounts.make()
        room = create_room(first, alice, bob)
        follower = ChatProcess(first.url, alice, tmp_path / "a", room, "--follow", "--json")
        follower.expect("online")
        assert first.stop() == 0
        follower.expect("status", status="reconnecting")
        second = start_daemon(data, "--port", str(port))
        try:
            bob_cli = Cli(second.url, bob.config_dir, bob.token)
            sent = bob_cli("chat", room, "--send", "after the restart", "--json").json()
            assert follower.expect("message")["id"] == sent["id"]
        finally:
            # Gone first: a daemon's shutdown waits ~5 s for a connected client's close.
            follower.kill()
            second.stop()
    finally:
        if follower is not None:
            follower.kill()
        first.stop()


def test_chat_help_mentions_the_keys() -> None:
    out = subprocess.run(
        [str(BIN / "videonet"), "chat", "--help"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 0
    assert "--send" in out.stdout and "--follow" in out.stdout and "/quit" in out.stdout


def test_interactive_terminal(daemon: Daemon, accounts: Accounts, tmp_path: Path) -> None:
    """On a terminal (a pty here): the prompt, a message typed and seen by the other side,
    a message arriving while the prompt is open, /who, and Ctrl-D to leave."""
    import pty
    import select

    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    env = Cli(daemon.url, alice.config_dir, alice.token).env(
        VIDEONET_DATA_DIR=str(tmp_path), TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1"
    )
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [str(BIN / "videonet"), "chat", room],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        start_new_session=True,
    )
    os.close(secondary)
    screen = b""

    def read_until(*needles: bytes) -> None:
        """Wait for the needles to appear, in this order, in output not seen before."""
        nonlocal screen
        start = len(screen)
        deadline = time.monotonic() + WAIT

        def found() -> bool:
            at = start
            for needle in needles:
                at = screen.find(needle, at)
                if at < 0:
                    return False
                at += len(needle)
            return True

        while not found():
            assert time.monotonic() < deadline, f"no {needles!r} in {screen[start:]!r}"
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    screen += os.read(primary, 65536)
                except OSError:  # the child closed the terminal
                    break

    follower = ChatProcess(daemon.url, bob, tmp_path / "bob", room, "--follow", "--json")
    try:
        follower.expect("online")
        prompt = f"{alice.username}>".encode()
        read_until(b"online: ", prompt)
        os.write(primary, b"hello from a terminal\r")
        assert follower.expect("message")["text"] == "hello from a terminal"
        bob_cli = Cli(daemon.url, bob.config_dir, bob.token)
        assert bob_cli("chat", room, "--send", "typed while you type").code == 0
        read_until(b"typed while you type", prompt)
        os.write(primary, b"/who\r")
        # Ctrl-D only once the prompt is back: between prompts the terminal is in cooked mode.
        read_until(b"online: ", prompt)
        os.write(primary, b"\x04")  # Ctrl-D
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)
        follower.kill()


def test_history_shown_on_entry_is_where_the_next_session_catches_up(
    daemon: Daemon, accounts: Accounts, tmp_path: Path
) -> None:
    """A first session that saw only history (no live message) still leaves a cursor."""
    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    bob_cli = Cli(daemon.url, bob.config_dir, bob.token)
    seen = bob_cli("chat", room, "--send", "before you came", "--json").json()
    data = tmp_path / "alice-data"
    first = ChatProcess(daemon.url, alice, data, room, "--json")
    assert first.expect("message")["id"] == seen["id"]
    first.expect("online")
    assert first.finish() == 0  # end of input: leaves without any live traffic
    missed = [bob_cli("chat", room, "--send", f"missed {i}", "--json").json() for i in range(2)]
    second = ChatProcess(daemon.url, alice, data, room, "--json", "--history", "0")
    try:
        got = [second.expect("message")["id"] for _ in missed]
        assert got == [m["id"] for m in missed]
    finally:
        second.kill()


def test_renaming_and_deleting_the_room_reach_the_terminal(
    daemon: Daemon, accounts: Accounts, tmp_path: Path
) -> None:
    """On a real pseudo-terminal: the new name is shown and the chat goes on; a deleted room
    ends the chat with one line and exit code 4. A follower with --json sees the same."""
    from terminal import finish, spawn

    alice, bob = accounts.make(), accounts.make()
    room = create_room(daemon, alice, bob)
    old = room_name(daemon, alice, room)
    new = f"renamed-{old}"
    env = Cli(daemon.url, bob.config_dir, bob.token).env(
        VIDEONET_DATA_DIR=str(tmp_path / "bob"), PROMPT_TOOLKIT_NO_CPR="1"
    )
    child = spawn(env, "chat", room)
    follower = ChatProcess(daemon.url, alice, tmp_path / "alice", room, "--follow", "--json")
    try:
        child.expect(f"{bob.username}>")
        follower.expect("online")
        owner = Cli(daemon.url, alice.config_dir, alice.token)
        assert owner("rooms", "rename", room, new).code == 0
        child.expect(f"the room {old} is now called {new}")
        renamed = follower.expect("renamed")
        assert renamed == {"type": "renamed", "room_id": room, "old_name": old, "name": new}
        child.sendline("still here")
        assert follower.expect("message")["text"] == "still here"

        result = owner("rooms", "delete", room, "--yes")
        assert result.code == 0, result.err
        child.expect(f"Error: .*the room {new} was deleted by its creator")  # bold "Error:"
        assert finish(child) == 4
        assert follower.proc.wait(timeout=WAIT) == 4
        assert follower.stderr().strip() == f"Error: the room {new} was deleted by its creator"
    finally:
        if child.isalive():
            child.terminate(force=True)
        follower.kill()


def test_follow_into_a_closed_pipe_ends_quietly(daemon: Daemon, user: User, tmp_path: Path) -> None:
    """`chat --follow | head -3`: once head has its lines the chat ends by itself with no
    traceback (before, the EPIPE was logged with a traceback inside the socket client's task
    and the chat went on following)."""
    room = create_room(daemon, user)
    cli = Cli(daemon.url, user.config_dir, user.token)
    err = tmp_path / "err"
    pipeline = subprocess.Popen(
        ["sh", "-c", f'"{BIN / "videonet"}" chat {room} --follow 2>"{err}" | head -3'],
        stdout=subprocess.PIPE,
        text=True,
        env=cli.env(VIDEONET_DATA_DIR=str(tmp_path / "data")),
    )
    try:
        # head prints only when it exits; messages go on until the whole pipeline has ended.
        for n in range(30):
            if pipeline.poll() is not None:
                break
            assert cli("chat", room, "--send", f"line {n}").code == 0
            time.sleep(0.3)
        assert pipeline.stdout is not None
        shown = pipeline.stdout.read().splitlines()
        assert pipeline.wait(timeout=WAIT) == 0
    finally:
        if pipeline.poll() is None:
            pipeline.kill()
    assert len(shown) == 3 and "following" in shown[0] and "line" in shown[2], shown
    assert err.read_text().strip() == "", err.read_text()


def test_send_is_one_message_and_no_presence(
    daemon: Daemon, accounts: Accounts, tmp_path: Path
) -> None:
    """`chat --send` reaches a follower as one message, with no "ben is online / went away"
    around it (it opened a socket and joined the room for each message before)."""
    alice, ben = accounts.make(), accounts.make()
    room = create_room(daemon, alice, ben)
    follower = ChatProcess(daemon.url, alice, tmp_path / "a", room, "--follow", "--json")
    try:
        follower.expect("online")
        sent = Cli(daemon.url, ben.config_dir, ben.token)("chat", room, "--send", "one", "--json")
        assert sent.code == 0, sent.err
        assert sent.json()["text"] == "one"
        got = follower.expect("message", username=ben.username)
        assert got["text"] == "one" and got["id"] == sent.json()["id"]
        follower.proc.send_signal(signal.SIGTERM)
        assert follower.proc.wait(timeout=WAIT) == 0
        rest = [json.loads(line) for line in iter(follower.lines.get, None)]
        assert [e for e in rest if e["type"] == "presence"] == [], rest
    finally:
        follower.kill()


def test_send_refusals_over_http(daemon: Daemon, accounts: Accounts) -> None:
    """The one-off send keeps the socket path's rules: members only, text checked."""
    alice, stranger = accounts.make(), accounts.make()
    room = create_room(daemon, alice)
    outsider = Cli(daemon.url, stranger.config_dir, stranger.token)
    assert outsider("chat", room, "--send", "hi").code in (3, 4)
    too_long = Cli(daemon.url, alice.config_dir, alice.token)(
        "chat", room, "--send", "x" * (protocol.CHAT_MAX_CHARS + 1)
    )
    assert too_long.code == 1 and "at most" in too_long.err, too_long.err
