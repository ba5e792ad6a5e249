"""Identities and device keys on the daemon: publish this device's keys, record the account's
identity, store a certificate or revocation, list yours or a member's, remove a device."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from videonet_cli.api.http import HttpClient
from videonet_protocol import protocol


class KeysApi:
    def __init__(self, http: HttpClient) -> None:
        self._http = http

    async def publish(
        self, device_id: str, public_key: bytes, signing_key: bytes, label: str
    ) -> protocol.DeviceKeyInfo:
        body: protocol.DevicePublish = {
            "device_id": device_id,
            "public_key": protocol.encode_public_key(public_key),
            "signing_key": protocol.encode_public_key(signing_key),
            "label": label,
        }
        info: protocol.DeviceKeyInfo = await self._http.post(protocol.API_KEYS, dict(body))
        return info

    async def mine(self) -> protocol.UserKeys:
        keys: protocol.UserKeys = await self._http.get(protocol.API_KEYS)
        return keys

    async def of_user(self, username: str) -> protocol.UserKeys:
        path = protocol.API_USER_KEYS.format(username=quote(username, safe=""))
        keys: protocol.UserKeys = await self._http.get(path)
        return keys

    async def of_room(self, room_id: str) -> protocol.RoomKeys:
        path = protocol.API_ROOM_KEYS.format(room_id=quote(room_id, safe=""))
        keys: protocol.RoomKeys = await self._http.get(path)
        return keys

    async def set_identity(
        self, identity_key: bytes, *, replace: bool = False
    ) -> protocol.UserKeys:
        body: protocol.IdentityPublish = {
            "identity_key": protocol.encode_public_key(identity_key),
            "replace": replace,
        }
        keys: protocol.UserKeys = await self._http.request("PUT", protocol.API_IDENTITY, dict(body))
        return keys

    async def update(self, device_id: str, body: protocol.DeviceUpdate) -> protocol.DeviceKeyInfo:
        path = protocol.API_KEY.format(device_id=quote(device_id, safe=""))
        info: protocol.DeviceKeyInfo = await self._http.request("PATCH", path, dict(body))
        return info

    async def remove(self, device_id: str) -> dict[str, Any]:
        path = protocol.API_KEY.format(device_id=quote(device_id, safe=""))
        result: dict[str, Any] = await self._http.request("DELETE", path)
        return result
