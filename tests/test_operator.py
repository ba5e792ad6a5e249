"""`videonet-daemon invite list|revoke` and `users list|disable|enable|reset-password`, against
the configured database while the daemon runs; the bootstrap invite survives a failed start."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

from conftest import BIN, TEST_PASSWORD, Cli, Daemon, daemon_command, http


def admin(daemon: Daemon, *args: str) -> Any:
    return daemon_command(*args, data_dir=daemon.data_dir)


def test_a_failed_first_start_does_not_lose_the_bootstrap_invite(
    tmp_path: Path, daemon_factory: Any
) -> None:
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        r = daemon_command("serve", "--host", "127.0.0.1", "--port", port, data_dir=data)
    assert r.returncode == 1 and "cannot listen" in r.stderr
    listed = daemon_command("invite", "list", "--json", data_dir=data)
    assert listed.returncode == 0, listed.stderr
    invites = json.loads(listed.stdout)
    assert [(i["created_by"], i["usable"]) for i in invites] == [("operator", True)]
    code = invites[0]["code"]
    d = daemon_factory(data_dir=data)  # the second start shows the same, still unused, code
    assert any(code in line for line in d.stdout_lines if "bootstrap invite" in line)
    assert d.bootstrap_invite() == code


def test_revoked_invite_cannot_be_used(daemon: Daemon) -> None:
    code = daemon.mint_invite(uses=3)
    r = admin(daemon, "invite", "revoke", code)
    assert r.returncode == 0 and f"revoked {code}" in r.stdout
    listed = json.loads(admin(daemon, "invite", "list", "--json").stdout)
    assert next(i for i in listed if i["code"] == code)["usable"] is False
    body = {"email": "late@example.test", "username": "late", "password": TEST_PASSWORD}
    status, reply, _ = http("POST", daemon.api("/api/auth/register"), {**body, "invite_code": code})
    assert status == 400 and reply["error"]["code"] == "invalid_invite"
    r = admin(daemon, "invite", "revoke", "AAAA-BBBB-CCCC-DDDD")
    assert r.returncode == 4 and r.stderr.strip() == "Error: no invite AAAA-BBBB-CCCC-DDDD"


def test_disable_ends_sessions_and_refuses_login_until_enabled(
    daemon: Daemon, tmp_path: Path
) -> None:
    user = daemon.make_user(tmp_path)
    assert http("GET", daemon.api("/api/auth/me"), token=user.token)[0] == 200
    listed = json.loads(admin(daemon, "users", "list", "--json").stdout)
    row = next(u for u in listed if u["id"] == user.user_id)
    assert row["disabled"] is False and row["sessions"] >= 1

    r = admin(daemon, "users", "disable", user.email)
    assert r.returncode == 0 and "their sessions have ended" in r.stdout
    assert http("GET", daemon.api("/api/auth/me"), token=user.token)[0] == 401
    login = {"email": user.email, "password": TEST_PASSWORD}
    status, reply, _ = http("POST", daemon.api("/api/auth/login"), login)
    assert status == 403 and "disabled" in reply["error"]["message"]
    cli = Cli(daemon.url, user.config_dir)
    r = cli("login", "--email", user.email, "--password-stdin", input=TEST_PASSWORD + "\n")
    assert r.code == 3
    assert r.err.strip() == "Error: this account is disabled: ask the operator of this daemon"

    assert admin(daemon, "users", "enable", str(user.user_id)).returncode == 0
    assert http("POST", daemon.api("/api/auth/login"), login)[0] == 200


def test_reset_password_prints_a_temporary_one(daemon: Daemon, tmp_path: Path) -> None:
    user = daemon.make_user(tmp_path)
    r = admin(daemon, "users", "reset-password", user.email)
    assert r.returncode == 0, r.stderr
    temporary = r.stdout.strip().rsplit(": ", 1)[1]
    assert http("GET", daemon.api("/api/auth/me"), token=user.token)[0] == 401
    old = {"email": user.email, "password": TEST_PASSWORD}
    assert http("POST", daemon.api("/api/auth/login"), old)[0] == 401
    new = {"email": user.email, "password": temporary}
    assert http("POST", daemon.api("/api/auth/login"), new)[0] == 200


def test_unknown_user_is_one_line_exit_4(daemon: Daemon) -> None:
    r = admin(daemon, "users", "disable", "nobody-like-this")
    assert r.returncode == 4
    assert r.stderr.strip() == "Error: no user nobody-like-this"


def test_a_disabled_users_live_connection_ends(daemon: Daemon, tmp_path: Path) -> None:
    user = daemon.make_user(tmp_path)
    status, room, _ = http("POST", daemon.api("/api/rooms/create"), {"name": "op-" + user.username},
                           token=user.token)  # fmt: skip
    assert status == 201
    cli = Cli(daemon.url, user.config_dir, user.token)
    follower = subprocess.Popen(
        [str(BIN / "videonet"), "chat", room["id"], "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env(VIDEONET_DATA_DIR=str(tmp_path / "data")),
    )
    try:
        assert follower.stdout is not None
        assert '"online"' in follower.stdout.readline()  # connected and in the room
        assert admin(daemon, "users", "disable", user.username).returncode == 0
        # The daemon drops the socket; reconnecting is refused (the session is gone).
        assert follower.wait(timeout=30) == 3
        assert follower.stderr is not None
        assert "log in again" in follower.stderr.read()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
