"""`videonet chat ROOM`: interactive chat, `--send TEXT` for one message, `--follow` to watch."""

from __future__ import annotations

import typer

from videonet_cli import output, session
from videonet_cli.config import resolve_token
from videonet_cli.errors import AuthError, CliError, UsageError
from videonet_daemon import protocol

DEFAULT_HISTORY = 20


def chat(
    ctx: typer.Context,
    room: str = typer.Argument(..., help="Room id or unique name.", metavar="ROOM"),
    send: str | None = typer.Option(
        None, "--send", help="Send TEXT and exit once the daemon has stored it.", metavar="TEXT"
    ),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Print incoming messages until interrupted; read nothing."
    ),
    history: int | None = typer.Option(
        None,
        "--history",
        "-n",
        min=0,
        max=protocol.HISTORY_PAGE_MAX,
        help=f"Recent messages to show first (default {DEFAULT_HISTORY}; 0 with --follow).",
    ),
    since: int | None = typer.Option(
        None,
        "--since",
        min=0,
        help="Also show every message after this id (default: where you left off).",
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print JSON lines: messages, presence, `/who` answers."
    ),
) -> None:
    """Chat in a room: history first, then live messages and presence; /who, /quit, Ctrl-D.

    With piped standard input each line is sent as a message.
    """
    server = session.server_of(ctx)
    token = resolve_token(server)
    if not token:
        raise AuthError(f"not logged in to {server}: run `videonet login` (or set VIDEONET_TOKEN)")
    if send is not None:
        if follow:
            raise UsageError("--send and --follow do not go together")
        message = session.run(_send(server, token, room, send))
        if json_out:
            output.print_json(message)
        else:
            output.info(f"Sent message {message['id']}.")
        return
    from videonet_cli.chat_ui import ChatOptions, run_chat

    shown = history if history is not None else (0 if follow else DEFAULT_HISTORY)
    options = ChatOptions(room, shown, since, follow, json_out)
    try:
        session.run(run_chat(server, token, options))
    except CliError as exc:
        raise _with_hint(exc, room) from exc


async def _send(server: str, token: str, room: str, text: str) -> protocol.ChatMessage:
    from videonet_cli.chat import send_message
    from videonet_cli.client import ApiClient

    async with ApiClient(server, token) as api:
        try:
            return await send_message(api, token, room, text)
        except CliError as exc:
            raise _with_hint(exc, room) from exc


def _with_hint(exc: CliError, room: str) -> CliError:
    if isinstance(exc, AuthError) and "not a member" in exc.message:
        return AuthError(f"{exc.message}: run `videonet rooms join {room}` first")
    return exc


def register_commands(app: typer.Typer) -> None:
    app.command("chat")(chat)
