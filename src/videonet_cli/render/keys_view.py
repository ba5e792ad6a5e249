"""keys: a member's identity and devices with the pin's state, the safety number and its QR
code (all lines within 80 columns: nothing a person compares is ever cut)."""

from __future__ import annotations

import io
from typing import Any

from rich.text import Text

from videonet_cli.identity.core import CHANGED, NOT_PINNED, PeerKeys, Safety
from videonet_cli.identity.trust import device_name
from videonet_cli.render.console import console, info

_STYLE = {"verified": "green", "first use": "yellow", "own": "green", NOT_PINNED: "yellow"}


def peer_keys_json(keys: PeerKeys) -> dict[str, Any]:
    return {
        "username": keys.username,
        "user_id": keys.user_id,
        "identity": keys.identity_fingerprint,
        "state": keys.state,
        "pinned_identity": keys.pinned_fingerprint,
        "devices": [
            {
                "device_id": d.device_id,
                "label": d.label,
                "fingerprint": d.fingerprint,
                "certified": True,
            }
            for d in keys.devices
        ],
        "skipped": [
            {"device_id": s.device_id, "label": s.label, "reason": s.reason} for s in keys.skipped
        ],
    }


def _say(text: str, style: str = "") -> None:
    console.print(Text(text, style=style), soft_wrap=True, highlight=False)


def show_peer_keys(keys: PeerKeys) -> None:
    if keys.identity_fingerprint is None:
        info(f"{keys.username} has no identity yet (they appear once they use the CLI).")
        return
    _say(f"{keys.username}'s identity ({keys.state}):", _STYLE.get(keys.state, "bold red"))
    _say(f"    {keys.identity_fingerprint}")
    if keys.state == CHANGED:
        _say("  pinned here:", "bold red")
        _say(f"    {keys.pinned_fingerprint}", "bold red")
    for d in keys.devices:
        _say(f"  device {device_name(d.label, d.device_id)}:")
        _say(f"    {d.fingerprint}")
    for s in keys.skipped:
        _say(f"  device {device_name(s.label, s.device_id)}: {s.reason}", "yellow")
    if keys.state in (NOT_PINNED, "first use", CHANGED):
        info(f"Compare safety numbers with {keys.username}: videonet keys verify {keys.username}")


def safety_json(safety: Safety) -> dict[str, Any]:
    return {
        "username": safety.username,
        "safety_number": safety.number,
        "groups": " ".join(safety.lines),
        "state": safety.state,
        "identity": safety.identity_fingerprint,
    }


def qr_lines(payload: str) -> list[str]:
    """A QR code of ``payload`` as terminal text (two modules per character cell)."""
    import segno

    out = io.StringIO()
    segno.make(payload, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue().rstrip("\n").split("\n")


def show_safety(safety: Safety) -> None:
    _say(f"Safety number with {safety.username} ({safety.state}):")
    for line in safety.lines:
        _say(f"    {line}")
    for line in qr_lines(safety.qr_payload):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    _say(f"{safety.username} sees the same number with `videonet keys verify` on their side.")
    _say(f"If it matches: videonet keys trust {safety.username} NUMBER")
