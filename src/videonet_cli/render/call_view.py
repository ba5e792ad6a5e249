"""Showing a call: a live table of peers and bitrates on a terminal, JSON lines, or plain lines."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Literal, Self

from rich.live import Live
from rich.table import Table
from rich.text import Text

from videonet_cli.render.console import err_console, info, print_json_line

Mode = Literal["live", "json", "lines"]


def choose_mode(json_out: bool) -> Mode:
    if json_out:
        return "json"
    return "live" if sys.stderr.isatty() else "lines"


def describe(event: dict[str, Any]) -> str | None:
    """One line for a person about an event (None: nothing worth a line)."""
    kind = event.get("event")
    who = event.get("username", "?")
    if kind == "joined":
        others = ", ".join(event["participants"]) or "nobody yet"
        sending = " and ".join(event["sending"]) or "nothing (receive only)"
        return f"Joined the call in {event['room']}: {others}; sending {sending}."
    if kind == "peer_joined":
        return f"{who} joined the call."
    if kind == "peer_state" and event["state"] in ("connected", "failed"):
        return f"{who}: {event['state']}."
    if kind == "negotiated" and event.get("recording"):
        return f"Recording {who} ({' + '.join(event['receiving'])}) to {event['recording']}."
    if kind in ("peer_left", "peer_hung_up"):
        return f"{who} left ({event['reason']})."
    if kind == "warning":
        return f"warning: {event['message']}"
    if kind == "peer_media":
        muted = [k for k in ("audio", "video") if not event[k]]
        if event["speaking"]:
            return f"{who} is speaking."
        return f"{who}: {' and '.join(muted)} off." if muted else None
    if kind == "media_server":
        return (
            "This call goes through the media server: encrypted on the way, but decrypted "
            "there (no end-to-end encryption)."
        )
    if kind == "recording" and event.get("on"):
        return f"RECORDING: {event.get('by', '?')} is recording this call on the media server."
    if kind == "recording":
        files = len(event.get("files", []))
        return f"The recording of this call stopped ({files} files)."
    if kind == "room_recording_offered":
        return f"Offered the call's recording to the room: {', '.join(event['files'])}."
    return None


def peers_table(peers: list[dict[str, Any]]) -> Table:
    table = Table(title="Call", title_justify="left")
    for header in ("Peer", "State", "Receiving", "In kbit/s", "Out kbit/s", "Recording"):
        table.add_column(header, justify="right" if "kbit" in header else "left")
    for p in peers:
        table.add_row(
            Text(p["username"]),  # a name from the daemon: text, not markup
            p["state"],
            " + ".join(p["kinds"]) or "-",
            f"{p['in_kbps']:.0f}",
            f"{p['out_kbps']:.0f}",
            Text(p["recording"] or "-"),
        )
    if not peers:
        table.add_row("(waiting for others)", "", "", "", "", "")
    return table


class CallView:
    """The reporter `run_call` calls with each event; use as a context manager around it."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self._live: Live | None = None

    def __enter__(self) -> Self:
        if self.mode == "live":
            self._live = Live(peers_table([]), console=err_console, refresh_per_second=4)
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()

    def __call__(self, event: dict[str, Any]) -> None:
        if self.mode == "json":
            print_json_line(event)
            return
        if event.get("event") == "stats":
            if self._live is not None:
                self._live.update(peers_table(event["peers"]))
            return
        line = describe(event)
        if line is None:
            return
        if self._live is not None:
            self._live.console.print(line, highlight=False, markup=False)
        else:
            info(line)

    def result(self, result: dict[str, Any]) -> None:
        if self.mode == "json":
            print_json_line(result)
            return
        info(f"Left the call after {result['seconds']:g} s ({result['reason']}).")
        for recording in result["recordings"]:
            info(f"Recorded {recording['username']}: {recording['path']}")
