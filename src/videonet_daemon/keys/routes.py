"""HTTP handlers for /api/keys* (your devices), /api/identity (your account's identity) and
/api/users/{username}/keys (a member's identity and devices)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.errors import Conflict, NotFound, ValidationError
from videonet_daemon.i18n import N_, Phrase
from videonet_daemon.keys.service import DeviceKeyService
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.validation import get_str, read_json
from videonet_protocol import protocol
from videonet_protocol.keycheck import ed25519_problem, x25519_problem


def valid_device_id(value: str) -> bool:
    return protocol.DEVICE_ID_MIN_CHARS <= len(value) <= protocol.DEVICE_ID_MAX_CHARS and all(
        ch in protocol.DEVICE_ID_ALPHABET for ch in value
    )


def _public_key(body: dict[str, Any], name: str, kind: str) -> bytes:
    """A base64 public key of ``kind`` ("X25519" or "Ed25519") that is usable, else 400."""
    raw = protocol.decode_public_key(get_str(body, name, max_chars=64))
    if raw is None:
        raise ValidationError(
            N_("{name} must be a base64 {kind} public key (32 bytes)"), name=name, kind=kind
        )
    problem = x25519_problem(raw) if kind == "X25519" else ed25519_problem(raw)
    if problem is not None:
        raise ValidationError(N_("{name}: {problem}"), name=name, problem=Phrase(problem))
    return raw


def _blob(body: dict[str, Any], name: str) -> str | None:
    if name not in body:
        return None
    value = get_str(body, name, max_chars=protocol.SIGNED_BLOB_MAX_CHARS)
    if protocol.decode_blob(value) is None:
        raise ValidationError(
            N_("{name} must be standard base64 of at most {signed_blob_max_chars} characters"),
            name=name,
            signed_blob_max_chars=protocol.SIGNED_BLOB_MAX_CHARS,
        )
    return value


def _label(body: dict[str, Any]) -> str:
    label = get_str(
        body, "label", max_chars=protocol.DEVICE_LABEL_MAX_CHARS, min_chars=0, default=""
    )
    if not label.isprintable():
        raise ValidationError(N_("label must be printable text"))
    return label


class KeyRoutes:
    def __init__(self, keys: DeviceKeyService, guard: RoomGuard, who: RequestAuth) -> None:
        self._keys = keys
        self._guard = guard
        self._who = who

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(protocol.API_KEYS, self.mine),
            web.post(protocol.API_KEYS, self.publish),
            web.patch(protocol.API_KEY, self.update),
            web.delete(protocol.API_KEY, self.remove),
            web.put(protocol.API_IDENTITY, self.set_identity),
            web.get(protocol.API_USER_KEYS, self.of_user),
            web.get(protocol.API_ROOM_KEYS, self.of_room),
        ]

    async def mine(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        return web.json_response(await self._keys.user_keys(user.id, user.username))

    async def publish(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        body = await read_json(request)
        device_id = get_str(body, "device_id", max_chars=protocol.DEVICE_ID_MAX_CHARS)
        if not valid_device_id(device_id):
            raise ValidationError(
                N_(
                    "device_id must be {device_id_min_chars}-{device_id_max_chars} letters, "
                    "digits, '_' or '-'"
                ),
                device_id_min_chars=protocol.DEVICE_ID_MIN_CHARS,
                device_id_max_chars=protocol.DEVICE_ID_MAX_CHARS,
            )
        raw = _public_key(body, "public_key", "X25519")
        signing = _public_key(body, "signing_key", "Ed25519")
        info, created = await self._keys.publish(user.id, device_id, raw, signing, _label(body))
        return web.json_response(info, status=201 if created else 200)

    async def update(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        device_id = request.match_info["device_id"]
        if not valid_device_id(device_id):
            raise NotFound(N_("you have no device {device_id}"), device_id=repr(device_id))
        body = await read_json(request)
        certificate = _blob(body, "certificate")
        revocation = _blob(body, "revocation")
        label = _label(body) if "label" in body else None
        if label is not None and certificate is None:
            raise ValidationError(
                N_("a new label needs a new certificate (the label is certified)")
            )
        info = await self._keys.update(
            user.id, device_id, certificate=certificate, label=label, revocation=revocation
        )
        return web.json_response(info)

    async def remove(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        device_id = request.match_info["device_id"]
        if not valid_device_id(device_id) or not await self._keys.remove(user.id, device_id):
            raise NotFound(N_("you have no device {device_id}"), device_id=repr(device_id))
        return web.json_response({"device_id": device_id, "removed": True})

    async def set_identity(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        body = await read_json(request)
        identity = _public_key(body, "identity_key", "Ed25519")
        replace = body.get("replace", False)
        if not isinstance(replace, bool):
            raise ValidationError(N_("replace must be true or false"))
        await self._keys.set_identity(user.id, identity, replace)
        return web.json_response(await self._keys.user_keys(user.id, user.username))

    async def of_room(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        room_id = request.match_info["room_id"]
        await self._guard.require_member(room_id, user.id)
        return web.json_response(await self._keys.room_keys(room_id))

    async def of_user(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        username = request.match_info["username"]
        visible: list[tuple[int, str]] = []
        for other_id, name in await self._keys.users_named(username):
            try:
                await self._guard.require_visible_user(user.id, other_id, username)
            except NotFound:
                continue
            visible.append((other_id, name))
        if not visible:
            raise NotFound(
                N_("no user named {username} shares a room with you"), username=repr(username)
            )
        if len(visible) > 1:  # only where usernames were not yet unique
            raise Conflict(
                N_("several users you share a room with are named {username}"),
                username=repr(username),
            )
        other_id, name = visible[0]
        return web.json_response(await self._keys.user_keys(other_id, name))
