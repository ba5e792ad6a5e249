"""The media server (Janus, VideoRoom plugin) as the daemon drives it: the control plane.

With ``media_server_url`` set, every participant uploads its media once to Janus, which
forwards it to the others (an SFU); the daemon never sees media, and stays the one that decides
who may take part:

- **One VideoRoom per room**, whose id is our room's id (Janus runs with ``string_ids``), not
  listed, with a ``secret`` (for editing and destroying it) and a ``pin`` (to join it, as
  publisher or subscriber). The secret is derived from the token secret and the room id
  (HMAC), so every daemon sharing the Janus knows it without storing it. The pin is random and
  changes whenever someone loses access; the current one is kept where every daemon reads it
  (the `PinStore`: memory for one daemon, Redis for several).
- **Signed tokens** (Janus ``token_auth`` with ``token_auth_secret``): ``EXPIRY,janus,
  janus.plugin.videoroom:base64(HMAC-SHA1(secret, "EXPIRY,janus,janus.plugin.videoroom"))``.
  Any daemon holding the secret mints them, with no call to Janus and nothing stored, so two
  daemons behind one load balancer need nothing shared for them (stored tokens, added through
  the Admin API, would have to be added and removed by whichever daemon the member reached, and
  are lost when Janus restarts). Janus checks the token on every request, keepalives included:
  a token lives ``media_token_lifetime`` seconds and a participant refreshes it
  (``call:media_token``) while it is still a member in the call. A token opens the plugin, not
  a room: the pin keeps one room's members out of another's.
- **Revoking** (left the room, removed, logged out, disabled, or dropped from the call): the
  participant's publisher is kicked (its feed id is its peer id), its Janus session is
  destroyed through the Admin API when that is configured (so its subscriptions end at once),
  and the pin is changed; the remaining participants get the new pin with their next token.
- **Deleting the room** destroys its VideoRoom.

Each operation opens a short Janus session (create, attach, message, destroy): nothing of the
daemon's lives in Janus between operations, so a Janus restart needs no recovery here (the next
join creates the room again).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import secrets
from typing import Any, Protocol

import aiohttp

from videonet_daemon import clock
from videonet_daemon.errors import Unavailable
from videonet_daemon.i18n import N_
from videonet_daemon.settings import Settings
from videonet_protocol import protocol

log = logging.getLogger(__name__)

PLUGIN = "janus.plugin.videoroom"
REQUEST_TIMEOUT_SECONDS = 5.0
ROOM_EXISTS = 427  # JANUS_VIDEOROOM_ERROR_ROOM_EXISTS
NO_SUCH_ROOM = 426  # JANUS_VIDEOROOM_ERROR_NO_SUCH_ROOM
NO_SUCH_FEED = 428  # JANUS_VIDEOROOM_ERROR_NO_SUCH_FEED
PIN_BYTES = 18
MEDIA_SERVER = "media_server"  # its name in /api/health


def signed_token(secret: str, expires_at: int, plugins: tuple[str, ...] = (PLUGIN,)) -> str:
    """A Janus signed token valid until ``expires_at`` (epoch seconds) for ``plugins``."""
    data = ",".join([str(expires_at), "janus", *plugins])
    digest = hmac.new(secret.encode(), data.encode(), hashlib.sha1).digest()
    return f"{data}:{base64.b64encode(digest).decode('ascii')}"


def room_secret(token_secret: str, room_id: str) -> str:
    """The VideoRoom's secret: derived, so every daemon sharing the Janus knows it."""
    mac = hmac.new(token_secret.encode(), f"videoroom-secret:{room_id}".encode(), hashlib.sha256)
    return mac.hexdigest()


class MediaServerDown(Unavailable):
    """Janus does not answer (or answers with something that is not Janus)."""

    def __init__(self, detail: str) -> None:
        # The detail (Janus's own words) is for the operator's log; a person reads one sentence
        # in their language. Built like every ApiError, so a socket's refusal can translate it.
        super().__init__(MEDIA_SERVER)
        self.template = N_("the media server is unavailable; try again later")
        self.params = {}
        self.args = (f"{detail}; try again later",)
        self.detail = detail

    @property
    def message(self) -> str:
        return f"{self.detail}; try again later"


class PinStore(Protocol):
    """The media server's small shared state, by key: each room's pin, and the room's recording
    in progress (calls/room_recording.py)."""

    async def get(self, room_id: str) -> str | None: ...

    async def set(self, room_id: str, pin: str) -> None: ...

    async def forget(self, room_id: str) -> None: ...


