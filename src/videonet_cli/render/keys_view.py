"""keys: a member's identity and devices with the pin's state, the safety number and its QR
code (all lines within 80 columns: nothing a person compares is ever cut)."""

from __future__ import annotations

import io
from typing import Any

from rich.text import Text

from videonet_cli.i18n import N_, _
from videonet_cli.identity.core import CHANGED, NOT_PINNED, PeerKeys, Safety
from videonet_cli.identity.pins import FIRST_USE, OWN, VERIFIED
from videonet_cli.identity.trust import device_name
from videonet_cli.render.console import console, info
from videonet_cli.transfer.said import english

_STYLE = {VERIFIED: "green", FIRST_USE: "yellow", OWN: "green", NOT_PINNED: "yellow"}
# An identity's state on the terminal (--json keeps the English values).
STATE_WORDS = {
    VERIFIED: N_("verified"),
    FIRST_USE: N_("first use"),
    OWN: N_("own"),
    NOT_PINNED: N_("not pinned"),
    CHANGED: N_("changed"),
}


def state_word(state: str) -> str:
    word = STATE_WORDS.get(state)
    return _(word) if word else state


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
            {"device_id": s.device_id, "label": s.label, "reason": english(s.reason)}
            for s in keys.skipped
        ],
    }


def _say(text: str, style: str = "") -> None:
    console().print(Text(text, style=style), soft_wrap=True, highlight=False)


def show_peer_keys(keys: PeerKeys) -> None:
    if keys.identity_fingerprint is None:
        info(
            _("{user} has no identity yet (they appear once they use the CLI).").format(
                user=keys.username
            )
        )
        return
    _say(
        _("{user}'s identity ({state}):").format(user=keys.username, state=state_word(keys.state)),
        _STYLE.get(keys.state, "bold red"),
    )
    _say(f"    {keys.identity_fingerprint}")
    if keys.state == CHANGED:
        _say("  " + _("pinned here:"), "bold red")
        _say(f"    {keys.pinned_fingerprint}", "bold red")
    for d in keys.devices:
        _say("  " + _("device {device}:").format(device=device_name(d.label, d.device_id)))
        _say(f"    {d.fingerprint}")
    for s in keys.skipped:
        device = device_name(s.label, s.device_id)
        _say("  " + _("device {device}: {reason}").format(device=device, reason=s.reason), "yellow")
    if keys.state in (NOT_PINNED, FIRST_USE, CHANGED):
        info(
            _("Compare safety numbers with {user}: videonet keys verify {user}").format(
                user=keys.username
            )
        )


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
    _say(
        _("Safety number with {user} ({state}):").format(
            user=safety.username, state=state_word(safety.state)
        )
    )
    for line in safety.lines:
        _say(f"    {line}")
    for line in qr_lines(safety.qr_payload):
        console().print(line, markup=False, highlight=False, soft_wrap=True)
    _say(
        _("{user} sees the same number with `videonet keys verify` on their side.").format(
            user=safety.username
        )
    )
    _say(_("If it matches: videonet keys trust {user} NUMBER").format(user=safety.username))
