"""The Socket.IO hub (standard protocol v5) on the aiohttp app: what every socket feature shares.

It knows no feature. It owns: connection auth (the token is checked at connect), who is behind
each socket, the end of a socket when its session ends (an expiry timer per socket, and
`end_sessions` for a logout on any daemon), the per-socket event bucket, room channels with
their locks, the hooks features add to channel changes, the turns of a socket's events that
must be handled in the order they arrived (``in_order``), and the one wrapper that turns a
handler's result or `ApiError` into an ack (``{"ok": true, ...}`` or ``{"ok": false, "error":
{...}}`` plus an `EV_ERROR` event).

Entering and leaving a room's channel happen under that room's lock (`room_lock`), and so does
every fan-out that must be ordered against them (chat messages, presence): a socket that joins
gets the messages it missed (a join hook) before any live one, and none twice. Join hooks run
after the socket entered the channel (their dicts are merged into the join ack), in the order
they were added; leave hooks run whenever a socket leaves a channel: room:leave, an HTTP leave
on any daemon, a disconnect. Who may enter a channel is not the hub's business: the rooms
feature asks the room guard first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import socketio
from aiohttp import web

from videonet_daemon.adapters.engineio import close_every_socket
from videonet_daemon.adapters.socketio import AckAwareServer, RedisFanout, ack_asked, room_members
from videonet_daemon.cluster import socketio_channel
from videonet_daemon.errors import (
    ApiError,
    Conflict,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnknownEvent,
    ValidationError,
)
from videonet_daemon.i18n import N_, language_of, translate
from videonet_daemon.metrics import Metrics
from videonet_daemon.outages import REDIS, outage_of
from videonet_daemon.realtime.quiet import quiet_library_loggers
from videonet_daemon.realtime.ratelimit import TokenBuckets
from videonet_daemon.settings import Settings
from videonet_daemon.validation import check_value
from videonet_protocol import protocol

log = logging.getLogger(__name__)

# At shutdown, how long each Socket.IO connection may take to receive its close packet.
SOCKETS_CLOSE_SECONDS = 2.0


@dataclass(frozen=True)
class SocketUser:
    sid: str
    user_id: int
    username: str
    session: str = ""  # the login session (token id) the socket connected with
    language: str = "en"  # the language its refusals are written in (videonet_daemon.i18n)
    browser_language: str = "en"  # its handshake's Accept-Language: when the account has none


@dataclass(frozen=True)
class Identity:
    """Who is behind a token, and until when (epoch seconds)."""

    user_id: int
    username: str
    session: str
    expires_at: float
    language: str = ""  # the account's saved language ("" for none)


EventHandler = Callable[[SocketUser, dict[str, Any]], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class Event:
    """A client event a feature answers (declared in a list, as its routes are)."""

    name: str
    handler: EventHandler
    in_order: bool = False  # see `Hub.on`


# token -> who, or an ApiError that refuses the connection.
Identify = Callable[[str], Awaitable[Identity]]
# engine.io's origin test: (Origin header or None, WSGI-style environ) -> allowed.
OriginCheck = Callable[[str | None, dict[str, Any]], bool]
# (user, room_id, join payload) -> fields for the join ack; runs under the room's lock.
JoinHook = Callable[[SocketUser, str, dict[str, Any]], Awaitable[dict[str, Any]]]
# (user, room_id) after the socket left the room's channel; runs under the room's lock.
LeaveHook = Callable[[SocketUser, str], Awaitable[None]]
DisconnectHook = Callable[[SocketUser], Awaitable[None]]


class Hub:
    """The Socket.IO server plus the helpers every socket feature shares."""

    def __init__(
        self,
        settings: Settings,
        identify: Identify,
        metrics: Metrics,
        origin_allowed: OriginCheck,
    ) -> None:
        self._identify = identify
        self._metrics = metrics
        self._max_sockets = settings.max_sockets_per_user
        # With Redis, an emit to a room reaches its members on every daemon of the service.
        manager = (
            RedisFanout(settings.redis_url, socketio_channel(settings.cluster_name))
            if settings.redis_url
            else None
        )
        self._fanout = manager
        quiet_library_loggers()
        self.sio = AckAwareServer(
            client_manager=manager,
            async_mode="aiohttp",
            max_http_buffer_size=protocol.SOCKET_MAX_MESSAGE_BYTES,
            ping_interval=settings.socket_ping_interval,
            ping_timeout=settings.socket_ping_timeout,
            # Browsers: the daemon's own origin plus the configured extra ones (cookie auth).
            cors_allowed_origins=origin_allowed,
            logger=False,
            engineio_logger=False,
        )
        self.sio.connect_timeout = settings.socket_connect_timeout
        # Who is behind each socket of this daemon; filled at connect, emptied at disconnect.
        self.users: dict[str, SocketUser] = {}
        # sid -> the timer that disconnects the socket when its token expires.
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        # Sockets whose session has ended, from then until their disconnect: events refused.
        self._ended: set[str] = set()
        # Every client event of a connection spends a token (features add their own limits).
        self.event_buckets = TokenBuckets(settings.socket_event_rate, settings.socket_event_burst)
        self._join_hooks: list[JoinHook] = []
        self._leave_hooks: list[LeaveHook] = []
        self._disconnect_hooks: list[DisconnectHook] = []
        # room_id -> [lock, users]; an entry lives only while someone holds or awaits the lock.
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        # sid -> [lock, events holding or awaiting it] for the events handled in order.
        self._turns: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self._ending: set[asyncio.Task[None]] = set()  # held so they are not collected early
        if manager is not None:
            manager.on_back = self._redis_back
        # Called first when the daemon shuts down (before the sockets close).
        self._shutdown_hooks: list[Callable[[], None]] = []
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("*", self._unknown)

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app, socketio_path=protocol.SOCKET_PATH)
        app.on_shutdown.append(self._shutdown)

    def on_shutdown(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` as soon as a graceful shutdown begins (aiohttp has stopped feeding
        request bodies then: a feature ends its streamed requests here)."""
        self._shutdown_hooks.append(hook)

    async def _shutdown(self, app: web.Application) -> None:
        for hook in self._shutdown_hooks:
            hook()
        # Open WebSockets would otherwise hold the graceful shutdown for its whole timeout;
        # closing them lets clients notice at once and reconnect to the next daemon. Each
        # close waits until the client has taken the close packet, which a polling client that
        # stopped polling never does: those are given up after a short wait, not awaited forever.
        await close_every_socket(self.sio, SOCKETS_CLOSE_SECONDS)
        await self.sio.shutdown()

    # --- registration -------------------------------------------------------------------
    def add_events(self, events: Sequence[Event]) -> None:
        """Answer each of a feature's declared events (`on`)."""
        for event in events:
            self.on(event.name, event.handler, in_order=event.in_order)

    def on(self, event: str, handler: EventHandler, *, in_order: bool = False) -> None:
        """Answer a client event: the handler's dict becomes the ack, an ApiError a refusal.

        python-socketio runs each event in a task of its own, so two events of one socket can
        finish (and fan out) in either order. ``in_order`` events of one socket are handled one
        after another, in the order they arrived (see `_in_order`).
        """

        async def wrapped(sid: str, data: Any = None, *extra: Any) -> dict[str, Any]:
            if not in_order:
                return await answer(sid, data, *extra)
            async with self._in_order(sid):
                return await answer(sid, data, *extra)

        async def answer(sid: str, data: Any = None, *extra: Any) -> dict[str, Any]:
            try:
                user = self.user(sid)
                wait = self.event_buckets.take(sid)
                if wait:
                    raise RateLimited(wait, N_("too many events on this connection; slow down"))
                if not isinstance(data, dict) or extra:
                    raise ValidationError(
                        N_("{event}: the payload must be one JSON object"), event=event
                    )
                check_value(data)
                if self._fanout is not None and not self._fanout.available:
                    # Without Redis nothing reaches the other daemons: say so before acting.
                    raise Unavailable(REDIS)
                result = await handler(user, data)
                return {"ok": True, **(result or {})}
            except ApiError as exc:
                return await self._refuse(sid, exc)
            except Exception as exc:
                outage = outage_of(exc)
                if outage is not None:
                    log.warning("socket event %s failed: %s", event, outage.message)
                    return await self._refuse(sid, outage)
                log.exception("socket event %s failed", event)
                return await self._refuse(sid, ApiError(N_("internal error")))

        self.sio.on(event, wrapped)

    @asynccontextmanager
    async def _in_order(self, sid: str) -> AsyncIterator[None]:
        """Take the socket's turn. The events' tasks start in arrival order, and this is the
        first thing each does: an asyncio.Lock is taken at once when free and otherwise queues
        its waiters first come, first served, so the turns follow the order of arrival."""
        entry = self._turns.get(sid)
        if entry is None:
            entry = self._turns[sid] = (asyncio.Lock(), [0])
        lock, waiting = entry
        waiting[0] += 1
        try:
            async with lock:
                yield
        finally:
            waiting[0] -= 1
            if waiting[0] == 0:
                del self._turns[sid]

    def on_join(self, hook: JoinHook) -> None:
        self._join_hooks.append(hook)

    def on_leave(self, hook: LeaveHook) -> None:
        self._leave_hooks.append(hook)

    def on_disconnect(self, hook: DisconnectHook) -> None:
        self._disconnect_hooks.append(hook)

    async def _refuse(self, sid: str, exc: ApiError) -> dict[str, Any]:
        """The refused ack: the one place a socket's error reaches a person, in its language."""
        self._metrics.socket_errors.labels(code=exc.code).inc()
        user = self.users.get(sid)
        message = exc.localized(user.language if user is not None else "en")
        error: protocol.ErrorBody = {"code": exc.code, "message": message}
        # A refusal is sent as a vn:error event only when there is no ack to carry it.
        if not ack_asked():
            with contextlib.suppress(Unavailable):  # the socket's own daemon delivers it anyway
                await self.sio.emit(protocol.EV_ERROR, error, to=sid)
        return {"ok": False, "error": error}

    async def _unknown(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        # Unknown events cost a token like any other, so they cannot be sent at any rate.
        wait = self.event_buckets.take(sid)
        if wait:
            return await self._refuse(
                sid, RateLimited(wait, N_("too many events on this connection; slow down"))
            )
        shown = event[: protocol.EVENT_NAME_SHOWN_CHARS]
        return await self._refuse(sid, UnknownEvent(N_("unknown event {event}"), event=repr(shown)))

    # --- connection -------------------------------------------------------------------
    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        request: web.Request = environ["aiohttp.request"]
        token = None
        if isinstance(auth, dict) and isinstance(auth.get("token"), str):
            token = auth["token"]
        if token is None:
            token = request.cookies.get(protocol.AUTH_COOKIE)
        accept_language = request.headers.get("Accept-Language")
        if not token:
            refusal = Unauthenticated(N_("a token is required"))
            raise _refused(refusal, language_of(None, accept_language))
        try:
            who = await self._identify(token)
        except ApiError as exc:
            raise _refused(exc, language_of(None, accept_language)) from exc
        language = language_of(who.language, accept_language)
        if sum(u.user_id == who.user_id for u in self.users.values()) >= self._max_sockets:
            too_many = Conflict(
                N_(
                    "{count} connections of this account are open on this daemon, "
                    "the most it allows; close one first"
                ),
                count=self._max_sockets,
            )
            raise _refused(too_many, language)
        self.users[sid] = SocketUser(
            sid=sid,
            user_id=who.user_id,
            username=who.username,
            session=who.session,
            language=language,
            browser_language=language_of(None, accept_language),
        )
        await self.sio.enter_room(sid, protocol.user_channel(who.user_id))
        # The token was checked once, here: without this timer the socket would outlive it.
        loop = asyncio.get_running_loop()
        delay = max(0.0, who.expires_at - time.time())
        self._expiry[sid] = loop.call_later(delay, self._expire, sid)

    async def _redis_back(self) -> None:
        """Redis is back after this daemon's listener lost it: what other daemons (or this one)
        published meanwhile never reached this daemon's sockets, and nothing will tell their
        clients. Closing the sockets does: each client connects again and joins its rooms with
        `since`, and the join replays what it missed (chat is in the database before it is
        published; the other features rebuild their state from a join). The listener awaits
        this before it hands on any message: a socket that took messages published after the
        return would join again with `since` past the ones it missed."""
        closed = await close_every_socket(self.sio, SOCKETS_CLOSE_SECONDS, forget=False)
        log.warning("redis is back: closed %d sockets so their clients catch up", closed)

    def _expire(self, sid: str) -> None:
        self._expiry.pop(sid, None)
        if sid in self.users:
            task = asyncio.create_task(self._end(sid, N_("your session has expired: log in again")))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

    async def _end(self, sid: str, message: str) -> None:
        user = self.users.get(sid)
        text = translate(message, user.language if user is not None else "en")
        error: protocol.ErrorBody = {"code": protocol.ErrorCode.UNAUTHENTICATED, "message": text}
        self._ended.add(sid)
        try:
            await self.sio.emit(protocol.EV_SESSION_ENDED, error, to=sid)
            await self.sio.disconnect(sid)
        except Exception:
            log.exception("could not end socket %s", sid)

    def speak(self, user_id: int, saved: str | None) -> None:
        """The account saved another language (None: none): its sockets on this daemon speak
        it from now on, without connecting again."""
        for sid, u in list(self.users.items()):
            if u.user_id == user_id:
                language = language_of(saved, None) if saved else u.browser_language
                self.users[sid] = dataclasses.replace(u, language=language)

    async def end_sessions(self, *, session: str | None = None, user_id: int | None = None) -> int:
        """Disconnect this daemon's sockets of one login session (or of every session of one
        user): after a logout, the session's sockets stop working at once."""
        ended = [
            sid
            for sid, u in list(self.users.items())
            if (session is not None and u.session == session)
            or (user_id is not None and u.user_id == user_id)
        ]
        for sid in ended:
            await self._end(sid, N_("this session has ended: log in again"))
        return len(ended)

    async def _disconnect(self, sid: str, *reason: Any) -> None:
        self.event_buckets.forget(sid)
        timer = self._expiry.pop(sid, None)
        if timer is not None:
            timer.cancel()
        self._ended.discard(sid)
        user = self.users.pop(sid, None)
        if user is None:
            return
        # The manager empties the socket's rooms only after this handler returns.
        prefix = protocol.room_channel("")
        for channel in self.sio.rooms(sid):
            if channel.startswith(prefix):
                room_id = channel[len(prefix) :]
                async with self.room_lock(room_id):
                    await self.sio.leave_room(sid, channel)
                    await self._run_leave_hooks(user, room_id)
        for hook in self._disconnect_hooks:
            await hook(user)

    def user(self, sid: str) -> SocketUser:
        user = self.users.get(sid)
        if user is None:
            raise Unauthenticated(N_("this connection is not authenticated"))
        if sid in self._ended:
            raise Unauthenticated(N_("this session has ended: log in again"))
        return user

    # --- room channels ------------------------------------------------------------------
    @asynccontextmanager
    async def room_lock(self, room_id: str) -> AsyncIterator[None]:
        """Hold the room's lock: channel changes and ordered fan-out in a room take turns."""
        entry = self._locks.get(room_id)
        if entry is None:
            entry = self._locks[room_id] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[room_id]

    async def _run_leave_hooks(self, user: SocketUser, room_id: str) -> None:
        for hook in self._leave_hooks:
            try:
                await hook(user, room_id)
            except Exception:
                log.exception("leave hook failed for room %s", room_id)

    def joined(self, sid: str, room_id: str) -> bool:
        """Whether the socket is in the room's channel (on this daemon)."""
        return sid in room_members(self.sio, protocol.room_channel(room_id))

    async def enter(self, user: SocketUser, room_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Put the socket in the room's channel and run the join hooks: the join ack's fields.

        The caller has checked that the user may enter. A refused hook leaves no trace.
        """
        channel = protocol.room_channel(room_id)
        ack: dict[str, Any] = {"room_id": room_id}
        async with self.room_lock(room_id):
            was_joined = self.joined(user.sid, room_id)
            await self.sio.enter_room(user.sid, channel)
            try:
                for hook in self._join_hooks:
                    ack.update(await hook(user, room_id, data))
            except BaseException:
                if not was_joined:
                    await self.sio.leave_room(user.sid, channel)
                    await self._run_leave_hooks(user, room_id)
                raise
        return ack

    async def exit(self, user: SocketUser, room_id: str) -> None:
        """Take the socket out of the room's channel (nothing happens if it was not in it)."""
        async with self.room_lock(room_id):
            if self.joined(user.sid, room_id):
                await self.sio.leave_room(user.sid, protocol.room_channel(room_id))
                await self._run_leave_hooks(user, room_id)

    def sids_of(self, room_id: str, user_id: int) -> list[str]:
        """The user's sockets currently in the room's channel (this daemon only)."""
        channel = protocol.room_channel(room_id)
        return [
            sid
            for sid, _eio_sid in self.sio.manager.get_participants("/", channel)
            if (u := self.users.get(sid)) is not None and u.user_id == user_id
        ]

    async def drop_from_room(self, room_id: str, user_id: int) -> None:
        """After the user left the room: take each of their sockets here out of its channel."""
        async with self.room_lock(room_id):
            for sid in self.sids_of(room_id, user_id):
                await self.sio.leave_room(sid, protocol.room_channel(room_id))
                user = self.users.get(sid)
                if user is not None:
                    await self._run_leave_hooks(user, room_id)
                await self.sio.emit(protocol.EV_ROOM_REMOVED, {"room_id": room_id}, to=sid)

    async def close_room(self, room_id: str, name: str) -> None:
        """The room was deleted: tell each of its sockets here, and take them out of its channel."""
        channel = protocol.room_channel(room_id)
        async with self.room_lock(room_id):
            for sid, _eio_sid in list(self.sio.manager.get_participants("/", channel)):
                await self.sio.emit(
                    protocol.EV_ROOM_DELETED, {"room_id": room_id, "name": name}, to=sid
                )
                await self.sio.leave_room(sid, channel)
                user = self.users.get(sid)
                if user is not None:
                    await self._run_leave_hooks(user, room_id)


def _refused(exc: ApiError, language: str) -> Exception:
    """A refused connection; the client receives {"message": ..., "data": ErrorBody}."""
    message = exc.localized(language)
    error: protocol.ErrorBody = {"code": exc.code, "message": message}
    return socketio.exceptions.ConnectionRefusedError(message, error)  # type: ignore[no-any-return]