class MemoryPins:
    def __init__(self) -> None:
        self._pins: dict[str, str] = {}

    async def get(self, room_id: str) -> str | None:
        return self._pins.get(room_id)

    async def set(self, room_id: str, pin: str) -> None:
        self._pins[room_id] = pin

    async def forget(self, room_id: str) -> None:
        self._pins.pop(room_id, None)


class RedisPins:
    """The pins in one Redis hash, shared by every daemon of the cluster."""

    def __init__(self, redis_url: str, cluster: str) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(redis_url, decode_responses=True)
        self._key = f"{cluster}:media-pins"

    async def get(self, room_id: str) -> str | None:
        pin = await self._redis.hget(self._key, room_id)
        return str(pin) if pin is not None else None

    async def set(self, room_id: str, pin: str) -> None:
        await self._redis.hset(self._key, room_id, pin)

    async def forget(self, room_id: str) -> None:
        await self._redis.hdel(self._key, room_id)

    async def close(self) -> None:
        await self._redis.aclose()


class JanusError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class MediaServer:
    """The daemon's side of Janus: rooms, pins, tokens, kicks (see the module docstring)."""

    def __init__(self, settings: Settings, pins: PinStore) -> None:
        assert settings.media_server_url and settings.media_server_token_secret
        self.url = settings.media_server_url.rstrip("/")
        self.public_url = (settings.media_server_public_url or self.url).rstrip("/")
        self.token_secret = settings.media_server_token_secret
        self.admin_key = settings.media_server_admin_key or ""
        self.admin_url = (settings.media_server_admin_url or "").rstrip("/")
        self.admin_secret = settings.media_server_admin_secret or ""
        self.token_lifetime = settings.media_token_lifetime
        self.max_publishers = settings.call_max_participants
        self.pins = pins
        self._http: aiohttp.ClientSession | None = None

    # --- what a participant gets --------------------------------------------------------------
    def token(self) -> tuple[str, int]:
        expires_at = int(clock.epoch()) + self.token_lifetime
        return signed_token(self.token_secret, expires_at), expires_at

    async def access(self, room_id: str) -> protocol.MediaAccess:
        """Make sure the room's VideoRoom exists; a fresh token and the current pin for it."""
        pin = await self._ensure_room(room_id)
        token, expires_at = self.token()
        return {
            "server": self.public_url,
            "room": room_id,
            "pin": pin,
            "token": token,
            "token_expires_at": expires_at,
        }

    # --- revoking and destroying ----------------------------------------------------------------
    async def revoke(self, room_id: str, peer_id: str) -> None:
        """Take a participant out of the VideoRoom and change the pin (they may not come back
        with the one they had). Janus being down is not an error here: there is nothing to
        take them out of, and the next join makes the room with a new pin anyway."""
        try:
            await self._end_sessions_of(room_id, peer_id)
            pin = self._new_pin()
            async with self._session() as handle:
                try:
                    await handle.request(
                        {
                            "request": "kick",
                            "room": room_id,
                            "secret": room_secret(self.token_secret, room_id),
                            "id": peer_id,
                        }
                    )
                except JanusError as exc:
                    if exc.code not in (NO_SUCH_ROOM, NO_SUCH_FEED):
                        raise
                try:
                    await handle.request(
                        {
                            "request": "edit",
                            "room": room_id,
                            "secret": room_secret(self.token_secret, room_id),
                            "new_pin": pin,
                        }
                    )
                except JanusError as exc:
                    if exc.code != NO_SUCH_ROOM:
                        raise
            await self.pins.set(room_id, pin)
        except (MediaServerDown, JanusError) as exc:
            log.warning("could not revoke %s in the VideoRoom of %s: %s", peer_id, room_id, exc)
            await self.pins.forget(room_id)  # the next join sets a new pin

    async def destroy(self, room_id: str) -> None:
        """The room was deleted: destroy its VideoRoom (everyone in it is disconnected)."""
        await self.pins.forget(room_id)
        try:
            async with self._session() as handle:
                await handle.request(
                    {
                        "request": "destroy",
                        "room": room_id,
                        "secret": room_secret(self.token_secret, room_id),
                    }
                )
        except JanusError as exc:
            if exc.code != NO_SUCH_ROOM:
                log.warning("could not destroy the VideoRoom of %s: %s", room_id, exc)
        except MediaServerDown as exc:
            log.warning("could not destroy the VideoRoom of %s: %s", room_id, exc.message)

    async def ping(self) -> None:
        """For /api/health: Janus answers /info (tokens are not needed for it)."""
        http = self._client()
        try:
            async with http.get(self.url + "/info") as response:
                info = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise MediaServerDown(f"the media server does not answer: {exc}") from exc
        if PLUGIN not in info.get("plugins", {}):
            raise MediaServerDown("the media server has no VideoRoom plugin")

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    # --- internals ------------------------------------------------------------------------------
    def _new_pin(self) -> str:
        return secrets.token_urlsafe(PIN_BYTES)

    async def _ensure_room(self, room_id: str) -> str:
        known = await self.pins.get(room_id)
        pin = known or self._new_pin()
        secret = room_secret(self.token_secret, room_id)
        async with self._session() as handle:
            try:
                await handle.request(
                    {
                        "request": "create",
                        "room": room_id,
                        "admin_key": self.admin_key,
                        "description": f"videonet {room_id}",
                        "secret": secret,
                        "pin": pin,
                        "is_private": True,
                        "publishers": self.max_publishers,
                        "audiolevel_event": True,
                        "notify_joining": True,
                        "permanent": False,
                    }
                )
            except JanusError as exc:
                if exc.code != ROOM_EXISTS:
                    raise MediaServerDown(f"the media server refused the room: {exc}") from exc
                if known is None:  # made by an earlier run whose pin we do not know: set ours
                    await handle.request(
                        {"request": "edit", "room": room_id, "secret": secret, "new_pin": pin}
                    )
        if known is None:
            await self.pins.set(room_id, pin)
        return pin

    async def _end_sessions_of(self, room_id: str, peer_id: str) -> None:
        """Destroy the Janus sessions holding ``peer_id``'s publisher (Admin API), so that
        their subscriptions end now rather than when their token lapses."""
        if not self.admin_url or not self.admin_secret:
            return
        sessions = await self._admin({"janus": "list_sessions"})
        for session in sessions.get("sessions", []):
            handles = await self._admin({"janus": "list_handles"}, session)
            for handle_id in handles.get("handles", []):
                info = await self._admin({"janus": "handle_info"}, session, handle_id)
                specific = info.get("info", {}).get("plugin_specific", {})
                if (
                    str(specific.get("room")) == room_id
                    and str(specific.get("id")) == peer_id
                    and specific.get("type") == "publisher"
                ):
                    await self._admin({"janus": "destroy_session"}, session)
                    break

    async def _admin(self, body: dict[str, Any], *path: int) -> dict[str, Any]:
        url = "/".join([self.admin_url, *(str(p) for p in path)])
        message = {**body, "transaction": secrets.token_hex(6), "admin_secret": self.admin_secret}
        try:
            async with self._client().post(url, json=message) as response:
                answer: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise MediaServerDown(f"the media server's admin API does not answer: {exc}") from exc
        if answer.get("janus") == "error":
            error = answer.get("error", {})
            raise JanusError(int(error.get("code", 0)), str(error.get("reason", "")))
        return answer

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
            self._http = aiohttp.ClientSession(timeout=timeout)
        return self._http

    def _session(self) -> _Session:
        return _Session(self._client(), self.url, self.token()[0])

    def session(self) -> _Session:
        """A short Janus session with a VideoRoom handle (``async with``), for room requests."""
        return self._session()

    def room_secret(self, room_id: str) -> str:
        return room_secret(self.token_secret, room_id)


