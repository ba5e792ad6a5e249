"""Reading and checking request bodies: every bad field becomes a ValidationError (400).

Every JSON value that comes in (an HTTP body, a Socket.IO payload) passes `check_value` once, at
the boundary: no deeper than `protocol.JSON_MAX_DEPTH`, and no lone surrogate in any string (a
Python str may hold one; no database encoding can store it). Text fields then go through
`get_str`, the one place their rules live; a body declared as a type in the contract
(`protocol.LoginRequest`: `Annotated[str, protocol.Text(...)]` fields) is checked by `get_body`,
field by field with the rules the type declares.
"""

from __future__ import annotations

import functools
import json
import typing
import unicodedata
from typing import Any, TypeVar

from aiohttp import web

from videonet_daemon.errors import (
    InvalidJson,
    InvalidText,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationError,
)
from videonet_daemon.i18n import N_
from videonet_protocol import protocol


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (400 if it is not one, 413 if it is too large, 415 if
    it is not sent as JSON: an HTML form on another site can post text/plain or form-encoded
    bodies without a CORS preflight, never application/json)."""
    if request.body_exists and not is_json_type(request.content_type):
        raise UnsupportedMediaType()
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge() from exc
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidJson() from exc
    if not isinstance(data, dict):
        raise InvalidJson()
    check_value(data)
    return data


def is_json_type(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def check_value(value: Any) -> None:
    """Refuse a decoded JSON value nested too deeply or holding a lone surrogate (400)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _is_encodable(item):
                bad = next(ord(ch) for ch in item if 0xD800 <= ord(ch) <= 0xDFFF)
                raise InvalidText(
                    N_("text must be valid Unicode: a lone surrogate U+{bad}"),
                    bad=format(bad, "04X"),
                )
        elif isinstance(item, dict | list):
            if depth >= protocol.JSON_MAX_DEPTH:
                raise InvalidJson(
                    N_("JSON nested deeper than {json_max_depth} levels"),
                    json_max_depth=protocol.JSON_MAX_DEPTH,
                )
            if isinstance(item, dict):
                stack.extend((k, depth + 1) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def _is_encodable(text: str) -> bool:
    # Surrogates are the only code points UTF-8 cannot encode; the test is C-speed.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_control_chars(value: str) -> bool:
    # Cs: a lone surrogate, for text that did not come through check_value.
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value)


def get_str(
    body: dict[str, Any],
    name: str,
    *,
    max_chars: int,
    min_chars: int = 1,
    default: str | None = None,
    strip: bool = True,
    allow_newlines: bool = False,
) -> str:
    value = body.get(name, default)
    if value is None:
        raise ValidationError(N_("{name} is required"), name=name)
    if not isinstance(value, str):
        raise ValidationError(N_("{name} must be a string"), name=name)
    if strip:
        value = value.strip()
    if len(value) < min_chars:
        if min_chars == 1:
            raise ValidationError(N_("{name} is required"), name=name)
        raise ValidationError(
            N_("{name} needs at least {min_chars} chars"), name=name, min_chars=min_chars
        )
    if len(value) > max_chars:
        raise ValidationError(
            N_("{name} must be at most {max_chars} characters"), name=name, max_chars=max_chars
        )
    checked = value.replace("\n", "").replace("\t", "") if allow_newlines else value
    if has_control_chars(checked):
        raise ValidationError(N_("{name} must not contain control characters"), name=name)
    return value


Body = TypeVar("Body")


@functools.cache
def body_fields(body_type: Any) -> tuple[tuple[str, protocol.Text], ...]:
    """A contract body type's fields and their declared rules, in declaration order."""
    found = []
    for name, hint in typing.get_type_hints(body_type, include_extras=True).items():
        rules = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, protocol.Text)]
        if typing.get_origin(hint) is not typing.Annotated or len(rules) != 1:
            raise TypeError(f"{body_type.__name__}.{name}: declare it Annotated[str, Text(...)]")
        found.append((name, rules[0]))
    return tuple(found)


def get_body(body: dict[str, Any], body_type: type[Body]) -> Body:
    """The fields `body_type` declares, each checked by its declared rules (400 naming the
    first field that breaks them); fields it does not declare are left out."""
    checked = {
        name: get_str(
            body,
            name,
            max_chars=rules.max_chars,
            min_chars=rules.min_chars,
            strip=rules.strip,
            allow_newlines=rules.allow_newlines,
        )
        for name, rules in body_fields(typing.cast(Any, body_type))
    }
    return typing.cast(Body, checked)


def get_int(
    body: dict[str, Any], name: str, *, default: int | None, minimum: int, maximum: int
) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(N_("{name} must be an integer"), name=name)
    if not minimum <= value <= maximum:
        raise ValidationError(
            N_("{name} must be between {minimum} and {maximum}"),
            name=name,
            minimum=minimum,
            maximum=maximum,
        )
    return value


_HEX = frozenset("0123456789abcdef")


def get_exchange_id(data: dict[str, Any]) -> str:
    """The ``exchange`` of a one-off code or device-link message: a fixed-length lowercase hex id
    the client picked (both relays pass messages on only within one exchange)."""
    value = data.get("exchange")
    if (
        not isinstance(value, str)
        or len(value) != protocol.CODE_EXCHANGE_ID_CHARS
        or not _HEX.issuperset(value)
    ):
        raise ValidationError(
            N_("exchange must be {code_exchange_id_chars} lowercase hex characters"),
            code_exchange_id_chars=protocol.CODE_EXCHANGE_ID_CHARS,
        )
    return value
