"""HTTP handlers for /api/rooms/{id}/messages (members only): GET ?before=&limit= pages the
history; POST {text} sends one message without a socket (`chat ROOM --send`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.chat.service import ChatService, check_text
from videonet_daemon.errors import ValidationError
from videonet_daemon.i18n import N_
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.validation import read_json
from videonet_protocol import protocol


def _int_param(
    request: web.Request, name: str, default: int | None, lo: int, hi: int
) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError(N_("{name} must be an integer"), name=name) from exc
    if not lo <= value <= hi:
        raise ValidationError(N_("{name} must be between {lo} and {hi}"), name=name, lo=lo, hi=hi)
    return value


Post = Callable[[str, int, str, str], Awaitable[protocol.ChatMessage]]


class ChatRoutes:
    def __init__(
        self, chat: ChatService, guard: RoomGuard, who: RequestAuth, post: Post, max_chars: int
    ) -> None:
        self._chat = chat
        self._guard = guard
        self._who = who
        self._post = post  # ChatEvents.post: the same store-then-fan-out as `chat:send`
        self._max_chars = max_chars

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(protocol.API_ROOM_MESSAGES, self.history),
            web.post(protocol.API_ROOM_MESSAGES, self.send),
        ]

    async def send(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        room_id = request.match_info["room_id"]
        body = await read_json(request)
        text = check_text(body.get("text"), self._max_chars)
        message = await self._post(room_id, user.id, user.username, text)
        return web.json_response(message, status=201)

    async def history(self, request: web.Request) -> web.Response:
        user = await self._who.require_user(request)
        room_id = request.match_info["room_id"]
        before = _int_param(request, "before", None, 1, 2**63 - 1)
        limit = _int_param(
            request, "limit", protocol.HISTORY_PAGE_DEFAULT, 1, protocol.HISTORY_PAGE_MAX
        )
        assert limit is not None
        await self._guard.require_member(room_id, user.id)
        messages, has_more = await self._chat.page(room_id, before, limit)
        page: protocol.HistoryPage = {
            "room_id": room_id,
            "messages": messages,
            "has_more": has_more,
        }
        return web.json_response(page)
