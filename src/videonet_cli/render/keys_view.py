"""keys: your devices and fingerprints, a member's devices with their pin status, the warning
when a pinned key changed."""

from __future__ import annotations

from typing import Any

from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from videonet_cli.identity.core import MyKeys, PeerKeys
from videonet_cli.identity.pins import CheckedDevice, PinStatus
from videonet_cli.render.console import console, err_console, info


def my_keys_json(keys: MyKeys) -> dict[str, Any]:
    return {
        "device_id": keys.device_id,
        "fingerprint": keys.fingerprint,
        "created_now": keys.created_now,
        "devices": [{**d, "this_device": d["device_id"] == keys.device_id} for d in keys.devices],
    }


def show_my_keys(keys: MyKeys) -> None:
    if keys.created_now:
        info("Made a key pair for this device and published its public key.")
    info(f"Your fingerprint on this device: {keys.fingerprint}")
    table = Table(title="Your devices")
    for header in ("Device", "Label", "Fingerprint", "Added", ""):
        table.add_column(header)
    for d in keys.devices:
        mark = "this device" if d["device_id"] == keys.device_id else ""
        table.add_row(d["device_id"], Text(d["label"]), d["fingerprint"], d["created_at"], mark)
    console.print(table)


def checked_json(c: CheckedDevice) -> dict[str, Any]:
    return {
        "device_id": c.device.device_id,
        "label": c.device.label,
        "fingerprint": c.device.fingerprint,
        "status": str(c.status),
        "pinned_fingerprint": c.pinned_fingerprint,
    }


def peer_keys_json(keys: PeerKeys) -> dict[str, Any]:
    return {
        "username": keys.username,
        "user_id": keys.user_id,
        "devices": [checked_json(c) for c in keys.checked],
    }


_STYLE = {
    PinStatus.PINNED: "green",
    PinStatus.PINNED_NOW: "yellow",
    PinStatus.NEW_DEVICE: "bold red",
    PinStatus.CHANGED: "bold red",
}


def show_peer_keys(keys: PeerKeys) -> None:
    if not keys.checked:
        info(f"{keys.username} has no device keys yet (they appear once they use the CLI).")
        return
    table = Table(title=f"{keys.username}'s devices")
    for header in ("Device", "Label", "Fingerprint", "Status"):
        table.add_column(header)
    for c in keys.checked:
        status = Text(str(c.status), style=_STYLE[c.status])
        table.add_row(c.device.device_id, Text(c.device.label), c.device.fingerprint, status)
    console.print(table)
    if any(c.status is PinStatus.PINNED_NOW for c in keys.checked):
        info(
            "First sight of these keys: pinned as they are. Compare the fingerprints with "
            f"{keys.username} over another channel (in person, by phone)."
        )


def warn_refused(keys: PeerKeys) -> None:
    """The loud part of a refusal (the one red error line follows it)."""
    lines = [f"{keys.username}'s device keys are not the ones pinned on this device!"]
    for c in keys.refused:
        if c.status is PinStatus.CHANGED:
            lines.append(
                f"  device {c.device.device_id}: pinned {c.pinned_fingerprint}, "
                f"now {c.device.fingerprint}"
            )
        else:
            lines.append(
                f"  device {c.device.device_id}: not pinned yet, fingerprint {c.device.fingerprint}"
            )
    lines += [
        "Someone may be impersonating them, or the daemon may be lying. Nothing will be",
        f"encrypted to these keys. Ask {keys.username} for the fingerprint over another channel;",
        f"if it matches, run: videonet keys trust {keys.username} FINGERPRINT",
    ]
    err_console.print(
        Panel(Text("\n".join(lines)), title="WARNING: key changed", border_style="bold red")
    )


def show_trusted(username: str, trusted: CheckedDevice) -> None:
    was = f" (was {trusted.status})" if trusted.status is not PinStatus.PINNED else ""
    info(
        f"Trusted {username}'s device {trusted.device.device_id}: "
        f"{trusted.device.fingerprint}{was}."
    )
