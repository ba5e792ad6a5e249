"""python-socketio's Redis manager, made to say when Redis is gone and to come back quickly.

The stock manager logs and drops an emit it cannot publish, and waits up to 60 s between
attempts to listen again. Here an emit that cannot be published raises `Unavailable("redis")`
(the client hears 503 "redis unavailable", not a silent loss), `available` tells the hub that
the listener has lost Redis, and the listener tries again at most every `RETRY_MAX_SECONDS`, so
chat across daemons resumes within seconds of Redis returning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import socketio

from videonet_daemon.errors import Unavailable
from videonet_daemon.outages import REDIS

log = logging.getLogger(__name__)

RETRY_MAX_SECONDS = 2.0


class RedisFanout(socketio.AsyncRedisManager):  # type: ignore[misc]
    def __init__(self, url: str, channel: str) -> None:
        super().__init__(url, channel=channel)
        self.available = True

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
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:
                if self.available:
                    log.warning("lost redis (%s); retrying every %.0f s", exc, RETRY_MAX_SECONDS)
                self.available = False
                subscribed = False
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_MAX_SECONDS)
