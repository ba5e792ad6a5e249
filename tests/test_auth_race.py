"""Throttles hold for concurrent attempts: a burst of guesses never gets past the limit.

The attempt is reserved in the database before the password check, so this holds on SQLite and
PostgreSQL (the PostgreSQL run of the suite) and across two daemons on one PostgreSQL.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import POSTGRES, Daemon, http, postgres_admin, start_daemon

pytestmark = pytest.mark.one_pass("uses PostgreSQL itself in every pass")

LIMIT = 5


def burst(urls: list[str], body: dict[str, Any], count: int) -> list[int]:
    """`count` logins at once, spread over the daemons' URLs; their statuses."""
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        futures = [
            pool.submit(lambda i: http("POST", urls[i % len(urls)], body)[0], i)
            for i in range(count)
        ]
        return [f.result() for f in futures]


def test_concurrent_wrong_passwords_never_exceed_the_limit(
    daemon_factory: Any, tmp_path: Path
) -> None:
    # A real bcrypt cost widens the window between the check and the result, as in production.
    d = daemon_factory(VIDEONET_LOGIN_FAILURES_MAX=str(LIMIT), VIDEONET_BCRYPT_ROUNDS="10")
    u = d.make_user(tmp_path)
    statuses = burst([d.api("/api/auth/login")], {"email": u.email, "password": "wrong!!!"}, 25)
    assert statuses.count(401) <= LIMIT, statuses
    assert statuses.count(429) >= 25 - LIMIT, statuses
    assert set(statuses) <= {401, 429}, statuses
    # The right password is refused too until the window passes: the account is locked.
    status, _, _ = http(
        "POST", d.api("/api/auth/login"), {"email": u.email, "password": u.password}
    )
    assert status == 429


def test_a_burst_across_two_daemons_on_one_postgresql(tmp_path: Path) -> None:
    try:
        postgres_admin("SELECT 1")
    except Exception as exc:
        print(f"skipped: no PostgreSQL at {POSTGRES}: {exc}")
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {exc}")
    name = f"vn_race_{uuid.uuid4().hex[:12]}"
    postgres_admin(f"CREATE DATABASE {name}")
    env = {
        "VIDEONET_JWT_SECRET": uuid.uuid4().hex * 2,
        "VIDEONET_LOGIN_FAILURES_MAX": str(LIMIT),
        "VIDEONET_BCRYPT_ROUNDS": "10",
    }
    args = ("--database-url", f"{POSTGRES}/{name}")
    daemons: list[Daemon] = []
    try:
        daemons.append(start_daemon(tmp_path / "a", *args, **env))
        daemons.append(start_daemon(tmp_path / "b", *args, **env))
        u = daemons[0].make_user(tmp_path)
        urls = [d.api("/api/auth/login") for d in daemons]
        statuses = burst(urls, {"email": u.email, "password": "wrong!!!"}, 30)
        assert statuses.count(401) <= LIMIT, statuses
        assert statuses.count(429) >= 30 - LIMIT, statuses
    finally:
        for d in daemons:
            d.stop()
        postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
