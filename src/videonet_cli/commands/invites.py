"""`videonet invite create|list`."""

from __future__ import annotations

import typer

from videonet_cli.commands import common
from videonet_cli.errors import UsageError
from videonet_cli.render import console as output
from videonet_protocol import protocol
from videonet_protocol.durations import parse_duration

app = typer.Typer(help="Create and list invite codes.", no_args_is_help=True)

INVITE_COLUMNS = [
    ("code", "Code"),
    ("uses_left", "Uses left"),
    ("max_uses", "Uses"),
    ("expires_at", "Expires"),
    ("created_at", "Created"),
]


def invite_lifetime(text: str) -> int:
    """--expires in seconds, within the daemon's limits (a bare number is seconds)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--expires: {exc}") from exc
    low, high = protocol.INVITE_MIN_LIFETIME_SECONDS, protocol.INVITE_MAX_LIFETIME_SECONDS
    if not low <= seconds <= high:
        raise UsageError(
            f"--expires: {text!r} is {seconds} s; an invite lives from {low // 60} minute "
            f"to {high // 86400} days (e.g. 30m, 12h, 7d)"
        )
    return seconds


@app.command("create")
def create(
    ctx: typer.Context,
    uses: int = typer.Option(1, "--uses", min=1, max=protocol.INVITE_MAX_USES, help="Uses."),
    expires: str | None = typer.Option(
        None, "--expires", metavar="DURATION", help="Lifetime: 30m, 12h, 7d, 2w."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Make an invite code for someone to register with."""
    expires_in = invite_lifetime(expires) if expires else None

    invite = common.call(ctx, lambda api: api.invites.create(uses, expires_in))
    if json_out:
        output.print_json(invite)
    else:
        output.info(invite["code"])


@app.command("list")
def list_(
    ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """List the invite codes you made, with the uses left."""
    invites = common.call(ctx, lambda api: api.invites.list())
    if json_out:
        output.print_json(invites)
    else:
        output.print_table(invites, INVITE_COLUMNS, title="Your invites")
