"""`videonet keys [USER]`, `videonet keys trust USER FINGERPRINT`, `videonet keys remove DEVICE`.

`keys` alone or with a name runs `keys show`: a first word that is not a subcommand is a user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from videonet_cli.commands import common
from videonet_cli.errors import KeyChangedError
from videonet_cli.render import console as output

if TYPE_CHECKING:
    from videonet_cli.api import Api


class _ShowByDefault(TyperGroup):
    # ctx is typer's vendored click Context, which typer does not export by name.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_ShowByDefault,
    help="Device keys: your fingerprint, members' keys pinned on first use, trust a changed key.",
)

JsonOption = typer.Option(False, "--json", help="Print JSON.")


@app.command("show")
def show(
    ctx: typer.Context,
    user: str | None = typer.Argument(
        None,
        help="A member's username (default: your own devices).",
        show_default=False,
        metavar="USER",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Your devices and fingerprint, or a member's devices checked against the pinned keys."""
    from videonet_cli.identity import core
    from videonet_cli.render import keys_view

    if user is None:
        mine = common.call(ctx, lambda api: core.my_keys(api))
        if json_out:
            output.print_json(keys_view.my_keys_json(mine))
        else:
            keys_view.show_my_keys(mine)
        return

    known = core.known_keys()
    theirs = common.call(ctx, lambda api: core.peer_keys(api, user, known))
    if json_out:
        output.print_json(keys_view.peer_keys_json(theirs))
    else:
        keys_view.show_peer_keys(theirs)
    if theirs.refused:
        if not json_out:
            keys_view.warn_refused(theirs)
        raise KeyChangedError(
            f"{theirs.username} has {len(theirs.refused)} device key(s) you have not trusted: "
            f"compare fingerprints, then `videonet keys trust {theirs.username} FINGERPRINT`"
        )


@app.command("trust")
def trust(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="The member's username."),
    fingerprint: str = typer.Argument(..., help="The fingerprint they read to you."),
    json_out: bool = JsonOption,
) -> None:
    """Pin a member's device key by its fingerprint (after a change, or for a new device)."""
    from videonet_cli.identity import core
    from videonet_cli.render import keys_view

    known = core.known_keys()
    trusted = common.call(ctx, lambda api: core.trust(api, user, fingerprint, known))
    if json_out:
        output.print_json({"username": user, **keys_view.checked_json(trusted)})
    else:
        keys_view.show_trusted(user, trusted)


@app.command("remove")
def remove(
    ctx: typer.Context,
    device_id: str = typer.Argument(..., help="One of your device ids (`videonet keys`)."),
    json_out: bool = JsonOption,
) -> None:
    """Remove one of your devices' public keys from the daemon (a lost or retired machine)."""
    from videonet_cli.identity import core

    async def work(api: Api) -> Any:
        await core.remove_device(api, device_id)
        return {"device_id": device_id, "removed": True}

    result = common.call(ctx, work)
    if json_out:
        output.print_json(result)
    else:
        output.info(f"Removed device {device_id}.")
