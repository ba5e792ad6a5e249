"""Showing a call: a live table of peers and bitrates on a terminal, JSON lines, or plain lines."""

from __future__ import annotations

import re
import sys
from types import TracebackType
from typing import Any, Literal, Self

from rich.live import Live
from rich.table import Table
from rich.text import Text

from videonet_cli.i18n import N_, _, ngettext
from videonet_cli.render.console import err_console, info, print_json_line

Mode = Literal["live", "json", "lines"]


def choose_mode(json_out: bool) -> Mode:
    if json_out:
        return "json"
    return "live" if sys.stderr.isatty() else "lines"


# What a peer connection's state, a reason to leave and a media kind are called on the screen
# (the events and --json keep the English words and codes).
_STATES = {
    "new": N_("new"),
    "connecting": N_("connecting"),
    "connected": N_("connected"),
    "disconnected": N_("disconnected"),
    "failed": N_("failed"),
    "closed": N_("closed"),
}
_REASONS = {
    "left": N_("left"),
    "disconnected": N_("disconnected"),
    "left_room": N_("left the room"),
    "hung up": N_("hung up"),
    "the connection failed": N_("the connection failed"),
    "duration": N_("the duration was reached"),
    "signal": N_("stopped by Ctrl-C or a signal"),
    "removed": N_("removed from the call"),
    "daemon_lost": N_("the daemon was lost"),
    "media_lost": N_("the media server was lost"),
}
_NO_ANSWER = re.compile(r"no answer within ([0-9.]+) s")


def state_word(state: str) -> str:
    return _(_STATES[state]) if state in _STATES else state


def reason_words(reason: str) -> str:
    """A reason from our own code, in the user's language; anything else (a peer's free text
    from the wire) as it came."""
    if reason in _REASONS:
        return _(_REASONS[reason])
    found = _NO_ANSWER.fullmatch(reason)
    if found:
        return _("no answer within {seconds} s").format(seconds=found.group(1))
    return reason


# How the media server was lost (calls.janus `_lose`): English in the result, for --json.
_LOST = (
    (
        re.compile(r"the media server at (?P<url>\S+) lost our session \(restarted\?\)"),
        N_("the media server at {url} lost our session (restarted?)"),
    ),
    (
        re.compile(r"the media server at (?P<url>\S+) does not answer: (?P<problem>.*)", re.S),
        N_("the media server at {url} does not answer: {problem}"),
    ),
    (
        re.compile(r"the media server ended the session: (?P<reason>.*)", re.S),
        N_("the media server ended the session: {reason}"),
    ),
)


def lost_words(detail: str) -> str:
    """Why the media server was lost, in the user's language."""
    if not detail:
        return _("the media server was lost")
    for pattern, words in _LOST:
        found = pattern.fullmatch(detail)
        if found:
            return _(words).format(**found.groupdict())
    return detail


# Why a recording is incomplete (calls.recording `problem`): English in the result, for --json.
_KINDS = r"(?P<kinds>audio|video|audio and video)"
_PROBLEMS = (
    (
        re.compile(r"the file could not be finished: (?P<problem>.*)", re.S),
        N_("the file could not be finished: {problem}"),
    ),
    (
        re.compile(f"no {_KINDS} in the recording: the peer announced it but sent none"),
        N_("no {kinds} in the recording: the peer announced it but sent none"),
    ),
    (
        re.compile(
            f"no {_KINDS} in the recording: it started more than (?P<seconds>[0-9.]+) s "
            "after the rest"
        ),
        N_("no {kinds} in the recording: it started more than {seconds} s after the rest"),
    ),
    (
        re.compile(
            r"the (?P<kinds>audio|video) recording kept (?P<written>\d+) of "
            r"(?P<arrived>\d+) frames \(the encoder fell behind or failed\)"
        ),
        N_(
            "the {kinds} recording kept {written} of {arrived} frames (the encoder fell behind "
            "or failed)"
        ),
    ),
)


def problem_words(problem: str) -> str:
    """What is wrong with a recording, in the user's language (each "; "-separated part)."""
    parts = []
    for part in problem.split("; "):
        for pattern, words in _PROBLEMS:
            found = pattern.fullmatch(part)
            if found:
                fields = found.groupdict()
                if "kinds" in fields:
                    fields["kinds"] = kinds_words(fields["kinds"].split(" and "))
                part = _(words).format(**fields)
                break
        parts.append(part)
    return "; ".join(parts)


