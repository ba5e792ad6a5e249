"""What the commands share: the chosen server, the one way to an `Api`, the one asyncio.run.

The only module besides the commands that knows typer; the cores take an `Api` instead.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from videonet_cli.commands.completion import complete_room
from videonet_cli.config import config_value, resolve_server, resolve_token
from videonet_cli.errors import AuthError, UsageError
from videonet_cli.i18n import _
from videonet_cli.render.console import is_yes

if TYPE_CHECKING:
    from videonet_cli.api import Api

T = TypeVar("T")

# ROOM for the commands that act in one room: left out, the saved `room` (videonet config).
DefaultRoomArgument = typer.Argument(
    None,
    help=_(
        "Room id or unique name, or @USER: your direct room with USER (default: the saved "
        "`room`, see videonet config)."
    ),
    metavar="ROOM",
    autocompletion=complete_room,
    show_default=False,
)


def room_or_default(room: str | None) -> str:
    """The ROOM given, else the saved default room, else a usage error saying how to set one."""
    chosen = room or config_value("room")
    if not chosen:
        raise UsageError(_("no ROOM given and no default room: `videonet config set room NAME`"))
    return chosen


def server_of(ctx: typer.Context) -> str:
    """The daemon URL chosen by ``--server`` (before or after the command), the environment or
    the config, checked (`server_url.validate_server`)."""
    root = ctx.find_root()
    option = getattr(root.obj, "server_option", None)
    return resolve_server(option, insecure=bool(getattr(root.obj, "insecure", False)))


def api_for(ctx: typer.Context, *, authenticated: bool = True) -> Api:
    """The client for the chosen server with the saved token (or VIDEONET_TOKEN); not yet open.

    With ``authenticated`` a missing token is an AuthError before anything is sent, unless the
    daemon cannot be reached at all: a wrong --server must say "cannot reach", not "log in".
    """
    from videonet_cli.api import Api

    server = server_of(ctx)
    token = resolve_token(server)
    if authenticated and not token:
        run(Api(server, None).probe())
        raise AuthError(
            _("not logged in to {server}: run `videonet login` (or set VIDEONET_TOKEN)").format(
                server=server
            )
        )
    return Api(server, token)


def probe(server: str) -> None:
    """UnreachableError (exit 5) unless the daemon at ``server`` answers its health check."""
    from videonet_cli.api import Api

    run(Api(server, None).probe())


def call_at(server: str, work: Callable[[Api], Awaitable[T]], *, authenticated: bool = True) -> T:
    """`call` on a daemon named by the input (an invite link) rather than by --server."""
    from videonet_cli.api import Api

    token = resolve_token(server) if authenticated else None
    return run(using(Api(server, token), work))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """The one ``asyncio.run`` a command makes.

    Start-up ends here: what was imported is moved out of the collector's sight (never garbage;
    a full collection would walk it all) and collection, off since main(), is on again.
    """
    gc.freeze()
    gc.enable()
    return asyncio.run(coro)


def call(
    ctx: typer.Context,
    work: Callable[[Api], Awaitable[T]],
    *,
    authenticated: bool = True,
) -> T:
    """Open the client, run ``work`` with it (a core, or a few API calls), close it."""
    return run(using(api_for(ctx, authenticated=authenticated), work))


async def using(api: Api, work: Callable[[Api], Awaitable[T]]) -> T:
    """``work`` with the client open (for commands that build the client before the run)."""
    async with api:
        return await work(api)


# The same in every language: y and yes always work, and no is the default.
YES_NO_HINT = "[y/N]"


def confirm(question: str) -> bool:
    """Ask ``question`` on stderr with ``[y/N]`` and read one line: yes (`is_yes`) or no.

    click's confirm says its own English ("Error: invalid input") and knows only y/n; here
    anything that is not yes is no, the safe answer to every question this CLI asks, and so is
    the end of input. click's prompt still writes the question: it reaches the terminal past a
    live display (which holds back a plain write until its line ends).
    """
    try:
        answer: str = typer.prompt(
            f"{question} {YES_NO_HINT}", default="", show_default=False, err=True
        )
    except typer.Abort:
        return False
    return is_yes(answer)
