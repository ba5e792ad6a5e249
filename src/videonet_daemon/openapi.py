"""The OpenAPI 3.1 description of the REST API, served at /api/openapi.json.

Built from one declaration (`OPERATIONS`, below) whose paths, limits and payload shapes come from
protocol.py: response bodies are protocol's TypedDicts turned into JSON Schema by `schema_of`.
tests/test_openapi.py keeps it equal to the routes the daemon really has and runs schemathesis
against a real daemon with it.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web

from videonet_daemon import __version__
from videonet_daemon.feature import Quiet
from videonet_daemon.realtime.hub import Hub
from videonet_protocol import protocol
from videonet_protocol.i18n import LANGUAGES

JsonSchema = dict[str, Any]

ERROR = "#/components/schemas/ErrorResponse"


def schema_of(tp: Any) -> JsonSchema:
    """JSON Schema for a type of protocol.py: TypedDicts, lists, dicts, unions, enums, scalars,
    and text fields with their declared rules (``Annotated[str, protocol.Text(...)]``)."""
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is type(None):
        return {"type": "null"}
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if typing.get_origin(tp) is typing.Annotated:
        schema = schema_of(typing.get_args(tp)[0])
        for rules in tp.__metadata__:
            if isinstance(rules, protocol.Text):
                schema.update(_text(rules.max_chars, rules.min_chars))
        return schema
    if typing.is_typeddict(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        return {
            "type": "object",
            "properties": {name: schema_of(hint) for name, hint in hints.items()},
            "required": sorted(tp.__required_keys__),
        }
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return {"type": "array", "items": schema_of(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(args[1])}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [schema_of(a) for a in args]}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _text(max_chars: int, min_chars: int = 1) -> JsonSchema:
    return {"type": "string", "minLength": min_chars, "maxLength": max_chars}


def _object(required: list[str], **properties: JsonSchema) -> JsonSchema:
    return {"type": "object", "properties": properties, "required": required}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    ok: tuple[int, JsonSchema | None]  # status and JSON body schema (None: not JSON)
    auth: bool = True
    body: JsonSchema | None = None
    errors: tuple[int, ...] = (400,)
    query: dict[str, JsonSchema] = field(default_factory=dict)
    ok_media: tuple[str, ...] = ("application/json",)
    also_ok: tuple[int, ...] = ()  # other success statuses with the same body
    required_query: tuple[str, ...] = ()


_INVITE = _object(
    [],
    uses={"type": "integer", "minimum": 1, "maximum": protocol.INVITE_MAX_USES},
    expires_in={
        "type": "integer",
        "minimum": 60,
        "maximum": protocol.INVITE_MAX_LIFETIME_SECONDS,
    },
    room_id=_text(protocol.ROOM_ID_MAX_CHARS),
)
_ROOM = _object(
    ["name"],
    name=_text(protocol.ROOM_NAME_MAX_CHARS),
    description=_text(protocol.ROOM_DESCRIPTION_MAX_CHARS, 0),
    private={"type": "boolean"},
)
_RENAME = _object(["name"], name=_text(protocol.ROOM_NAME_MAX_CHARS))
_ROOM_INVITE = _object(["username"], username=_text(protocol.USERNAME_MAX_CHARS))
_DEVICE = _object(
    ["device_id", "public_key", "signing_key"],
    device_id={
        **_text(protocol.DEVICE_ID_MAX_CHARS, protocol.DEVICE_ID_MIN_CHARS),
        "pattern": "^[A-Za-z0-9_-]+$",
    },
    public_key=_text(64),
    signing_key=_text(64),
    label=_text(protocol.DEVICE_LABEL_MAX_CHARS, 0),
)
_DEVICE_UPDATE = _object(
    [],
    certificate=_text(protocol.SIGNED_BLOB_MAX_CHARS),
    revocation=_text(protocol.SIGNED_BLOB_MAX_CHARS),
    label=_text(protocol.DEVICE_LABEL_MAX_CHARS, 0),
)
_IDENTITY = _object(["identity_key"], identity_key=_text(64), replace={"type": "boolean"})
_ID = {"type": "integer", "minimum": 1}
_LANGUAGE = _object(
    ["language"],
    language={"anyOf": [{"type": "string", "enum": list(LANGUAGES)}, {"type": "null"}]},
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        protocol.API_HEALTH,
        "Health of the daemon and each dependency (503 degraded when one is down)",
        (200, schema_of(protocol.HealthResponse)),
        auth=False,
        errors=(),
    ),
    Operation(
        "get",
        protocol.API_METRICS,
        "Prometheus metrics (loopback only by default)",
        (200, None),
        auth=False,
        errors=(404,),
        ok_media=("text/plain",),
    ),
    Operation(
        "post",
        protocol.API_REGISTER,
        "Create an account with an invite code",
        (201, schema_of(protocol.RegisterResponse)),
        auth=False,
        body=schema_of(protocol.RegisterRequest),
        errors=(400, 409, 413, 429),
    ),
    Operation(
        "post",
        protocol.API_LOGIN,
        "Log in: a bearer token and the login cookie",
        (200, schema_of(protocol.LoginResponse)),
        auth=False,
        body=schema_of(protocol.LoginRequest),
        errors=(400, 401, 413, 429),
    ),
    Operation(
        "post",
        protocol.API_LOGOUT,
        "End this token's session",
        (200, _object(["logged_out"], logged_out={"type": "boolean"})),
        errors=(401,),
    ),
    Operation(
        "get",
        protocol.API_ME,
        "The logged-in user",
        (200, schema_of(protocol.UserInfo)),
        errors=(401,),
    ),
    Operation(
        "get",
        protocol.API_ME_LANGUAGE,
        "The language saved for your account (null: the browser's Accept-Language decides)",
        (200, schema_of(protocol.LanguageSetting)),
        errors=(401,),
    ),
    Operation(
        "put",
        protocol.API_ME_LANGUAGE,
        "Save your account's language: the web page and error messages speak it",
        (200, schema_of(protocol.LanguageSetting)),
        body=_LANGUAGE,
        errors=(400, 401),
    ),
    Operation(
        "get",
        protocol.API_INVITES,
        "Your invite codes",
        (200, schema_of(list[protocol.InviteInfo])),
        errors=(401,),
    ),
    Operation(
        "post",
        protocol.API_INVITES,
        "Make an invite code (with room_id: its user joins that room; 7 days unless expires_in)",
        (201, schema_of(protocol.InviteInfo)),
        body=_INVITE,
        errors=(400, 401, 403, 404, 409, 413),
    ),
    Operation(
        "post",
        protocol.API_INVITE_REDEEM,
        "Join the room of an invite made for one, with the account you are logged in to",
        (200, schema_of(protocol.InvitedRoom)),
        body=schema_of(protocol.RedeemRequest),
        errors=(400, 401, 409, 413),
    ),
    Operation(
        "post",
        protocol.API_ROOM_DIRECT,
        "The direct room of you and one other account (made on first use: 201)",
        (200, schema_of(protocol.RoomInfo)),
        body=schema_of(protocol.DirectRoomRequest),
        errors=(400, 401, 404, 409, 413, 429),
        also_ok=(201,),
    ),
    Operation(
        "get",
        protocol.API_ROOMS,
        "A page of the rooms you may see, in name order (?mine=1: only yours)",
        (200, schema_of(protocol.RoomsPage)),
        errors=(400, 401),
        query={
            "limit": {"type": "integer", "minimum": 1, "maximum": protocol.ROOMS_PAGE_MAX},
            "cursor": {"type": "string"},
            "mine": {"type": "string"},
        },
    ),
    Operation(
        "get",
        protocol.API_ROOM_LOOKUP,
        "One room you may see, by name (under name folding) or id",
        (200, schema_of(protocol.RoomInfo)),
        errors=(400, 401, 404),
        query={"ref": _text(protocol.ROOM_NAME_MAX_CHARS)},
        required_query=("ref",),
    ),
    Operation(
        "get",
        protocol.API_ROOM,
        "One room you may see, by id",
        (200, schema_of(protocol.RoomInfo)),
        errors=(401, 404),
    ),
    Operation(
        "delete",
        protocol.API_ROOM,
        "Delete a room (its creator only)",
        (
            200,
            _object(
                ["room_id", "deleted"], room_id={"type": "string"}, deleted={"type": "boolean"}
            ),
        ),
        errors=(401, 403, 404),
    ),
    Operation(
        "post",
        protocol.API_ROOM_RENAME,
        "Rename a room (its creator only)",
        (200, schema_of(protocol.RoomInfo)),
        body=_RENAME,
        errors=(400, 401, 403, 404, 409),
    ),
    Operation(
        "post",
        protocol.API_ROOM_INVITE,
        "Add a user to a room you are a member of",
        (201, schema_of(protocol.MemberInfo)),
        body=_ROOM_INVITE,
        errors=(400, 401, 403, 404, 409),
    ),
    Operation(
        "post",
        protocol.API_ROOM_CREATE,
        "Create a room (you join it)",
        (201, schema_of(protocol.RoomInfo)),
        body=_ROOM,
        errors=(400, 401, 409, 413),
    ),
    Operation(
        "post",
        protocol.API_ROOM_JOIN,
        "Join a room",
        (200, schema_of(protocol.RoomInfo)),
        errors=(401, 404),
    ),
    Operation(
        "post",
        protocol.API_ROOM_LEAVE,
        "Leave a room",
        (200, _object(["room_id", "left"], room_id={"type": "string"}, left={"type": "boolean"})),
        errors=(401,),
    ),
    Operation(
        "get",
        protocol.API_ROOM_MEMBERS,
        "A room's members (members only)",
        (200, schema_of(list[protocol.MemberInfo])),
        errors=(401, 403, 404),
    ),
    Operation(
        "get",
        protocol.API_ROOM_MESSAGES,
        "A page of a room's messages, newest last",
        (200, schema_of(protocol.HistoryPage)),
        errors=(400, 401, 403, 404),
        query={
            "before": _ID,
            "limit": {"type": "integer", "minimum": 1, "maximum": protocol.HISTORY_PAGE_MAX},
        },
    ),
    Operation(
        "post",
        protocol.API_ROOM_MESSAGES,
        "Send one message to a room (members only; fanned out like chat:send)",
        (201, schema_of(protocol.ChatMessage)),
        body=_object(["text"], text=_text(protocol.CHAT_MAX_CHARS)),
        errors=(400, 401, 403, 404, 413, 415, 429),
    ),
    Operation(
        "get",
        protocol.API_TRANSFER_DATA,
        "A transfer's bytes (Range: bytes=N- resumes)",
        (200, None),
        errors=(400, 401, 403, 404, 409, 416),
        ok_media=("application/octet-stream",),
    ),
    Operation(
        "get",
        protocol.API_CALL_RECORDING_FILE,
        "A call recorded on the media server: one participant's WebM or Opus (members only)",
        (200, None),
        errors=(401, 403, 404),
        ok_media=("application/octet-stream",),
    ),
    Operation(
        "get",
        protocol.API_TRANSFER_HEADER,
        "The sender's signed header (the manifest) and seal, as opaque base64 blobs",
        (200, schema_of(protocol.TransferHeader)),
        errors=(400, 401, 403, 404, 409),
    ),
    Operation(
        "put",
        protocol.API_TRANSFER_DATA,
        "Upload a transfer's bytes from ?offset=N",
        (
            200,
            _object(
                ["transfer_id", "uploaded"],
                transfer_id={"type": "string"},
                uploaded={"type": "integer"},
            ),
        ),
        errors=(400, 401, 403, 404, 409, 507),
        query={"offset": {"type": "integer", "minimum": 0}},
    ),
    Operation(
        "post",
        protocol.API_VERIFY,
        "Compare two uploaded files by SHA-256",
        (200, None),
        errors=(400, 401, 413),
    ),
    Operation(
        "get",
        protocol.API_KEYS,
        "Your account's identity and devices",
        (200, schema_of(protocol.UserKeys)),
        errors=(401,),
    ),
    Operation(
        "post",
        protocol.API_KEYS,
        "Publish a device's public keys (201 new, 200 the same keys again)",
        (201, schema_of(protocol.DeviceKeyInfo)),
        also_ok=(200,),
        body=_DEVICE,
        errors=(400, 401, 409),
    ),
    Operation(
        "patch",
        protocol.API_KEY,
        "Store a device's certificate (with its label) or revocation",
        (200, schema_of(protocol.DeviceKeyInfo)),
        body=_DEVICE_UPDATE,
        errors=(400, 401, 404, 409),
    ),
    Operation(
        "put",
        protocol.API_IDENTITY,
        "Record your account's identity public key",
        (200, schema_of(protocol.UserKeys)),
        body=_IDENTITY,
        errors=(400, 401, 409),
    ),
    Operation(
        "delete",
        protocol.API_KEY,
        "Remove one of your devices",
        (
            200,
            _object(
                ["device_id", "removed"], device_id={"type": "string"}, removed={"type": "boolean"}
            ),
        ),
        errors=(401, 404),
    ),
    Operation(
        "get",
        protocol.API_USER_KEYS,
        "The identity and device keys of a user who shares a room with you",
        (200, schema_of(protocol.UserKeys)),
        errors=(401, 404, 409),
    ),
    Operation(
        "get",
        protocol.API_ROOM_KEYS,
        "The identity and device keys of every member of a room (members only)",
        (200, schema_of(protocol.RoomKeys)),
        errors=(401, 403, 404),
    ),
    Operation("get", protocol.API_OPENAPI, "This description", (200, None), auth=False, errors=()),
    # The web client's page and files: HTTP answers like the rest (404 in the JSON error shape),
    # so they are described and fuzzed too. Socket.IO's transport is not: its contract is the
    # events in protocol.py.
    Operation(
        "get",
        protocol.WEB_INDEX,
        "The web client",
        (200, None),
        auth=False,
        errors=(),
        ok_media=("text/html",),
    ),
    Operation(
        "get",
        protocol.WEB_STATIC,
        "The web client's scripts, style sheet, icon, licence and catalogues (i18n-LANG.json)",
        (200, None),
        auth=False,
        errors=(404,),
        ok_media=("text/javascript", "text/css", "image/svg+xml", "text/plain", "application/json"),
    ),
)

# Every operation may also answer these (a dependency down, a proxy, a bug).
_ALWAYS = (500, 503)


def _operation(op: Operation) -> JsonSchema:
    ok_status, ok_schema = op.ok
    content: JsonSchema = {
        media: {"schema": ok_schema} if ok_schema else {} for media in op.ok_media
    }
    error = {"description": "error", "content": {"application/json": {"schema": {"$ref": ERROR}}}}
    responses: JsonSchema = {
        str(status): {"description": "success", "content": content}
        for status in (ok_status, *op.also_ok)
    }
    statuses = {
        *op.errors,
        *_ALWAYS,
        *((401,) if op.auth else ()),
        *((413, 415) if op.body else ()),
        *((404,) if "{" in op.path else ()),
    }
    for status in sorted(statuses):
        responses[str(status)] = error
    if op.path == protocol.API_HEALTH:  # degraded health has the health shape, not an error
        responses["503"] = {"description": "degraded", "content": content}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_names(op.path)
    ] + [
        {"name": name, "in": "query", "required": name in op.required_query, "schema": schema}
        for name, schema in op.query.items()
    ]
    spec: JsonSchema = {"summary": op.summary, "responses": responses}
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.body}},
        }
    if op.path == protocol.API_VERIFY:
        files = {"type": "string", "contentMediaType": "application/octet-stream"}
        spec["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": _object(
                        ["original_file", "received_file"], original_file=files, received_file=files
                    )
                }
            },
        }
    if op.auth:
        spec["security"] = [{"bearer": []}, {"cookie": []}]
    return spec


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def document() -> JsonSchema:
    """The whole OpenAPI 3.1 document."""
    paths: JsonSchema = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    error = schema_of(protocol.ErrorResponse)
    error["properties"]["error"]["additionalProperties"] = False
    return {
        "openapi": "3.1.0",
        "info": {"title": "VideoNet daemon", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {"ErrorResponse": error},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": protocol.AUTH_COOKIE},
            },
        },
    }


class OpenApiFeature(Quiet):
    """Serves the description; it is built once."""

    def __init__(self) -> None:
        self._document = document()

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        router.add_routes([web.get(protocol.API_OPENAPI, self.serve)])

    async def serve(self, request: web.Request) -> web.Response:
        return web.json_response(self._document)
