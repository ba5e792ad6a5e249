"""Several daemons as one service: who this node is, and a small message bus between nodes.

Socket.IO events to clients cross nodes through python-socketio's AsyncRedisManager. This bus is
for the daemons themselves (e.g. "user 7 left room R: drop their sockets wherever they are").
Without Redis it delivers in process, so single-daemon code takes the same path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from videonet_daemon.clock import now_iso
from videonet_daemon.db.engine import Database, columns
from videonet_daemon.errors import Unavailable
from videonet_daemon.i18n import N_

log = logging.getLogger(__name__)


def bus_channel(cluster: str) -> str:
    return f"{cluster}:cluster"


def socketio_channel(cluster: str) -> str:
    return f"{cluster}:socketio"


Handler = Callable[[dict[str, Any]], Awaitable[None]]


NODE_ID_FILE = "node-id"


class Node:
    """This daemon: a lasting id (kept in its data dir, like its spool) and its current URL."""

    def __init__(self, advertise_url: str | None) -> None:
        self.id = ""
        self.url = advertise_url or ""

    def load_id(self, data_dir: Path) -> None:
        path = data_dir / NODE_ID_FILE
        try:
            self.id = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            self.id = ""
        if not self.id:
            self.id = uuid.uuid4().hex
            path.write_text(self.id + "\n", encoding="ascii")

    def bound(self, host: str, port: int, tls: bool) -> None:
        if not self.url:
            shown = f"[{host}]" if ":" in host else host
            if host in ("0.0.0.0", "::"):
                shown = "127.0.0.1"
            self.url = f"{'https' if tls else 'http'}://{shown}:{port}"

    async def announce(self, db: Database) -> None:
        """Record where this node can be reached now (it may have a new port after a restart)."""
        await db.execute(
            "INSERT INTO nodes (id, url, updated_at) VALUES (:id, :url, :t) "
            "ON CONFLICT (id) DO UPDATE SET url = :url, updated_at = :t",
            id=self.id,
            url=self.url,
            t=now_iso(),
        )


async def node_url(db: Database, node_id: str) -> str | None:
    row = await db.fetch_one("SELECT url FROM nodes WHERE id = :id", id=node_id)
    return str(columns(row)["url"]) if row else None


# Published on the bus when a room is deleted (room_id, name, transfer_ids): every daemon takes
# all its sockets out of the room's channel (rooms) and drops the transfers' bytes (relay). The
# features hear it here, not from each other.
ROOM_DELETED = "room_deleted"
# Published by the daemon running an upload into a shared spool (object storage) each time more
# of it is stored (transfer_id, uploaded): the daemons serving its receivers send the new bytes
# now instead of at their next look at the database (relay/routes.py, POLL_SECONDS).
TRANSFER_STORED = "transfer_stored"

# How long a Redis command may take before Redis counts as unavailable; how long the bus waits at
# most between attempts to subscribe again.
REDIS_TIMEOUT_SECONDS = 2.0
RESUBSCRIBE_MAX_SECONDS = 2.0


class Bus:
    def __init__(self, redis_url: str | None, cluster: str) -> None:
        self._redis_url = redis_url
        self._channel = bus_channel(cluster)
        self._handlers: dict[str, list[Handler]] = {}
        self._task: asyncio.Task[None] | None = None
        self._redis: Any = None

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def install(self, router: web.UrlDispatcher, hub: object) -> None:
        """A feature with nothing to install: features subscribe with `on`."""

    async def start(self) -> None:
        if not self._redis_url:
            return
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(
            self._redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._channel)
        self._task = asyncio.create_task(self._listen_again_and_again(pubsub))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, kind: str, **data: Any) -> None:
        """Deliver to every node's handlers, this one included."""
        message = {"kind": kind, **data}
        if self._redis is None:
            await self._dispatch(message)
            return
        try:
            await self._redis.publish(self._channel, json.dumps(message))
        except Exception as exc:
            raise Unavailable(N_("redis")) from exc

    async def ping(self) -> None:
        """Raise if Redis does not answer (the bus has no Redis: nothing to check)."""
        if self._redis is not None:
            await asyncio.wait_for(self._redis.ping(), REDIS_TIMEOUT_SECONDS)

    async def _listen_again_and_again(self, pubsub: Any) -> None:
        # A Redis restart ends the subscription; subscribe again as soon as it answers.
        wait = 0.25
        while True:
            try:
                await self._listen(pubsub)
            except Exception as exc:
                log.warning("the cluster bus lost redis (%s); subscribing again", exc)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RESUBSCRIBE_MAX_SECONDS)
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            pubsub = self._redis.pubsub()
            with contextlib.suppress(Exception):
                await pubsub.subscribe(self._channel)
                wait = 0.25

    async def _listen(self, pubsub: Any) -> None:
        async for item in pubsub.listen():
            if item.get("type") != "message":
                continue
            try:
                await self._dispatch(json.loads(item["data"]))
            except Exception:
                log.exception("cluster message failed: %r", item.get("data"))

    async def _dispatch(self, message: dict[str, Any]) -> None:
        for handler in self._handlers.get(str(message.get("kind")), []):
            await handler(message)


