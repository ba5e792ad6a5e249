"""The chat core: one room's message stream with catch-up, reconnects and dedupe; sending.

No printing here: `ChatRoom` hands every event (``{"event": "message" | "presence" | "online" |
"status" | "renamed", ...}``) to the `Reporter` it is given. A room deleted while we are in it
ends the chat with `RoomDeleted`. The daemon
replays what a socket missed when it joins with `since` (before any live message), so the client
only has to remember the last id it saw: in memory across reconnects, and in
DATA_DIR/chat-cursors.json across runs, so a client that was killed and restarted shows what it
missed. Ids increase within a room, so anything at or below the last id is a repeat and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videonet_cli.api import Api, SocketClient
from videonet_cli.config import data_dir, write_private_json
from videonet_cli.errors import AuthError, NotFoundError, UnreachableError
from videonet_cli.i18n import N_, _
from videonet_cli.reporting import Reporter
from videonet_protocol import protocol

CURSORS_FILE = "chat-cursors.json"
RECONNECT_FIRST_DELAY = 0.5
RECONNECT_MAX_DELAY = 5.0
# How long a message waits for a lost connection to come back before it is reported unsent.
SEND_WAIT_SECONDS = 30.0


class RoomDeleted(NotFoundError):
    """The room was deleted by its creator."""

    default = N_("The room was deleted by its creator.")


class Cursors:
    """The last message id seen, per server, user and room (written after every message)."""

    def __init__(self, server: str, user_id: int, room_id: str, path: Path | None = None) -> None:
        self.path = path or data_dir() / CURSORS_FILE
        self.key = f"{server} {user_id} {room_id}"

    def load(self) -> int | None:
        try:
            value = json.loads(self.path.read_text(encoding="utf-8")).get(self.key)
        except (OSError, ValueError, AttributeError):
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def save(self, last_id: int) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        data[self.key] = last_id
        with contextlib.suppress(OSError):  # a cursor is a convenience, never a reason to fail
            write_private_json(self.path, data)


@dataclass
class Opening:
    """What `open_room` found: the room, who we are, recent history and where to resume."""

    room: protocol.RoomInfo
    me: protocol.UserInfo
    history: list[protocol.ChatMessage]
    since: int
    cursors: Cursors | None


async def open_room(
    api: Api, room: str, history: int, since: int | None, remember: bool = True
) -> Opening:
    """Resolve the room and decide what to show first.

    Shown first: the last ``history`` messages, then everything after the resume point. The
    resume point is ``since`` if given, else the saved cursor if older than the newest message
    (what this user missed while away), else the newest message.
    """
    me = await api.me()
    found = await api.rooms.resolve(room)
    cursors = Cursors(api.server, me["id"], found["id"]) if remember else None
    page = await api.rooms.messages(found["id"], limit=max(history, 1))
    messages = page["messages"]
    newest = messages[-1]["id"] if messages else 0
    shown = messages[-history:] if history > 0 else []
    saved = cursors.load() if cursors is not None else None
    resume = since if since is not None else saved
    if resume is not None and resume < newest:
        shown = [m for m in shown if m["id"] <= resume]
    else:
        resume = newest
    if cursors is not None and (saved is None or resume > saved):
        # What was shown on entry counts as seen: a session with no live traffic must still
        # leave a point to catch up from next time.
        cursors.save(resume)
    return Opening(found, me, shown, resume, cursors)


class ChatRoom:
    """A live connection to one room: joins, catches up, reconnects, sends and asks who is on."""

    def __init__(self, api: Api, opening: Opening, report: Reporter) -> None:
        self.api = api
        self.room_id = opening.room["id"]
        self.room_name = opening.room["name"]
        self.me = opening.me
        self.last_id = opening.since
        self.report = report
        self.cursors = opening.cursors
        self.joined = asyncio.Event()
        self._closed = asyncio.Event()
        self.client: SocketClient | None = None
        self._lost = asyncio.Event()
        self._removed = False
        self._deleted = False
        self._first_join = True

    # --- incoming -------------------------------------------------------------------------
    # These run synchronously up to the reporter, so events are handled in the order they arrive.
    async def _on_message(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("room_id") != self.room_id:
            return
        message_id = data.get("id")
        if not isinstance(message_id, int) or message_id <= self.last_id:
            return  # a repeat (e.g. the backlog overlapping what we saw before a reconnect)
        self.last_id = message_id
        self.report({**data, "event": "message"})
        if self.cursors is not None:
            self.cursors.save(message_id)

    async def _on_presence(self, data: Any) -> None:
        if isinstance(data, dict) and data.get("room_id") == self.room_id:
            self.report({**data, "event": "presence"})

    async def _on_removed(self, data: Any) -> None:
        if isinstance(data, dict) and data.get("room_id") == self.room_id:
            self._removed = True
            self._lost.set()

    async def _on_renamed(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("room_id") != self.room_id:
            return
        name = data.get("name")
        if isinstance(name, str) and name and name != self.room_name:
            old, self.room_name = self.room_name, name
            event = {"event": "renamed", "room_id": self.room_id, "old_name": old, "name": name}
            self.report(event)

    async def _on_deleted(self, data: Any) -> None:
        if isinstance(data, dict) and data.get("room_id") == self.room_id:
            self._deleted = True
            self._lost.set()

    async def _on_disconnect(self, *args: Any) -> None:
        self.joined.clear()
        self._lost.set()

    # --- connection loop ------------------------------------------------------------------
    async def _connect_once(self) -> None:
        client = self.api.socket()
        client.on(protocol.EV_CHAT_MESSAGE, self._on_message)
        client.on(protocol.EV_PRESENCE, self._on_presence)
        client.on(protocol.EV_ROOM_REMOVED, self._on_removed)
        client.on(protocol.EV_ROOM_RENAMED, self._on_renamed)
        client.on(protocol.EV_ROOM_DELETED, self._on_deleted)
        client.on("disconnect", self._on_disconnect)
        self._lost.clear()
        await client.connect()
        self.client = client
        ack = await client.call(
            protocol.EV_ROOM_JOIN, {"room_id": self.room_id, "since": self.last_id}
        )
        self.joined.set()
        if ack.get("truncated"):
            self.report({"event": "status", "status": "truncated"})
        if self._first_join:
            self._first_join = False
            self.report({"event": "online", "online": ack.get("online", [])})
        else:
            self.report({"event": "status", "status": "reconnected"})

    async def run(self, stop: asyncio.Event) -> None:
        """Stay joined until ``stop`` is set; reconnect (with the last seen id) when cut off.

        Raises DaemonRefused if the token stops working, AuthError if the user is no longer a
        member, RoomDeleted if the room was deleted, and UnreachableError if the very first
        connection fails.
        """
        delay = RECONNECT_FIRST_DELAY
        try:
            while not stop.is_set():
                try:
                    await self._connect_once()
                    delay = RECONNECT_FIRST_DELAY
                except UnreachableError:
                    if self._first_join:
                        raise
                else:
                    await _first_of(stop.wait(), self._lost.wait())
                    if self._deleted:
                        raise RoomDeleted(
                            _("the room {room} was deleted by its creator").format(
                                room=self.room_name
                            )
                        )
                    if self._removed:
                        raise AuthError(
                            _("you are no longer a member of {room}").format(room=self.room_name)
                        )
                    if stop.is_set():
                        break
                    self.report({"event": "status", "status": "reconnecting"})
                await self._close_client()
                await _first_of(stop.wait(), asyncio.sleep(delay))
                delay = min(delay * 2, RECONNECT_MAX_DELAY)
        finally:
            self.joined.clear()
            self._closed.set()
            await self._close_client()

    async def _close_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    # --- outgoing -------------------------------------------------------------------------
    async def _call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """One event once joined; a connection lost before the ack is an UnreachableError."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                _first_of(self.joined.wait(), self._closed.wait()), SEND_WAIT_SECONDS
            )
        client = self.client
        if client is None or not self.joined.is_set():
            raise UnreachableError(_("not connected to the daemon"))
        call = asyncio.ensure_future(client.call(event, data))
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({call, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not call.done():
            call.cancel()
            raise UnreachableError(_("the connection was lost before the daemon confirmed"))
        return call.result()

    async def send(self, text: str) -> protocol.ChatMessage:
        """Send one message; return it as stored once the daemon acknowledged it."""
        ack = await self._call(protocol.EV_CHAT_SEND, {"room_id": self.room_id, "text": text})
        message: protocol.ChatMessage = ack["message"]
        return message

    async def who(self) -> list[protocol.PresenceUser]:
        ack = await self._call(protocol.EV_PRESENCE_WHO, {"room_id": self.room_id})
        online: list[protocol.PresenceUser] = ack["online"]
        return online


async def _first_of(*aws: Any) -> None:
    """Wait until the first awaitable finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def send_message(api: Api, room: str, text: str) -> protocol.ChatMessage:
    """`chat ROOM --send TEXT`: one HTTP request, no socket, so the room sees no presence come
    and go; returns the stored message."""
    found = await api.rooms.resolve(room)
    return await api.rooms.post_message(found["id"], text)


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM end the chat cleanly instead of with a traceback."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
