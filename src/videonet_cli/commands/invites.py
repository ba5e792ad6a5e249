"""`videonet invite [--room ROOM]` (a link that does everything), `videonet invite create|list`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from videonet_cli.commands import common
from videonet_cli.commands.completion import complete_room
from videonet_cli.errors import UsageError
from videonet_cli.i18n import N_, _
from videonet_cli.render import console as output
from videonet_protocol import protocol
from videonet_protocol.durations import parse_duration

if TYPE_CHECKING:
    from videonet_cli.api import Api

app = typer.Typer(
    help=_("Invite someone: a link to paste (with --room, into that room); codes (create, list)."),
    invoke_without_command=True,
)

INVITE_COLUMNS = [
    ("code", N_("Code")),
    ("uses_left", N_("Uses left")),
    ("max_uses", N_("Uses")),
    ("expires_at", N_("Expires")),
    ("created_at", N_("Created")),
]


def invite_lifetime(text: str) -> int:
    """--expires in seconds, within the daemon's limits (a bare number is seconds)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(_("--expires: {problem}").format(problem=exc)) from exc
    low, high = protocol.INVITE_MIN_LIFETIME_SECONDS, protocol.INVITE_MAX_LIFETIME_SECONDS
    if not low <= seconds <= high:
        raise UsageError(
            _(
                "--expires: {text} is {seconds} s; an invite lives from {low} minute "
                "to {high} days (e.g. 30m, 12h, 7d)"
            ).format(text=repr(text), seconds=seconds, low=low // 60, high=high // 86400)
        )
    return seconds


@app.callback(
    help=_(
        "Print one line for the person you invite to paste: `videonet join LINK`. The link is "
        "single-use; it makes their account on this daemon, logs them in and, with --room, puts "
        "them in the room (opened in a browser, it shows the same sign-up). Logged in there "
        "already, they only join the room."
    )
)
def invite(
    ctx: typer.Context,
    room: str | None = typer.Option(
        None,
        "--room",
        metavar="ROOM",
        help=_("The room the invited person joins (its name or id; you are a member)."),
        autocompletion=complete_room,
    ),
    expires: str | None = typer.Option(
        None,
        "--expires",
        metavar="DURATION",
        help=_("Lifetime: 30m, 12h, 7d, 2w (default: 7 days with --room, else no end)."),
    ),
    json_out: bool = typer.Option(False, "--json", help=_("Print JSON (the invite and its link).")),
) -> None:
    """Print one line for the person you invite to paste: `videonet join LINK`. The link is
    single-use; it makes their account on this daemon, logs them in and, with --room, puts them
    in the room (opened in a browser, it shows the same sign-up). Logged in there already,
    they only join the room."""
    if ctx.invoked_subcommand is not None:
        if room or expires or json_out:
            raise UsageError(_("--room, --expires and --json go after the subcommand, or alone"))
        return
    expires_in = invite_lifetime(expires) if expires else None
    server = common.server_of(ctx)

    async def make(api: Api) -> protocol.InviteInfo:
        room_id = (await api.rooms.resolve(room))["id"] if room else None
        return await api.invites.create(1, expires_in, room_id)

    made = common.call(ctx, make)
    line = f"videonet join {protocol.invite_link(server, made['code'])}"
    if json_out:
        output.print_json({**made, "link": protocol.invite_link(server, made["code"])})
        return
    if made["room"] and made["expires_at"]:
        told = _(
            "An invite into {room} for one person, until {until}; they paste this line "
            "(or open the link in a browser):"
        )
    elif made["room"]:
        told = _(
            "An invite into {room} for one person, with no end; they paste this line "
            "(or open the link in a browser):"
        )
    elif made["expires_at"]:
        told = _(
            "An invite for one person, until {until}; they paste this line "
            "(or open the link in a browser):"
        )
    else:
        told = _(
            "An invite for one person, with no end; they paste this line "
            "(or open the link in a browser):"
        )
    room_name = made["room"]["name"] if made["room"] else ""
    until = output.local_time(made["expires_at"]) if made["expires_at"] else ""
    typer.echo(told.format(room=room_name, until=until), err=True)
    output.info(line)


@app.command("create", help=_("Make an invite code for someone to register with."))
def create(
    ctx: typer.Context,
    uses: int = typer.Option(1, "--uses", min=1, max=protocol.INVITE_MAX_USES, help=_("Uses.")),
    expires: str | None = typer.Option(
        None, "--expires", metavar="DURATION", help=_("Lifetime: 30m, 12h, 7d, 2w.")
    ),
    json_out: bool = typer.Option(False, "--json", help=_("Print JSON.")),
) -> None:
    """Make an invite code for someone to register with."""
    expires_in = invite_lifetime(expires) if expires else None

    invite = common.call(ctx, lambda api: api.invites.create(uses, expires_in))
    if json_out:
        output.print_json(invite)
    else:
        output.info(invite["code"])


@app.command("list", help=_("List the invite codes you made, with the uses left."))
def list_(
    ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help=_("Print JSON."))
) -> None:
    """List the invite codes you made, with the uses left."""
    invites = common.call(ctx, lambda api: api.invites.list())
    if json_out:
        output.print_json(invites)
    else:
        output.print_table(invites, [(k, _(h)) for k, h in INVITE_COLUMNS], title=_("Your invites"))
