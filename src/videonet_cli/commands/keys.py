"""`videonet keys [USER]`, `videonet keys verify USER`, `videonet keys trust USER NUMBER`,
`videonet keys remove DEVICE`.

`keys` alone or with a name runs `keys show`: a first word that is not a subcommand is a user.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from videonet_cli.commands import common
from videonet_cli.i18n import _
from videonet_cli.render import console as output


class _ShowByDefault(TyperGroup):
    # ctx is typer's vendored click Context, which typer does not export by name.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_ShowByDefault,
    help=_(
        "Identities: yours and your devices, a member's checked against the pinned identity, "
        "safety numbers to compare, a number recorded as verified."
    ),
)

JsonOption = typer.Option(False, "--json", help=_("Print JSON."))
NumberArgument = typer.Argument(
    ..., help=_("Your safety number with them (spaces and dashes are fine).")
)


@app.command(
    "show",
    help=_("Your identity and devices, or a member's identity and devices against the pin."),
)
def show(
    ctx: typer.Context,
    user: str | None = typer.Argument(
        None,
        help=_("A member's username (default: your own devices)."),
        show_default=False,
        metavar="USER",
    ),
    json_out: bool = JsonOption,
) -> None:
    from videonet_cli.identity import core, devices
    from videonet_cli.render import devices_view, keys_view

    if user is None:
        mine = common.call(ctx, devices.my_devices)
        if json_out:
            output.print_json(devices_view.my_devices_json(mine))
        else:
            devices_view.show_my_devices(mine)
        return
    theirs = common.call(ctx, lambda api: core.peer_keys(api, user))
    if json_out:
        output.print_json(keys_view.peer_keys_json(theirs))
    else:
        keys_view.show_peer_keys(theirs)


@app.command(
    "verify",
    help=_(
        "Your safety number with USER (and a QR code): compare it with theirs in person or by\n"
        "phone, then run `videonet keys trust USER NUMBER`."
    ),
)
def verify(
    ctx: typer.Context,
    user: str = typer.Argument(..., help=_("The member to compare identities with.")),
    json_out: bool = JsonOption,
) -> None:
    from videonet_cli.identity import core
    from videonet_cli.render import keys_view

    safety = common.call(ctx, lambda api: core.verify(api, user))
    if json_out:
        output.print_json(keys_view.safety_json(safety))
    else:
        keys_view.show_safety(safety)


@app.command(
    "trust",
    help=_(
        "Record USER's identity as verified, after comparing safety numbers (also how a changed\n"
        "identity is accepted)."
    ),
)
def trust(
    ctx: typer.Context,
    user: str = typer.Argument(..., help=_("The member's username.")),
    number: list[str] = NumberArgument,
    json_out: bool = JsonOption,
) -> None:
    from videonet_cli.identity import core
    from videonet_cli.render import keys_view

    typed = " ".join(number)
    safety = common.call(ctx, lambda api: core.trust_number(api, user, typed))
    if json_out:
        output.print_json(keys_view.safety_json(safety))
    else:
        output.info(
            _(
                "Verified {user}'s identity ({fingerprint}): files to and from them now say so."
            ).format(user=safety.username, fingerprint=safety.identity_fingerprint)
        )


@app.command(
    "remove",
    help=_("Remove one of your devices for good (the same as `videonet devices remove`)."),
)
def remove(
    ctx: typer.Context,
    device: str = typer.Argument(..., help=_("One of your devices (id, start of id, or label).")),
    json_out: bool = JsonOption,
) -> None:
    from videonet_cli.commands.devices import remove as remove_device

    remove_device(ctx, device, json_out)
