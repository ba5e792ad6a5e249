"""HTTP handler for GET /api/rooms/{id}/messages?before=&limit= (members only)."""

from __future__ import annotations

from aiohttp import web

from videonet_daemon import keys, protocol
from videonet_daemon.auth.routes import require_user
from videonet_daemon.errors import ValidationError


def _int_param(
    request: web.Request, name: str, default: int | None, lo: int, hi: int
) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError(f"{name} must be an integer") from exc
    if not lo <= value <= hi:
        raise ValidationError(f"{name} must be between {lo} and {hi}")
    return value


async def history(request: web.Request) -> web.Response:
    user = await require_user(request)
    room_id = request.match_info["room_id"]
    before = _int_param(request, "before", None, 1, 2**63 - 1)
    limit = _int_param(
        request, "limit", protocol.HISTORY_PAGE_DEFAULT, 1, protocol.HISTORY_PAGE_MAX
    )
    assert limit is not None
    await request.app[keys.ROOMS].require_member(room_id, user.id)
    messages, has_more = await request.app[keys.CHAT].page(room_id, before, limit)
    page: protocol.HistoryPage = {"room_id": room_id, "messages": messages, "has_more": has_more}
    return web.json_response(page)


def add_routes(app: web.Application) -> None:
    app.router.add_get(protocol.API_ROOM_MESSAGES, history)
