"""Accounts over HTTP: registration, invites, login, tokens, throttling, and their bad inputs."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest

from conftest import TEST_PASSWORD, Daemon, User, http


def register(daemon: Daemon, invite: str, **fields: Any) -> tuple[int, Any]:
    name = uuid.uuid4().hex[:10]
    body = {
        "email": f"{name}@example.test",
        "username": name,
        "password": TEST_PASSWORD,
        "invite_code": invite,
    }
    body.update(fields)
    status, payload, _ = http("POST", daemon.api("/api/auth/register"), body)
    return status, payload


def error_code(payload: Any) -> str:
    assert set(payload) == {"error"}, payload
    assert set(payload["error"]) == {"code", "message"}, payload
    return str(payload["error"]["code"])


def test_register_returns_user_and_personal_invite(daemon: Daemon) -> None:
    status, body = register(daemon, daemon.mint_invite())
    assert status == 201
    assert body["user"]["email"].endswith("@example.test")
    assert "password" not in str(body) and "hash" not in str(body)
    # The personal invite works for the next person.
    status2, _ = register(daemon, body["invite_code"])
    assert status2 == 201


def test_invite_codes_are_case_and_dash_insensitive(daemon: Daemon) -> None:
    code = daemon.mint_invite()
    status, _ = register(daemon, code.lower().replace("-", " "))
    assert status == 201


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"email": "not-an-email"}, 400, "validation_error"),
        ({"email": "a b@example.test"}, 400, "validation_error"),
        ({"username": ""}, 400, "validation_error"),
        ({"username": "   "}, 400, "validation_error"),
        ({"username": "x" * 65}, 400, "validation_error"),
        ({"username": "bad\x00name"}, 400, "validation_error"),
        ({"password": "short"}, 400, "validation_error"),
        ({"password": "é" * 37}, 400, "validation_error"),  # 74 bytes, 37 characters
        ({"password": "p" * 73}, 400, "validation_error"),
        ({"password": 12345678}, 400, "validation_error"),
        ({"invite_code": "NOPE-NOPE-NOPE-NOPE"}, 400, "invalid_invite"),
        ({"invite_code": ""}, 400, "validation_error"),
    ],
)
def test_register_bad_input(daemon: Daemon, fields: dict[str, Any], status: int, code: str) -> None:
    invite = daemon.mint_invite()
    got, body = register(daemon, invite, **fields)
    assert got == status, body
    assert error_code(body) == code
    # A refused registration does not use up the invite.
    ok, _ = register(daemon, invite)
    assert ok == 201


def test_password_of_exactly_72_bytes_is_accepted(daemon: Daemon) -> None:
    status, body = register(daemon, daemon.mint_invite(), password="p" * 72)
    assert status == 201, body
    login = {"email": body["user"]["email"], "password": "p" * 72}
    status, _, _ = http("POST", daemon.api("/api/auth/login"), login)
    assert status == 200


def test_duplicate_email_is_409_and_keeps_the_invite(daemon: Daemon) -> None:
    status, body = register(daemon, daemon.mint_invite())
    assert status == 201
    invite = daemon.mint_invite()
    status, dup = register(daemon, invite, email=body["user"]["email"].upper())
    assert status == 409 and error_code(dup) == "conflict"
    assert register(daemon, invite)[0] == 201


def test_used_up_invite(daemon: Daemon) -> None:
    invite = daemon.mint_invite(uses=1)
    assert register(daemon, invite)[0] == 201
    status, body = register(daemon, invite)
    assert status == 400 and error_code(body) == "invalid_invite"
    assert "used up" in body["error"]["message"]


def test_expired_invite(daemon: Daemon) -> None:
    invite = daemon.mint_invite(expires="1s")
    time.sleep(1.2)
    status, body = register(daemon, invite)
    assert status == 400 and error_code(body) == "invalid_invite"
    assert "expired" in body["error"]["message"]


def test_single_use_invite_raced_by_20_registrations(daemon: Daemon) -> None:
    invite = daemon.mint_invite(uses=1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: register(daemon, invite)[0], range(20)))
    assert results.count(201) == 1
    assert results.count(400) == 19


def test_wrong_password_and_unknown_email_look_the_same(daemon: Daemon, user: User) -> None:
    wrong = http(
        "POST", daemon.api("/api/auth/login"), {"email": user.email, "password": "wrong-pass"}
    )
    unknown = http(
        "POST",
        daemon.api("/api/auth/login"),
        {"email": "nobody@example.test", "password": "wrong-pass"},
    )
    assert wrong[0] == unknown[0] == 401
    assert wrong[1] == unknown[1]
    assert error_code(wrong[1]) == "invalid_credentials"


def test_login_sets_httponly_lax_cookie_and_cookie_authenticates(
    daemon: Daemon, user: User
) -> None:
    status, body, headers = http(
        "POST", daemon.api("/api/auth/login"), {"email": user.email, "password": user.password}
    )
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("access_token=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    import urllib.request

    req = urllib.request.Request(daemon.api("/api/auth/me"))
    req.add_header("Cookie", f"access_token={body['token']}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def test_me_and_logout_ends_the_session(daemon: Daemon, user: User) -> None:
    status, me, _ = http("GET", daemon.api("/api/auth/me"), token=user.token)
    assert status == 200 and me["username"] == user.username
    assert http("POST", daemon.api("/api/auth/logout"), {}, token=user.token)[0] == 200
    status, body, _ = http("GET", daemon.api("/api/auth/me"), token=user.token)
    assert status == 401 and error_code(body) == "unauthenticated"


def _key(daemon: Daemon) -> str:
    return (daemon.data_dir / "jwt-secret").read_text().strip()


def _claims(user: User, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": str(user.user_id), "iat": now, "exp": now + 600, "jti": "x" * 32}
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize("kind", ["forged", "expired", "alg_none", "no_exp", "garbage", "hs512"])
def test_bad_tokens_are_401(daemon: Daemon, user: User, kind: str) -> None:
    real = jwt.decode(user.token, _key(daemon), algorithms=["HS256"])
    if kind == "forged":
        token = jwt.encode(_claims(user, jti=real["jti"]), "another key" * 4, algorithm="HS256")
    elif kind == "expired":
        past = int(time.time()) - 3600
        token = jwt.encode(
            _claims(user, jti=real["jti"], iat=past - 10, exp=past), _key(daemon), "HS256"
        )
    elif kind == "alg_none":
        token = jwt.encode(_claims(user, jti=real["jti"]), None, algorithm="none")
    elif kind == "no_exp":
        token = jwt.encode(_claims(user, jti=real["jti"], exp=None), _key(daemon), "HS256")
    elif kind == "hs512":
        token = jwt.encode(_claims(user, jti=real["jti"]), _key(daemon), algorithm="HS512")
    else:
        token = "not.a.token"
    status, body, _ = http("GET", daemon.api("/api/auth/me"), token=token)
    assert status == 401, body
    assert error_code(body) == "unauthenticated"


def test_no_token_is_401(daemon: Daemon) -> None:
    status, body, _ = http("GET", daemon.api("/api/rooms"))
    assert status == 401 and error_code(body) == "unauthenticated"


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_non_json_bodies_are_400(daemon: Daemon, raw: bytes) -> None:
    status, body, _ = http("POST", daemon.api("/api/auth/login"), raw=raw)
    assert status == 400 and error_code(body) == "invalid_json"


def test_oversized_body_is_413(daemon: Daemon) -> None:
    raw = b'{"email": "' + b"a" * 200_000 + b'"}'
    status, body, _ = http("POST", daemon.api("/api/auth/register"), raw=raw)
    assert status == 413 and error_code(body) == "payload_too_large"


def test_unknown_path_and_method_use_the_error_shape(daemon: Daemon) -> None:
    status, body, _ = http("GET", daemon.api("/api/nope"))
    assert status == 404 and error_code(body) == "not_found"
    status, body, _ = http("DELETE", daemon.api("/api/rooms"))
    assert status == 405 and error_code(body) == "method_not_allowed"


def test_login_throttled_per_account(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(VIDEONET_LOGIN_FAILURES_MAX="5", VIDEONET_LOGIN_FAILURES_WINDOW="900")
    u = d.make_user(tmp_path)
    bad = {"email": u.email, "password": "wrong-password"}
    statuses = [http("POST", d.api("/api/auth/login"), bad)[0] for _ in range(5)]
    assert statuses == [401] * 5
    status, body, headers = http(
        "POST", d.api("/api/auth/login"), {"email": u.email, "password": u.password}
    )
    assert status == 429 and error_code(body) == "rate_limited"
    assert 0 < int(headers["Retry-After"]) <= 900


def test_login_throttled_per_address(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(VIDEONET_LOGIN_FAILURES_MAX="5")
    u = d.make_user(tmp_path)
    for i in range(5):
        bad = {"email": f"stranger{i}@example.test", "password": "wrong-password"}
        assert http("POST", d.api("/api/auth/login"), bad)[0] == 401
    status, _, headers = http(
        "POST", d.api("/api/auth/login"), {"email": u.email, "password": u.password}
    )
    assert status == 429 and "Retry-After" in headers


def test_invites_api(daemon: Daemon, user: User) -> None:
    status, made, _ = http(
        "POST", daemon.api("/api/invites"), {"uses": 3, "expires_in": 3600}, token=user.token
    )
    assert status == 201 and made["uses_left"] == 3 and made["expires_at"]
    status, mine, _ = http("GET", daemon.api("/api/invites"), token=user.token)
    assert status == 200
    assert made["code"] in {i["code"] for i in mine}
    for bad in ({"uses": 0}, {"uses": "3"}, {"uses": 10**9}, {"expires_in": 5}):
        status, body, _ = http("POST", daemon.api("/api/invites"), bad, token=user.token)
        assert status == 400 and error_code(body) == "validation_error", bad
