"""`videonet devices` (list), `devices link [CODE]`, `devices rename LABEL`, `devices remove
DEVICE`, `devices restore`: this account's devices and the identity that certifies them."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from videonet_cli.commands import common
from videonet_cli.errors import UsageError
from videonet_cli.i18n import _
from videonet_cli.render import console as output


class _ListByDefault(TyperGroup):
    # ctx is typer's vendored click Context, which typer does not export by name.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["list", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_ListByDefault,
    help=_("Your devices: list them, link a new one, rename or remove one, restore your identity."),
)

JsonOption = typer.Option(False, "--json", help=_("Print JSON."))


@app.command(
    "list",
    help=_("Your account's devices: label, short id, certified or revoked, this one marked."),
)
def list_devices(ctx: typer.Context, json_out: bool = JsonOption) -> None:
    from videonet_cli.identity import devices
    from videonet_cli.render import devices_view

    mine = common.call(ctx, devices.my_devices)
    if json_out:
        output.print_json(devices_view.my_devices_json(mine))
    else:
        devices_view.show_my_devices(mine)


def _read_secret(prompt: str, missing: str) -> str:
    if not sys.stdin.isatty():
        raise UsageError(missing)
    value: str = typer.prompt(prompt, hide_input=True)
    return value


@app.command(
    "link",
    help=_(
        "Link a new device: run it there to show a code, then type the code on a device you\n"
        "already use. Both print the same three words."
    ),
)
def link(
    ctx: typer.Context,
    code: str | None = typer.Argument(
        None,
        help=_(
            "On the device that holds your identity: the code the new device shows "
            "(asked for without echo when left out there)."
        ),
        show_default=False,
    ),
    prompt: bool = typer.Option(
        False,
        "--prompt",
        help=_("Ask for the code (no echo) on this device, which holds the identity."),
    ),
    json_out: bool = JsonOption,
) -> None:
    from videonet_cli.identity import linking
    from videonet_cli.render import devices_view

    if code is None and prompt:
        code = _read_secret(
            _("Code shown on the new device"), _("no code given and no terminal to ask for it")
        )
    if code is None:
        linked = common.call(ctx, lambda api: linking.link_new(api, devices_view.show_link_code))
    else:
        typed = code
        linked = common.call(ctx, lambda api: linking.link_existing(api, typed))
    if json_out:
        output.print_json(
            {"words": linked.words, "other": linked.other, "identity": linked.identity_fingerprint}
        )
    else:
        devices_view.show_linked(linked.words, linked.other)


@app.command(
    "rename",
    help=_("Give a device a new label (certified anew by your identity)."),
)
def rename(
    ctx: typer.Context,
    label: str = typer.Argument(..., help=_("The new label.")),
    device: str | None = typer.Option(
        None, "--device", help=_("Which device (id, start of id, or label); default: this one.")
    ),
    json_out: bool = JsonOption,
) -> None:
    from videonet_cli.identity import devices
    from videonet_cli.render import devices_view

    row = common.call(ctx, lambda api: devices.rename(api, device, label))
    if json_out:
        output.print_json(devices_view.row_json(row))
    else:
        devices_view.show_row(row)


@app.command(
    "remove",
    help=_(
        "Remove a device for good: your identity signs a revocation everyone honours. `remove\n"
        "this` takes this device off the account (a CI runner before it is thrown away)."
    ),
)
def remove(
    ctx: typer.Context,
    device: str = typer.Argument(
        ..., help=_("One of your devices (id, start of id, or label), or `this`.")
    ),
    json_out: bool = JsonOption,
) -> None:
    from videonet_cli.identity import devices
    from videonet_cli.render import devices_view

    row = common.call(ctx, lambda api: devices.remove(api, device))
    if json_out:
        output.print_json(devices_view.row_json(row))
    else:
        line = (
            _("Removed {label} ({id}): it gets no key again.")
            if row.label
            else _("Removed device ({id}): it gets no key again.")
        )
        output.info(line.format(label=row.label, id=row.device_id[:8]))


@app.command(
    "restore",
    help=_(
        "Restore your identity on this device from its recovery key (asked for without echo, or\n"
        "VIDEONET_RECOVERY_KEY / VIDEONET_RECOVERY_KEY_FILE) and certify this device."
    ),
)
def restore(ctx: typer.Context, json_out: bool = JsonOption) -> None:
    from videonet_cli.identity import devices, trust
    from videonet_cli.render import devices_view

    key = trust.recovery_key_from_env() or _read_secret(
        _("Recovery key"), _("no recovery key given and no terminal to ask for it")
    )
    mine = common.call(ctx, lambda api: devices.restore(api, key))
    if json_out:
        output.print_json(devices_view.my_devices_json(mine))
    else:
        output.info(_("Restored your identity on this device."))
        devices_view.show_my_devices(mine)


@app.command(
    "new-identity",
    help=_(
        "Replace your identity with a new one (only when it is lost: no device holds it and the\n"
        "recovery key is gone). Everyone who pinned the old one sees a warning until they compare\n"
        "safety numbers with you again; your other devices must be linked again."
    ),
)
def new_identity(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", help=_("Yes, replace it.")),
    json_out: bool = JsonOption,
) -> None:
    from videonet_cli.identity import devices
    from videonet_cli.render import devices_view

    if not yes:
        raise UsageError(_("this replaces your identity for everyone: pass --yes if you mean it"))
    mine = common.call(ctx, devices.new_identity)
    if json_out:
        output.print_json(devices_view.my_devices_json(mine))
    else:
        output.info(_("Made a new identity on this device."))
        devices_view.show_my_devices(mine)
