"""A request body declared once: `protocol.LoginRequest` (a TypedDict whose text fields carry
their rules, ``Annotated[str, protocol.Text(...)]``) is where POST /api/auth/login's OpenAPI
body, the daemon's input check and the CLI's request body all come from. Changing the type
changes the three; a variant type with other rules shows it without editing the contract.
"""

from __future__ import annotations

import asyncio
import typing
from typing import Annotated, Any, TypedDict

import pytest

from videonet_cli.api.client import AuthApi
from videonet_daemon.errors import ValidationError
from videonet_daemon.openapi import schema_of
from videonet_daemon.validation import body_fields, get_body
from videonet_protocol import protocol

from conftest import Daemon, http

FIELDS = body_fields(protocol.LoginRequest)


def test_the_openapi_body_is_the_type(daemon: Daemon) -> None:
    status, document, _ = http("GET", daemon.api(protocol.API_OPENAPI))
    assert status == 200
    operation = document["paths"][protocol.API_LOGIN]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == schema_of(protocol.LoginRequest)
    for name, rules in FIELDS:
        assert body["properties"][name]["maxLength"] == rules.max_chars
    assert body["required"] == sorted(name for name, _ in FIELDS)


@pytest.mark.parametrize(("field", "rules"), FIELDS, ids=[name for name, _ in FIELDS])
def test_the_daemon_checks_what_the_type_declares(
    daemon: Daemon, field: str, rules: protocol.Text
) -> None:
    good = {"email": "nobody@example.test", "password": "not the password"}
    status, body, _ = http("POST", daemon.api(protocol.API_LOGIN), {**good, field: None})
    assert (status, body["error"]["message"]) == (400, f"{field} is required")
    too_long = {**good, field: "x" * (rules.max_chars + 1)}
    status, body, _ = http("POST", daemon.api(protocol.API_LOGIN), too_long)
    expected = f"{field} must be at most {rules.max_chars} characters"
    assert (status, body["error"]["message"]) == (400, expected)


class Recorder:
    """The CLI's HTTP client, as AuthApi uses it: what it would send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def post(self, path: str, json_body: Any = None) -> Any:
        self.sent.append((path, json_body))
        return {}


def test_the_client_sends_the_type() -> None:
    recorder = Recorder()
    asyncio.run(AuthApi(recorder).login("ada@example.test", "secret words"))  # type: ignore[arg-type]
    [(path, body)] = recorder.sent
    assert path == protocol.API_LOGIN
    assert set(body) == set(typing.get_type_hints(protocol.LoginRequest))
    # what the client sends passes the daemon's check as it is
    assert get_body(body, protocol.LoginRequest) == body


class ShorterEmails(TypedDict):
    """LoginRequest with one rule changed, as an edit of protocol.py would change it."""

    email: Annotated[str, protocol.Text(12)]
    password: Annotated[str, protocol.Text(protocol.PASSWORD_FIELD_MAX_CHARS, strip=False)]


def test_one_change_to_the_type_changes_the_document_and_the_check() -> None:
    assert schema_of(ShorterEmails)["properties"]["email"]["maxLength"] == 12
    assert schema_of(protocol.LoginRequest)["properties"]["email"]["maxLength"] == (
        protocol.EMAIL_MAX_CHARS
    )
    body = {"email": "ada@example.test", "password": "secret words"}  # 16 characters
    assert get_body(body, protocol.LoginRequest) == body
    with pytest.raises(ValidationError, match="email must be at most 12 characters"):
        get_body(body, ShorterEmails)


def test_a_body_field_without_rules_is_refused_when_declared() -> None:
    class Loose(TypedDict):
        email: str

    with pytest.raises(TypeError, match=r"Loose.email: declare it Annotated\[str, Text"):
        body_fields(Loose)
