"""The terminal side of `videonet chat`: rendering events, reading lines, the `/` commands.

Input comes from prompt_toolkit when both ends are a terminal (so incoming messages are printed
above the line being typed, without garbling it), and otherwise from standard input line by
line in a daemon thread (piped input: each line is a message; that is how scripts and tests drive
it). `--follow` reads nothing and prints until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from videonet_cli import output
from videonet_cli.chat import ChatEvent, ChatRoom, open_room, stop_on_signals
from videonet_cli.errors import CliError
from videonet_daemon import protocol

_STATUS = {
    "reconnecting": "connection lost; reconnecting…",
    "reconnected": "back",
    "truncated": "you missed more messages than the daemon replays at once; only the newest shown",
}
HELP = "/who: who is online · /quit or Ctrl-D: leave · //text sends a line starting with /"


@dataclass(frozen=True)
class ChatOptions:
    room: str
    history: int
    since: int | None
    follow: bool
    json_out: bool


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


class Renderer:
    """Turns chat events into lines: JSON objects with a "type", or readable text."""

    def __init__(self, me: protocol.UserInfo, json_out: bool, console: Console) -> None:
        self.me = me
        self.json_out = json_out
        self.console = console

    def __call__(self, event: ChatEvent) -> None:
        if self.json_out:
            output.print_json_line({"type": event.kind, **event.data})
            return
        data = event.data
        if event.kind == "message":
            self.message(data)
        elif event.kind == "presence":
            if data.get("user_id") != self.me["id"]:
                went = (
                    "is online" if data.get("status") == protocol.PRESENCE_ONLINE else "went away"
                )
                self.notice(f"{data.get('username')} {went}")
        elif event.kind == "online":
            self.who(data.get("online", []))
        elif event.kind == "status":
            self.notice(_STATUS.get(str(data.get("status")), str(data.get("status"))))

    def message(self, message: dict[str, Any]) -> None:
        mine = message.get("user_id") == self.me["id"]
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
            output.print_json_line({"type": "who", "online": users})
            return
        names = ", ".join(_printable(u["username"]) for u in users) or "nobody"
        self.notice(f"online: {names}")


class LineSource(Protocol):
    async def next(self) -> str | None:
        """The next line without its newline, or None at the end of input."""
        ...


class StdinLines:
    """Lines from a pipe or file, read in a daemon thread (which never blocks the exit)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            for line in sys.stdin:
                loop.call_soon_threadsafe(self.queue.put_nowait, line.rstrip("\r\n"))
            loop.call_soon_threadsafe(self.queue.put_nowait, None)

        threading.Thread(target=pump, name="chat-stdin", daemon=True).start()

    async def next(self) -> str | None:
        return await self.queue.get()


class PromptLines:
    """An interactive prompt that keeps its line intact while messages print above it."""

    def __init__(self, prompt: str) -> None:
        from prompt_toolkit import PromptSession

        self.session: Any = PromptSession()
        self.prompt = prompt

    async def next(self) -> str | None:
        try:
            line: str = await self.session.prompt_async(self.prompt)
        except (EOFError, KeyboardInterrupt):
            return None
        return line


async def run_chat(server: str, token: str, options: ChatOptions) -> None:
    """The whole interactive or follow session; returns when the user leaves or is stopped."""
    from videonet_cli.client import ApiClient

    interactive = not options.follow and sys.stdin.isatty() and sys.stdout.isatty()
    async with ApiClient(server, token) as api:
        opening = await open_room(api, options.room, options.history, options.since)
    # Under patch_stdout, sys.stdout is a proxy that is no terminal: say what the real one is.
    console = Console(
        force_terminal=interactive or None,
        width=shutil.get_terminal_size().columns if interactive else None,
        highlight=False,
    )
    renderer = Renderer(opening.me, options.json_out, console)
    stop = asyncio.Event()
    room = ChatRoom(server, token, opening, renderer)
    if not options.json_out:
        renderer.notice(f"{opening.room['name']} — {HELP}" if not options.follow else "following")
    for message in opening.history:
        renderer(ChatEvent("message", dict(message)))
    if interactive:
        from prompt_toolkit.patch_stdout import patch_stdout

        with patch_stdout(raw=True):
            await _converse(room, PromptLines(f"{opening.me['username']}> "), renderer, stop)
        return
    stop_on_signals(stop)
    if options.follow:
        await room.run(stop)
        return
    failed = await _converse(room, StdinLines(), renderer, stop)
    if failed:
        raise CliError(f"{failed} message(s) were not sent")


async def _converse(
    room: ChatRoom, lines: LineSource, renderer: Renderer, stop: asyncio.Event
) -> int:
    """Send each line, run the `/` commands, until end of input, /quit or stop; return how many
    messages failed. Errors of the connection itself (e.g. removed from the room) propagate."""
    runner = asyncio.create_task(room.run(stop))
    # Lines are sent in order by one task, so the prompt comes back at once instead of waiting
    # for each ack (between prompts the terminal would echo raw keys and lose a Ctrl-D).
    outbox: asyncio.Queue[str | None] = asyncio.Queue()
    failures = [0]

    async def send_all() -> None:
        while (text := await outbox.get()) is not None:
            with _reported(renderer) as outcome:
                await room.send(text)
            failures[0] += outcome.failed

    sender = asyncio.create_task(send_all())
    try:
        while True:
            reader = asyncio.ensure_future(lines.next())
            stopping = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait(
                {reader, runner, stopping}, return_when=asyncio.FIRST_COMPLETED
            )
            stopping.cancel()
            if reader not in done:
                reader.cancel()
                break
            line = reader.result()
            if line is None:
                break
            command = line.strip()
            if command in ("/quit", "/exit"):
                break
            if command == "/who":
                with _reported(renderer):
                    renderer.who(await room.who())
            elif command in ("/help", "/?"):
                renderer.notice(HELP)
            elif command.startswith("/") and not command.startswith("//"):
                renderer.notice(f"unknown command {command.split()[0]}; {HELP}")
            elif command:
                outbox.put_nowait(line[1:] if command.startswith("//") else line)
        outbox.put_nowait(None)
        await sender  # what was typed before leaving is still sent
    finally:
        sender.cancel()
        stop.set()
    await runner  # re-raises what ended the connection (auth, removed from the room)
    return failures[0]


class _Outcome:
    failed = 0


@contextlib.contextmanager
def _reported(renderer: Renderer) -> Any:
    """A refused message is one red line; the chat goes on."""
    outcome = _Outcome()
    try:
        yield outcome
    except CliError as exc:
        outcome.failed = 1
        output.error_line(exc.message)
