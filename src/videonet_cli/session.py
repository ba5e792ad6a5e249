"""What commands share: the chosen server, an authenticated API client, room lookup, asyncio.run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from videonet_cli.config import resolve_server, resolve_token
from videonet_cli.errors import AuthError, NotFoundError, UsageError

if TYPE_CHECKING:
    from videonet_cli.client import ApiClient
    from videonet_daemon.protocol import RoomInfo

T = TypeVar("T")


def server_of(ctx: typer.Context) -> str:
    """The daemon URL chosen by the root ``--server`` option, the environment or the config."""
    root = ctx.find_root()
    option = getattr(root.obj, "server_option", None)
    return resolve_server(option)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """The one ``asyncio.run`` a command makes."""
    return asyncio.run(coro)


def call_api(
    ctx: typer.Context,
    request: Callable[[ApiClient], Awaitable[T]],
    *,
    authenticated: bool = True,
) -> T:
    """Open the API client, make the request(s), close it: the usual body of a command."""

    async def go() -> T:
        async with client(ctx, authenticated=authenticated) as api:
            return await request(api)

    return run(go())


def client(ctx: typer.Context, *, authenticated: bool = True) -> ApiClient:
    from videonet_cli.client import ApiClient

    server = server_of(ctx)
    token = resolve_token(server)
    if authenticated and not token:
        raise AuthError(f"not logged in to {server}: run `videonet login` (or set VIDEONET_TOKEN)")
    return ApiClient(server, token)


async def resolve_room(api: ApiClient, room: str) -> RoomInfo:
    """A room by id or by unique name (case-sensitive first, then case-insensitive)."""
    from videonet_daemon import protocol

    rooms: list[RoomInfo] = await api.get(protocol.API_ROOMS)
    for candidate in rooms:
        if candidate["id"] == room:
            return candidate
    exact = [r for r in rooms if r["name"] == room]
    folded = [r for r in rooms if r["name"].casefold() == room.casefold()]
    for found in (exact, folded):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            ids = ", ".join(r["id"] for r in found)
            raise UsageError(f"several rooms are named {room!r}; use an id: {ids}")
    raise NotFoundError(f"no room named or with id {room!r}")
