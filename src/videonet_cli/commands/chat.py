"""`videonet chat ROOM`: interactive chat, `--send TEXT` for one message, `--follow` to watch."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import typer

from videonet_cli.commands import common
from videonet_cli.errors import DaemonRefused, UsageError
from videonet_cli.i18n import _
from videonet_cli.render import console as output
from videonet_protocol import protocol

DEFAULT_HISTORY = 20
T = TypeVar("T")


def chat(
    ctx: typer.Context,
    room: str | None = common.DefaultRoomArgument,
    send: str | None = typer.Option(
        None, "--send", help=_("Send TEXT and exit once the daemon has stored it."), metavar="TEXT"
    ),
    follow: bool = typer.Option(
        False, "--follow", "-f", help=_("Print incoming messages until interrupted; read nothing.")
    ),
    history: int | None = typer.Option(
        None,
        "--history",
        "-n",
        min=0,
        max=protocol.HISTORY_PAGE_MAX,
        help=_("Recent messages to show first (default {n}; 0 with --follow).").format(
            n=DEFAULT_HISTORY
        ),
    ),
    since: int | None = typer.Option(
        None,
        "--since",
        min=0,
        help=_("Also show every message after this id (default: where you left off)."),
    ),
    json_out: bool = typer.Option(
        False, "--json", help=_("Print JSON lines: messages, presence, `/who` answers.")
    ),
) -> None:
    """Chat in a room: history first, then live messages and presence; /who, /quit, Ctrl-D.

    With piped standard input each line is sent as a message.
    """
    room = common.room_or_default(room)
    api = common.api_for(ctx)
    if send is not None:
        if follow:
            raise UsageError(_("--send and --follow do not go together"))
        from videonet_cli.chat_events import send_message

        message = _hinted(room, common.using(api, lambda a: send_message(a, room, send)))
        if json_out:
            output.print_json(message)
        else:
            output.info(_("Sent message {id}.").format(id=message["id"]))
        return
    from videonet_cli.chat_repl import ChatOptions, run_chat
    from videonet_cli.render.chat_view import ChatView

    shown = history if history is not None else (0 if follow else DEFAULT_HISTORY)
    options = ChatOptions(room, shown, since, follow)
    view = ChatView(json_out)
    _hinted(room, common.using(api, lambda a: run_chat(a, options, view)))


def _hinted(room: str, work: Coroutine[Any, Any, T]) -> T:
    """Run the command; a refusal because we are not a member says how to become one."""
    try:
        return common.run(work)
    except DaemonRefused as exc:
        if exc.code == protocol.ErrorCode.FORBIDDEN:
            raise DaemonRefused(
                exc.code,
                _("{message}: run `videonet rooms join {room}` first").format(
                    message=exc.message, room=room
                ),
                exc.status,
            ) from exc
        raise


def register_commands(app: typer.Typer) -> None:
    app.command(
        "chat",
        help=_(
            "Chat in a room: history first, then live messages and presence; /who, /quit, "
            "Ctrl-D.\n\nWith piped standard input each line is sent as a message."
        ),
    )(chat)
