"""Showing a chat: messages, presence and notices as readable lines, or JSON lines (``--json``).

`ChatView` is the `Reporter` the chat core (`chat_events.ChatRoom`) is given.
"""

from __future__ import annotations

import errno
import shutil
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from videonet_cli.i18n import N_, _
from videonet_cli.render.console import error_line, print_json_line
from videonet_protocol import protocol

_STATUS = {
    "reconnecting": N_("connection lost; reconnecting…"),
    "reconnected": N_("back"),
    "truncated": N_(
        "you missed more messages than the daemon replays at once; only the newest shown"
    ),
}


def _printable(text: str) -> str:
    """Defence in depth: the daemon refuses control characters, but never trust the wire."""
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs") else "\ufffd"
        for ch in text
    )


def _clock(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return "--:--:--"
    return moment.astimezone().strftime("%H:%M:%S")


class _ChatConsole(Console):
    """Rich's own answer to a closed pipe is ``SystemExit`` from inside the socket client's
    task (logged with a traceback, the chat going on); here it is an error the view handles."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "standard output was closed")


class ChatView:
    """Turns chat events into lines: JSON objects with a "type", or readable text."""

    def __init__(self, json_out: bool) -> None:
        self.json_out = json_out
        self.my_id: int | None = None
        self.console: Console = _ChatConsole(highlight=False)
        # Standard output was closed (`chat --follow | head -3`): events arrive in the socket
        # client's own tasks, where an EPIPE would only be logged, so the chat is told to end.
        self.output_closed = False
        self.on_output_closed: Callable[[], None] | None = None

    def start(self, me: protocol.UserInfo, interactive: bool) -> None:
        """Once the room is open: who we are, and whether a prompt shares the terminal."""
        self.my_id = me["id"]
        # Under patch_stdout, sys.stdout is a proxy that is no terminal: say what the real one is.
        self.console = _ChatConsole(
            force_terminal=interactive or None,
            width=shutil.get_terminal_size().columns if interactive else None,
            highlight=False,
        )

    def __call__(self, event: dict[str, Any]) -> None:
        if self.output_closed:
            return
        try:
            self._show(event)
        except OSError as exc:
            if not isinstance(exc, BrokenPipeError) and exc.errno != errno.EPIPE:
                raise
            self.output_closed = True
            if self.on_output_closed is not None:
                self.on_output_closed()

    def _show(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        data = {k: v for k, v in event.items() if k != "event"}
        if self.json_out:
            print_json_line({"type": kind, **data})
            return
        if kind == "message":
            self.message(data)
        elif kind == "presence":
            if data.get("user_id") != self.my_id:
                went = (
                    _("{name} is online")
                    if data.get("status") == protocol.PRESENCE_ONLINE
                    else _("{name} went away")
                )
                self.notice(went.format(name=data.get("username")))
        elif kind == "online":
            self.who(data.get("online", []))
        elif kind == "renamed":
            self.notice(
                _("the room {old} is now called {new}").format(
                    old=_printable(str(data.get("old_name"))),
                    new=_printable(str(data.get("name"))),
                )
            )
        elif kind == "status":
            status = str(data.get("status"))
            self.notice(_(_STATUS[status]) if status in _STATUS else status)

    def message(self, message: dict[str, Any]) -> None:
        mine = message.get("user_id") == self.my_id
        body = _printable(str(message.get("text", ""))).replace("\n", "\n    ")
        line = Text.assemble(
            (_clock(str(message.get("created_at", ""))) + " ", "dim"),
            (_printable(str(message.get("username", "?"))), "bold green" if mine else "bold cyan"),
            ": ",
            body,
        )
        self.console.print(line, highlight=False, soft_wrap=True)

    def notice(self, text: str) -> None:
        self.console.print(Text("* " + text, style="yellow"), highlight=False, soft_wrap=True)

    def who(self, users: list[protocol.PresenceUser]) -> None:
        if self.json_out:
            print_json_line({"type": "who", "online": users})
            return
        if not users:
            self.notice(_("online: nobody"))
            return
        names = ", ".join(_printable(u["username"]) for u in users)
        self.notice(_("online: {names}").format(names=names))

    def error(self, message: str) -> None:
        """A refused message or command: one red line; the chat goes on."""
        error_line(message)