class _Session:
    """One short Janus session with a VideoRoom handle, for synchronous plugin requests."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self.http = http
        self.url = url
        self.token = token
        self.session_id: int | None = None
        self.handle_id: int | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        message = {**body, "transaction": secrets.token_hex(6), "token": self.token}
        try:
            async with self.http.post(self.url + path, json=message) as response:
                answer: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise MediaServerDown(f"the media server does not answer: {exc}") from exc
        if answer.get("janus") == "error":
            error = answer.get("error", {})
            raise MediaServerDown(f"the media server refused the daemon: {error.get('reason')}")
        return answer

    async def __aenter__(self) -> _Session:
        created = await self._post("", {"janus": "create"})
        self.session_id = int(created["data"]["id"])
        attached = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": PLUGIN})
        self.handle_id = int(attached["data"]["id"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session_id is not None:
            with contextlib.suppress(MediaServerDown):
                await self._post(f"/{self.session_id}", {"janus": "destroy"})

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous VideoRoom request; its answer, or `JanusError` with the plugin's code."""
        answer = await self._post(
            f"/{self.session_id}/{self.handle_id}", {"janus": "message", "body": body}
        )
        data: dict[str, Any] = answer.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise JanusError(int(data["error_code"]), str(data.get("error", "")))
        return data


def media_server_for(settings: Settings) -> tuple[MediaServer | None, RedisPins | None]:
    """The media server the settings name (None: calls are a mesh), and its Redis pins."""
    if not settings.media_server_url:
        return None, None
    redis_pins = (
        RedisPins(settings.redis_url, settings.cluster_name) if settings.redis_url else None
    )
    return MediaServer(settings, redis_pins or MemoryPins()), redis_pins
