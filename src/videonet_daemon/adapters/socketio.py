"""python-socketio's internals, used here and nowhere else.

- `AckAwareServer`: the server, telling handlers whether the client waits for an ack (it
  overrides `AsyncServer._handle_event_internal`, the one place that knows the packet's id).
- `room_members`: a room's sockets from the manager's `rooms` map (`sio.rooms(sid)` scans every
  room on the daemon, which showed in the chat benchmark's profile).
- `RedisFanout`: the Redis manager made to say when Redis is gone and to come back quickly. The
  stock manager logs and drops an emit it cannot publish, and waits up to 60 s between attempts
  to listen again. Here an emit that cannot be published raises `Unavailable("redis")` (the
  client hears 503 "redis unavailable", not a silent loss), `available` tells the hub that the
  listener has lost Redis, and the listener tries again at most every `RETRY_MAX_SECONDS`, so
  chat across daemons resumes within seconds of Redis returning (it overrides `_publish` and
  `_redis_listen_with_retries`, and uses `_redis_connect`, `redis`, `pubsub`, `connected`).
  Whatever was published while this daemon's listener was away never reaches its sockets
  (Redis pub/sub keeps nothing): `on_back` is awaited once the listener is subscribed again
  after a loss, before it hands on any message, and the hub closes its sockets so their clients
  join again with `since`. Awaited, not merely started: a socket that took the first messages
  after the return before its close would join again with `since` past the gap, and what was
  published during the gap would never reach its client.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import socketio

from videonet_daemon.errors import Unavailable
from videonet_daemon.outages import REDIS
from videonet_protocol.adapters.check import attribute_problems, method_problems

log = logging.getLogger(__name__)

DISTRIBUTION = "python-socketio"
RETRY_MAX_SECONDS = 2.0

# Whether the event being handled asked for an ack.
_ACK_ASKED: contextvars.ContextVar[bool] = contextvars.ContextVar("ack_asked", default=True)


def ack_asked() -> bool:
    """Whether the client event being handled (in this task) waits for an ack."""
    return _ACK_ASKED.get()


class AckAwareServer(socketio.AsyncServer):  # type: ignore[misc]
    # Seconds an engine.io session has to connect to the namespace (the Socket.IO connect that
    # carries the token); 0: no limit. JavaScript's Socket.IO server has this as connectTimeout;
    # python-socketio has none, so a session that never logs in lived as long as it answered
    # pings (it overrides `_handle_eio_connect` and reads `environ` and the manager).
    connect_timeout = 0.0
    _unconnected_checks: set[asyncio.Task[None]]

    async def _handle_eio_connect(self, eio_sid: str, environ: Any) -> None:
        await super()._handle_eio_connect(eio_sid, environ)
        if self.connect_timeout > 0:
            asyncio.get_running_loop().call_later(
                self.connect_timeout, self._check_connected, eio_sid
            )

    def _check_connected(self, eio_sid: str) -> None:
        if eio_sid not in self.environ or self.manager.sid_from_eio_sid(eio_sid, "/"):
            return  # gone already, or logged in
        checks = self.__dict__.setdefault("_unconnected_checks", set())
        task = asyncio.create_task(self.eio.disconnect(eio_sid))
        checks.add(task)  # held so it is not collected before it ran
        task.add_done_callback(checks.discard)

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: Any, namespace: str, id: Any
    ) -> None:
        # Runs in the event's own task (or inline), so the value is the handler's alone.
        _ACK_ASKED.set(id is not None)
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


def room_members(
    sio: socketio.AsyncServer, channel: str, namespace: str = "/"
) -> Mapping[str, Any]:
    """The sids in a room of this daemon (sid -> engine.io sid); empty if none."""
    members: Mapping[str, Any] | None = sio.manager.rooms.get(namespace, {}).get(channel)
    return members or {}


class RedisFanout(socketio.AsyncRedisManager):  # type: ignore[misc]
    def __init__(self, url: str, channel: str) -> None:
        super().__init__(url, channel=channel)
        self.available = True
        self.on_back: Callable[[], Awaitable[None]] | None = None

    async def _publish(self, data: Any) -> Any:
        for attempt in range(2):
            try:
                if not self.connected:  # type: ignore[has-type]
                    self._redis_connect()
                return await self.redis.publish(self.channel, self.json.dumps(data))
            except Exception as exc:
                self.connected = False
                if attempt:
                    self.available = False
                    log.warning("cannot publish to redis: %s", exc)
                    raise Unavailable(REDIS) from exc
        return None

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        wait = 0.25
        subscribed = False
        lost = False  # the listener lost Redis: what was published meanwhile never came
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    if not self.available:
                        log.warning("redis is back: fan-out between daemons resumed")
                    self.available = True
                    wait = 0.25
                    if lost and self.on_back is not None:
                        await self.on_back()  # before anything published from now on
                    lost = False
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:
                if self.available:
                    log.warning("lost redis (%s); retrying every %.0f s", exc, RETRY_MAX_SECONDS)
                self.available = False
                subscribed = False
                lost = True
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_MAX_SECONDS)


def problems() -> list[str]:
    """What of the above no longer holds in the installed python-socketio (empty: all holds)."""
    found = method_problems(
        DISTRIBUTION,
        socketio.AsyncServer,
        "_handle_event_internal",
        ("server", "sid", "eio_sid", "data", "namespace", "id"),
        kind="async",
    )
    found += method_problems(
        DISTRIBUTION,
        socketio.AsyncServer,
        "_handle_eio_connect",
        ("eio_sid", "environ"),
        kind="async",
    )
    found += method_problems(
        DISTRIBUTION,
        socketio.base_manager.BaseManager,
        "sid_from_eio_sid",
        ("eio_sid", "namespace"),
    )
    found += method_problems(
        DISTRIBUTION, socketio.AsyncRedisManager, "_publish", ("data",), kind="async"
    )
    found += method_problems(
        DISTRIBUTION,
        socketio.AsyncRedisManager,
        "_redis_listen_with_retries",
        (),
        kind="asyncgen",
    )
    found += method_problems(DISTRIBUTION, socketio.AsyncRedisManager, "_redis_connect", ())
    # The manager the server makes keeps `rooms`: namespace -> room -> {sid: eio_sid}.
    server = socketio.AsyncServer(async_mode="aiohttp")
    found += attribute_problems(DISTRIBUTION, server.manager, "rooms", dict)
    found += attribute_problems(DISTRIBUTION, server, "environ", dict)
    # A Redis manager (not connected) keeps these for the overrides above.
    manager = socketio.AsyncRedisManager("redis://127.0.0.1:1/0", write_only=True)
    for name, kind in (("channel", str), ("connected", bool)):
        found += attribute_problems(DISTRIBUTION, manager, name, kind)
    for name in ("json", "redis", "pubsub"):
        if not hasattr(manager, name):
            found.append(f"{DISTRIBUTION}: AsyncRedisManager().{name} is gone")
    return found
