"""The chat feature: history and one-off messages over HTTP, chat:send and the join backlog
over Socket.IO."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.chat.events import ChatEvents
from videonet_daemon.chat.routes import ChatRoutes
from videonet_daemon.chat.service import ChatService
from videonet_daemon.feature import Event, Quiet
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.settings import Settings
from videonet_protocol import protocol


class ChatFeature(Quiet):
    def __init__(
        self, chat: ChatService, guard: RoomGuard, who: RequestAuth, settings: Settings
    ) -> None:
        self._chat = chat
        self._guard = guard
        self._settings = settings
        self._who = who

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        events = ChatEvents(self._chat, self._guard, hub, self._settings)
        routes = ChatRoutes(self._chat, self._guard, self._who, events.post, events.max_chars)
        router.add_routes(routes.routes())
        hub.add_events([Event(protocol.EV_CHAT_SEND, events.send)])
        hub.on_join(events.sync)
