"""devices: this account's devices (label, short id, certified or revoked, this one marked),
the recovery key shown once, a device renamed or removed, the link words."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.panel import Panel
from rich.text import Text

from videonet_cli.i18n import N_, _
from videonet_cli.identity.devices import CERTIFIED, REVOKED, UNCERTIFIED, DeviceRow, MyDevices
from videonet_cli.identity.trust import short_id
from videonet_cli.render.console import console, err_console, info, notice
from videonet_cli.transfer.said import english

# A device's status on the terminal (--json keeps the English values).
STATUS_WORDS = {
    CERTIFIED: N_("certified"),
    REVOKED: N_("revoked"),
    UNCERTIFIED: N_("not certified"),
}


def row_json(row: DeviceRow) -> dict[str, Any]:
    return {
        "device_id": row.device_id,
        "label": row.label,
        "status": english(row.status),
        "fingerprint": row.fingerprint,
        "created_at": row.created_at,
        "this_device": row.this_device,
    }


def my_devices_json(mine: MyDevices) -> dict[str, Any]:
    return {
        "username": mine.username,
        "device_id": mine.device_id,
        "fingerprint": mine.fingerprint,
        "identity": mine.identity_fingerprint,
        "holds_identity": mine.holds_identity,
        "recovery_key": mine.recovery_key,
        "devices": [row_json(r) for r in mine.devices],
    }


def show_recovery_key(key: str) -> None:
    """The recovery key, the one time it is shown (to standard error, not into a pipe)."""
    err_console().print(
        Panel(
            Text(
                f"{key}\n\n"
                + _(
                    "This restores your identity on a new device (`videonet devices restore`) "
                    "if you lose this one. It is shown only now: keep it somewhere safe (a "
                    "password manager, your CI's secret store). Anyone holding it can certify "
                    "devices as you."
                )
            ),
            title=_("Your recovery key"),
            border_style="yellow",
        ),
        soft_wrap=False,
    )


def _say(text: str, style: str = "") -> None:
    console().print(Text(text, style=style), soft_wrap=True, highlight=False)


def _label(row: DeviceRow) -> str:
    return row.label or _("device")


def _status(row: DeviceRow) -> str:
    word = STATUS_WORDS.get(english(row.status))
    return _(word) if word else row.status


def show_row(row: DeviceRow, label_cells: int = 0, status_cells: int = 0) -> None:
    """One device: label, short id, status (columns padded to the widths given, in terminal
    cells: a Korean or Japanese label is two cells a character), this one marked."""
    status = english(row.status)
    style = "green" if status == CERTIFIED else ("dim" if status == REVOKED else "yellow")
    label = _label(row)
    if label_cells:
        label = set_cell_size(label, max(label_cells, cell_len(label)))
    shown = _status(row)
    if row.this_device:
        shown = (
            set_cell_size(shown, max(status_cells, cell_len(shown))) + "  " + _("<- this device")
        )
    _say(f"{label}  {short_id(row.device_id)}  {shown}", style)
    if row.fingerprint:
        _say(f"    {row.fingerprint}")


def show_my_devices(mine: MyDevices) -> None:
    if mine.recovery_key:
        show_recovery_key(mine.recovery_key)
    line = (
        _("{user}'s identity (held on this device):")
        if mine.holds_identity
        else _("{user}'s identity:")
    )
    _say(line.format(user=mine.username))
    _say(f"    {mine.identity_fingerprint}")
    label_cells = max((cell_len(_label(r)) for r in mine.devices), default=0)
    status_cells = max((cell_len(_status(r)) for r in mine.devices), default=0)
    for row in mine.devices:
        show_row(row, label_cells, status_cells)


def show_link_code(code: str) -> None:
    notice(_("On a device you already use, run:  videonet devices link {code}").format(code=code))
    err_console().print(_("Waiting for it…"), markup=False, highlight=False)


def show_linked(words: str, other: str) -> None:
    # `other` is a device's name, or linking.OTHER_DEVICE (the catalogue has that one).
    info(_("Linked {device}. Both devices show: {words}").format(device=_(other), words=words))
    info(_("If the other screen shows other words, remove that device: videonet devices remove."))