async def ping_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=5)
    try:
        await client.ping()
    finally:
        await client.aclose()


# A node is taken for dead once it has missed this many heartbeats in a row.
MISSED_HEARTBEATS = 3

Beat = Callable[[], Awaitable[None]]


class Liveness:
    """Which daemons of the service are alive: each renews a Redis key that expires on its own.

    A killed, frozen or cut-off daemon cannot say goodbye; its key simply runs out after
    ``MISSED_HEARTBEATS`` intervals, and whatever it kept in Redis (call participants today; any
    per-node entries, such as presence, can do the same) is removed by whoever notices first.
    Features add a task to run after every beat (`every_beat`), which is where they look for the
    dead with `alive`. A clean stop deletes the key, so the others notice at their next beat
    instead of after the expiry.
    """

    def __init__(self, redis_url: str, cluster: str, node: Node, interval: float) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(redis_url, decode_responses=True)
        self._prefix = f"{cluster}:alive:"
        self._node = node  # its id is read when used: it is loaded with the data dir
        self.interval = interval
        self._after_beat: list[Beat] = []
        self._task: asyncio.Task[None] | None = None

    def every_beat(self, task: Beat) -> None:
        self._after_beat.append(task)

    async def alive(self, node_ids: set[str]) -> set[str]:
        """The ones among ``node_ids`` whose heartbeat has not expired."""
        ordered = sorted(node_ids)
        if not ordered:
            return set()
        found = await self._redis.mget([self._prefix + n for n in ordered])
        return {n for n, value in zip(ordered, found, strict=True) if value is not None}

    async def beat(self) -> None:
        ttl_ms = int(self.interval * MISSED_HEARTBEATS * 1000)
        await self._redis.set(self._prefix + self._node.id, "1", px=ttl_ms)

    def install(self, router: web.UrlDispatcher, hub: object) -> None:
        """A feature with nothing to install: features add work with `every_beat`."""

    async def start(self) -> None:
        await self.beat()
        self._task = asyncio.create_task(self._beating())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # Redis may be the reason we stop
            await self._redis.delete(self._prefix + self._node.id)
        await self._redis.aclose()

    async def _beating(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            # On a fixed schedule: a slow sweep must not push the next beat towards the expiry.
            due = max(due + self.interval, loop.time())
            await asyncio.sleep(due - loop.time())
            try:
                await self.beat()
            except Exception:
                # Redis away: keep trying; the others take us for dead meanwhile, as they must.
                log.exception("heartbeat failed")
                continue
            for task in self._after_beat:
                try:
                    await task()
                except Exception:
                    log.exception("a task after the heartbeat failed")
