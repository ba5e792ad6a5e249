"""`videonet join LINK`: everything an invite link stands for, in one command.

The link (made by `videonet invite`) names the daemon and holds the invite code in its fragment.
Without an account there, `join` makes one (email, username, one new password asked twice),
logs in, saves the daemon as the default server, makes this device's identity and joins the
invite's room: the daemon adds the new account to it in the transaction that takes the invite.
Logged in there already, `join` only takes the invite's room with that account.
"""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING, Any

import typer

from videonet_cli.commands import common
from videonet_cli.commands.auth import log_in, read_password, save_session, show_login
from videonet_cli.config import insecure_allowed, resolve_token, save_server
from videonet_cli.errors import UnreachableError, UsageError
from videonet_cli.i18n import _
from videonet_cli.render import console as output
from videonet_protocol import protocol

if TYPE_CHECKING:
    from videonet_cli.api import Api

LINK_HELP = _("The invite link (`videonet invite` prints it): https://HOST/#join=CODE.")


def parse_link(ctx: typer.Context, link: str) -> tuple[str, str]:
    """(daemon URL, invite code) from the link, the URL checked as --server would be."""
    from videonet_cli.server_url import validate_server

    try:
        origin, code = protocol.parse_invite_link(link)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    root_insecure = bool(getattr(ctx.find_root().obj, "insecure", False))
    try:
        server = validate_server(origin, allow_insecure=insecure_allowed(root_insecure))
    except UsageError as exc:
        raise UsageError(exc.message.replace("--server: ", _("the link: "), 1)) from exc
    return server, code


def ask(label: str, missing: str, given: str | None) -> str:
    """An option's value, or asked for on a terminal (``missing``, a usage error, without one)."""
    if given:
        return given
    if not sys.stdin.isatty():
        raise UsageError(missing)
    while True:
        value = str(typer.prompt(label)).strip()
        if value:
            return value


def join(
    ctx: typer.Context,
    link: str = typer.Argument(..., help=LINK_HELP, metavar="LINK", show_default=False),
    email: str | None = typer.Option(
        None, "--email", help=_("Your email address, your login (asked if left out).")
    ),
    username: str | None = typer.Option(
        None, "--username", help=_("The name others see (asked if left out).")
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help=_("Read the new password from standard input (first line).")
    ),
    json_out: bool = typer.Option(False, "--json", help=_("Print the result as JSON.")),
) -> None:
    """Accept an invite link: make your account on its daemon (or use the one you are logged in
    to there), log in, save the daemon as your server, and join the invite's room.

    The link names the daemon, so --server is not needed. A link that is not an invite link is
    exit 2; an invite that is unknown, used or expired exit 1; a daemon that does not answer 5."""
    server, code = parse_link(ctx, link)
    try:  # a daemon that does not answer: exit 5 before any question
        common.probe(server)
    except UnreachableError as exc:
        reason = exc.message.partition("): ")[0] + ")" if "): " in exc.message else exc.message
        raise UnreachableError(
            _(
                "{reason}: the daemon this invite link names does not answer; check the link "
                "with whoever sent it"
            ).format(reason=reason)
        ) from exc
    if resolve_token(server):
        room = common.call_at(server, lambda api: api.invites.redeem(code))
        save_server(server)
        if json_out:
            output.print_json({"server": server, "room": room, "registered": False})
            return
        output.info(
            _("Joined the room {room} on {server}.").format(room=room["name"], server=server)
        )
        _next_steps(room)
        return

    email = ask(_("Email"), _("no email: pass --email (there is no terminal to ask on)"), email)
    username = ask(
        _("Username"), _("no username: pass --username (there is no terminal to ask on)"), username
    )
    password = read_password(password_stdin, confirm=True)

    async def sign_up(api: Api) -> tuple[Any, Any, Any]:
        made = await api.auth.register(email, username, password, code)
        session, device = await log_in(api, email, password)
        return made, session, device

    made, session, device = common.call_at(server, sign_up, authenticated=False)
    save_session(server, session)
    room = made.get("room")
    if json_out:
        output.print_json(
            {
                **made,
                "server": server,
                "registered": True,
                "expires_at": session["expires_at"],
                "device": device.as_json(),
            }
        )
        return
    registered = (
        _("Registered {user} on {server} and joined the room {room}.")
        if room
        else _("Registered {user} on {server}.")
    )
    output.info(
        registered.format(
            user=made["user"]["username"], server=server, room=room["name"] if room else ""
        )
    )
    show_login(server, session, device)
    if room:
        _next_steps(room)


def _next_steps(room: protocol.InvitedRoom) -> None:
    output.info(
        _("To take a file sent to it: {command}").format(
            command=f"videonet receive {shlex.quote(room['name'])}"
        )
    )


def register_commands(app: typer.Typer) -> None:
    app.command(
        "join",
        help=_(
            "Accept an invite link: make your account on its daemon (or use the one you are "
            "logged in to there), log in, save the daemon as your server, and join the invite's "
            "room.\n\nThe link names the daemon, so --server is not needed. A link that is not "
            "an invite link is exit 2; an invite that is unknown, used or expired exit 1; a "
            "daemon that does not answer 5."
        ),
    )(join)