def kinds_words(kinds: list[str]) -> str:
    """ "audio", "video" or both, as the screen says them."""
    have = set(kinds)
    if have == {"audio", "video"}:
        return _("audio and video")
    if have == {"audio"}:
        return _("audio")
    if have == {"video"}:
        return _("video")
    return " + ".join(kinds)


def describe(event: dict[str, Any]) -> str | None:
    """One line for a person about an event (None: nothing worth a line)."""
    kind = event.get("event")
    who = event.get("username", "?")
    if kind == "joined":
        others = ", ".join(event["participants"]) or _("nobody yet")
        sending = kinds_words(event["sending"]) if event["sending"] else None
        if sending is None:
            return _("Joined the call in {room}: {others}; sending nothing (receive only).").format(
                room=event["room"], others=others
            )
        return _("Joined the call in {room}: {others}; sending {sending}.").format(
            room=event["room"], others=others, sending=sending
        )
    if kind == "peer_joined":
        return _("{who} joined the call.").format(who=who)
    if kind == "peer_state" and event["state"] in ("connected", "failed"):
        return _("{who}: {state}.").format(who=who, state=state_word(event["state"]))
    if kind == "negotiated" and event.get("recording"):
        return _("Recording {who} ({kinds}) to {path}.").format(
            who=who, kinds=kinds_words(event["receiving"]), path=event["recording"]
        )
    if kind in ("peer_left", "peer_hung_up"):
        return _("{who} left ({reason}).").format(who=who, reason=reason_words(event["reason"]))
    if kind == "warning":
        return _("warning: {message}").format(message=event["message"])
    if kind == "peer_media":
        muted = [k for k in ("audio", "video") if not event[k]]
        if event["speaking"]:
            return _("{who} is speaking.").format(who=who)
        return _("{who}: {kinds} off.").format(who=who, kinds=kinds_words(muted)) if muted else None
    if kind == "media_server":
        return _(
            "This call goes through the media server: encrypted on the way, but decrypted "
            "there (no end-to-end encryption)."
        )
    if kind == "recording" and event.get("on"):
        return _("RECORDING: {who} is recording this call on the media server.").format(
            who=event.get("by", "?")
        )
    if kind == "recording":
        files = len(event.get("files", []))
        return ngettext(
            "The recording of this call stopped ({n} file).",
            "The recording of this call stopped ({n} files).",
            files,
        ).format(n=files)
    if kind == "room_recording_offered":
        return _("Offered the call's recording to the room: {files}.").format(
            files=", ".join(event["files"])
        )
    return None


_HEADERS = (
    N_("Peer"),
    N_("State"),
    N_("Receiving"),
    N_("In kbit/s"),
    N_("Out kbit/s"),
    N_("Recording"),
)


def peers_table(peers: list[dict[str, Any]]) -> Table:
    table = Table(title=_("Call"), title_justify="left")
    for header in _HEADERS:
        table.add_column(_(header), justify="right" if "kbit" in header else "left")
    for p in peers:
        table.add_row(
            Text(p["username"]),  # a name from the daemon: text, not markup
            state_word(p["state"]),
            kinds_words(p["kinds"]) if p["kinds"] else "-",
            f"{p['in_kbps']:.0f}",
            f"{p['out_kbps']:.0f}",
            Text(p["recording"] or "-"),
        )
    if not peers:
        table.add_row(_("(waiting for others)"), "", "", "", "", "")
    return table


class CallView:
    """The reporter `run_call` calls with each event; use as a context manager around it."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self._live: Live | None = None

    def __enter__(self) -> Self:
        if self.mode == "live":
            self._live = Live(peers_table([]), console=err_console(), refresh_per_second=4)
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
        info(
            _("Left the call after {seconds} s ({reason}).").format(
                seconds=f"{result['seconds']:g}", reason=reason_words(result["reason"])
            )
        )
        for recording in result["recordings"]:
            info(
                _("Recorded {who}: {path}").format(
                    who=recording["username"], path=recording["path"]
                )
            )
