"""The daemon process: secrets on disk, bootstrap invite, offline invites, SIGTERM, settings."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_PASSWORD, daemon_command, http


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.sqlite_only
def test_first_start_makes_private_files_and_one_bootstrap_invite(daemon_factory: Any) -> None:
    d = daemon_factory()
    code = d.bootstrap_invite()
    printed = [line for line in d.stdout_lines if "bootstrap invite" in line]
    assert len(printed) == 1 and code in printed[0]
    for name in ("jwt-secret", "bootstrap-invite", "videonet.db"):
        assert mode(d.data_dir / name) == 0o600, name
    assert mode(d.data_dir) == 0o700

    body = {"email": "first@example.test", "username": "first", "password": TEST_PASSWORD}
    status, _, _ = http("POST", d.api("/api/auth/register"), {**body, "invite_code": code})
    assert status == 201
    # Single use, and its file goes once spent (it stayed behind, a code that no longer works).
    assert not (d.data_dir / "bootstrap-invite").exists()
    body2 = {**body, "email": "second@example.test", "invite_code": code}
    assert http("POST", d.api("/api/auth/register"), body2)[0] == 400

    # A restart keeps the key (old tokens stay valid) and makes no new bootstrap invite.
    status, login, _ = http(
        "POST", d.api("/api/auth/login"), {"email": body["email"], "password": TEST_PASSWORD}
    )
    assert status == 200
    key_before = (d.data_dir / "jwt-secret").read_text()
    assert d.stop() == 0  # SIGTERM is a clean exit
    d2 = daemon_factory(data_dir=d.data_dir)
    assert not any("bootstrap invite" in line for line in d2.stdout_lines)
    assert (d.data_dir / "jwt-secret").read_text() == key_before
    assert http("GET", d2.api("/api/auth/me"), token=login["token"])[0] == 200


def test_jwt_secret_from_environment(daemon_factory: Any) -> None:
    d = daemon_factory(VIDEONET_JWT_SECRET=secrets.token_urlsafe(48))
    assert not (d.data_dir / "jwt-secret").exists()


def test_bad_settings_fail_fast(tmp_path: Path) -> None:
    for env in ({"VIDEONET_JWT_SECRET": "short"}, {"VIDEONET_BCRYPT_ROUNDS": "99"}):
        r = daemon_command("serve", "--port", "0", data_dir=tmp_path, timeout=30, **env)
        assert r.returncode == 2
        assert r.stderr.startswith("Error: ")


def test_offline_invite_create(tmp_path: Path) -> None:
    r = daemon_command(
        "invite", "create", "--uses", "3", "--expires", "7d", data_dir=tmp_path,
        PYTHONPROFILEIMPORTTIME="1",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip()) == 19
    # An offline command answers no HTTP: the web side (aiohttp, a fifth of its start) is not
    # imported for it.
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in r.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "videonet_daemon.invites" in imported
    assert "aiohttp" not in imported
    r = daemon_command("invite", "create", "--expires", "later", data_dir=tmp_path)
    assert r.returncode == 2


def test_check_command(tmp_path: Path) -> None:
    r = daemon_command("check", data_dir=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("ok")


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("change-me-to-48-random-bytes-in-base64-change-me-now", "looks like a placeholder"),
        ("s" * 40, "too little variety"),
        ("abcd" * 10, "too little variety"),
        ("short", "at least 32 bytes"),
    ],
)
def test_a_guessable_jwt_secret_is_refused_at_start(tmp_path: Path, secret: str, says: str) -> None:
    r = daemon_command("serve", "--port", "0", data_dir=tmp_path, timeout=30,
                       VIDEONET_JWT_SECRET=secret)  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: VIDEONET_JWT_SECRET")
    assert says in r.stderr


def test_the_example_env_files_secret_is_refused(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "docs/deploy/videonet.env.example"
    line = next(x for x in example.read_text().splitlines() if x.startswith("VIDEONET_JWT_SECRET="))
    secret = line.split("=", 1)[1]
    r = daemon_command("serve", "--port", "0", data_dir=tmp_path, timeout=30,
                       VIDEONET_JWT_SECRET=secret)  # fmt: skip
    assert r.returncode == 2 and "placeholder" in r.stderr
