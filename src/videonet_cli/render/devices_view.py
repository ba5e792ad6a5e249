"""devices: this account's devices (label, short id, certified or revoked, this one marked),
the recovery key shown once, a device renamed or removed, the link words."""

from __future__ import annotations

from typing import Any

from rich.panel import Panel
from rich.text import Text

from videonet_cli.identity.devices import CERTIFIED, REVOKED, DeviceRow, MyDevices
from videonet_cli.identity.trust import short_id
from videonet_cli.render.console import console, err_console, info


def row_json(row: DeviceRow) -> dict[str, Any]:
    return {
        "device_id": row.device_id,
        "label": row.label,
        "status": row.status,
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
    err_console.print(
        Panel(
            Text(
                f"{key}\n\nThis restores your identity on a new device (`videonet devices "
                "restore`) if you lose this one. It is shown only now: keep it somewhere safe "
                "(a password manager, your CI's secret store). Anyone holding it can certify "
                "devices as you."
            ),
            title="Your recovery key",
            border_style="yellow",
        ),
        soft_wrap=False,
    )


def _say(text: str, style: str = "") -> None:
    console.print(Text(text, style=style), soft_wrap=True, highlight=False)


def show_row(row: DeviceRow) -> None:
    mark = "  <- this device" if row.this_device else ""
    style = "green" if row.status == CERTIFIED else ("dim" if row.status == REVOKED else "yellow")
    _say(f"{row.label or 'device'}  {short_id(row.device_id)}  {row.status}{mark}", style)
    if row.fingerprint:
        _say(f"    {row.fingerprint}")


def show_my_devices(mine: MyDevices) -> None:
    if mine.recovery_key:
        show_recovery_key(mine.recovery_key)
    holds = " (held on this device)" if mine.holds_identity else ""
    _say(f"{mine.username}'s identity{holds}:")
    _say(f"    {mine.identity_fingerprint}")
    for row in mine.devices:
        show_row(row)


def show_link_code(code: str) -> None:
    err_console.print(
        f"On a device you already use, run:  videonet devices link {code}",
        markup=False,
        highlight=False,
    )
    err_console.print("Waiting for it…", markup=False, highlight=False)


def show_linked(words: str, other: str) -> None:
    info(f"Linked {other}. Both devices show: {words}")
    info("If the other screen shows other words, remove that device: videonet devices remove.")
