"""The OpenAPI description equals the routes, and schemathesis finds no 500 and no response off
its schema when it throws generated requests (valid and not) at a real daemon.

The examples per operation are bounded (SCHEMATHESIS_EXAMPLES) so this runs in well under two
minutes; raise it locally to search harder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from videonet_daemon.app import build
from videonet_daemon.openapi import document
from videonet_daemon.settings import Settings
from videonet_protocol import protocol

from conftest import TEST_PASSWORD, Daemon, User, http

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Every HTTP route is described, the web client's page and files included (they answer errors in
# the same JSON shape, and are fuzzed with the rest); only Socket.IO's transport is not: its
# contract is the events in protocol.py.
NOT_DESCRIBED = {"/" + protocol.SOCKET_PATH + "/"}

schema = schemathesis.openapi.from_dict(document())


def test_the_description_equals_the_routes() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        app = build(Settings(data_dir=Path(data_dir))).app
        every = {
            (r.method.lower(), r.resource.canonical)
            for r in app.router.routes()
            if r.resource is not None and r.method not in ("HEAD", "OPTIONS")
        }
    routes = {(method, path) for method, path in every if path not in NOT_DESCRIBED}
    assert {path for _, path in every} - {path for _, path in routes} == NOT_DESCRIBED
    described = {(method, path) for path, item in document()["paths"].items() for method in item}
    assert described == routes
    assert ("get", protocol.WEB_INDEX) in described and ("get", protocol.WEB_STATIC) in described


def test_the_description_is_served(daemon: Daemon) -> None:
    status, body, _ = http("GET", daemon.api(protocol.API_OPENAPI))
    assert status == 200 and body == document()
    assert body["openapi"].startswith("3.1")


@pytest.fixture(scope="module")
def fuzz_user(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    user = daemon.make_user(tmp_path_factory.mktemp("fuzz"))
    status, _, _ = http("POST", daemon.api(protocol.API_ROOM_CREATE), {"name": "fuzzed"},
                        token=user.token)  # fmt: skip
    assert status == 201
    yield user


def _token_for(daemon: Daemon, user: User, case: Any) -> str:
    if case.path != protocol.API_LOGOUT:
        return user.token
    # Logging out ends a session: give it one of its own, not the one the other cases use.
    _, body, _ = http(
        "POST", daemon.api(protocol.API_LOGIN), {"email": user.email, "password": TEST_PASSWORD}
    )
    return str(body["token"])


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_500_and_every_answer_matches_the_description(
    case: Any, daemon: Daemon, fuzz_user: User
) -> None:
    headers = {"Authorization": f"Bearer {_token_for(daemon, fuzz_user, case)}"}
    case.call_and_validate(base_url=daemon.url, headers=headers, checks=CHECKS, timeout=30)
