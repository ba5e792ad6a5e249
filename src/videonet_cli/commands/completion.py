"""Shell completion from the daemon: room names and room members, where that is cheap.

Completion runs the CLI once per <Tab> with no root callback (click parses resiliently), so the
server and token are found here the same way commands find them. Any failure — no daemon, not
logged in, a slow network — completes nothing rather than printing an error into the shell.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from videonet_cli.api import Api

COMPLETION_TIMEOUT_SECONDS = 2.0
T = TypeVar("T")


def _ask(ctx: typer.Context, work: Callable[[Api], Awaitable[T]]) -> T | None:
    from videonet_cli.api import Api
    from videonet_cli.config import resolve_server, resolve_token

    root = ctx.find_root()
    try:
        server = resolve_server(
            root.params.get("server"), insecure=bool(root.params.get("insecure"))
        )
        token = resolve_token(server)
        if not token:
            return None

        async def run() -> T:
            async with Api(server, token) as api:
                return await asyncio.wait_for(work(api), COMPLETION_TIMEOUT_SECONDS)

        return asyncio.run(run())
    except Exception:  # completion must never break the shell line
        return None


def complete_room(ctx: typer.Context, incomplete: str) -> list[str]:
    """Names of the rooms (falling back to ids for unnamed ones) starting with ``incomplete``."""

    async def names(api: Api) -> list[str]:
        return [str(room["name"] or room["id"]) for room in await api.rooms.list()]

    found = _ask(ctx, names) or []
    return sorted(name for name in found if name.startswith(incomplete))


def _room_on_the_line(ctx: typer.Context) -> str | None:
    """ROOM from the raw line: while an option's value is being completed, click's resilient
    parse of the line (which ends in that option) leaves the arguments unset."""
    line = os.environ.get("_TYPER_COMPLETE_ARGS") or os.environ.get("COMP_WORDS") or ""
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    name = ctx.info_name
    if name not in words:
        return None
    after = words[words.index(name) + 1 :]
    positional = [w for w in after if not w.startswith("-")]
    return positional[0] if positional else None


def complete_member(ctx: typer.Context, incomplete: str) -> list[str]:
    """Usernames of the members of the ROOM already typed on the line."""
    room = ctx.params.get("room") or _room_on_the_line(ctx)
    if not isinstance(room, str) or not room:
        return []

    async def usernames(api: Api) -> list[str]:
        found: Any = await api.rooms.resolve(room)
        return [str(m["username"]) for m in await api.rooms.members(found["id"])]

    names = _ask(ctx, usernames) or []
    return sorted(name for name in names if name.startswith(incomplete))
