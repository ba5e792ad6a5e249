"""HTTP handlers for /api/keys* (your devices) and /api/users/{username}/keys (a member's)."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.errors import Conflict, NotFound, ValidationError
from videonet_daemon.keys.service import DeviceKeyService
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.validation import get_str, read_json
from videonet_protocol import protocol


def valid_device_id(value: str) -> bool:
    return protocol.DEVICE_ID_MIN_CHARS <= len(value) <= protocol.DEVICE_ID_MAX_CHARS and all(
        ch in protocol.DEVICE_ID_ALPHABET for ch in value
    )


class KeyRoutes:
    def __init__(self, keys: DeviceKeyService, guard: RoomGuard, who: RequestAuth) -> None:
        self._keys = keys
        self._guard = guard
        self._who = who

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(protocol.API_KEYS, self.mine),
            web.post(protocol.API_KEYS, self.publish),
            web.delete(protocol.API_KEY, self.remove),
            web.get(protocol.API_USER_KEYS, self.of_user),
        ]

    async def mine(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        return web.json_response(await self._keys.of_user(user.id))

    async def publish(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        body = await read_json(request)
        device_id = get_str(body, "device_id", max_chars=protocol.DEVICE_ID_MAX_CHARS)
        if not valid_device_id(device_id):
            raise ValidationError(
                f"device_id must be {protocol.DEVICE_ID_MIN_CHARS}-{protocol.DEVICE_ID_MAX_CHARS}"
                " letters, digits, '_' or '-'"
            )
        raw = protocol.decode_public_key(get_str(body, "public_key", max_chars=64))
        if raw is None:
            raise ValidationError("public_key must be a base64 X25519 public key (32 bytes)")
        label = get_str(
            body, "label", max_chars=protocol.DEVICE_LABEL_MAX_CHARS, min_chars=0, default=""
        )
        info, created = await self._keys.publish(user.id, device_id, raw, label)
        return web.json_response(info, status=201 if created else 200)

    async def remove(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        device_id = request.match_info["device_id"]
        if not valid_device_id(device_id) or not await self._keys.remove(user.id, device_id):
            raise NotFound(f"you have no device {device_id!r}")
        return web.json_response({"device_id": device_id, "removed": True})

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
            raise NotFound(f"no user named {username!r} shares a room with you")
        if len(visible) > 1:  # only where usernames were not yet unique
            raise Conflict(f"several users you share a room with are named {username!r}")
        other_id, name = visible[0]
        payload: protocol.UserKeys = {
            "user_id": other_id,
            "username": name,
            "devices": await self._keys.of_user(other_id),
        }
        return web.json_response(payload)
