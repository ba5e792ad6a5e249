"""The terminal side of `videonet chat`: reading lines, the `/` commands, following.

Input comes from prompt_toolkit when both ends are a terminal (so incoming messages are printed
above the line being typed, without garbling it), and otherwise from standard input line by
line in a daemon thread (piped input: each line is a message; that is how scripts and tests drive
it). `--follow` reads nothing and prints until SIGINT/SIGTERM. Everything shown goes through the
`ChatView` it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from videonet_cli.api import Api
from videonet_cli.chat_events import ChatRoom, open_room, stop_on_signals
from videonet_cli.errors import CliError
from videonet_cli.i18n import N_, _, ngettext
from videonet_cli.render.chat_view import ChatView

HELP = N_("/who: who is online · /quit or Ctrl-D: leave · //text sends a line starting with /")


@dataclass(frozen=True)
class ChatOptions:
    """What `videonet chat` was asked: the room, how much history, from where, read or follow."""

    room: str
    history: int
    since: int | None
    follow: bool


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

        self.prompt_session: Any = PromptSession()
        self.prompt = prompt

    async def next(self) -> str | None:
        try:
            line: str = await self.prompt_session.prompt_async(self.prompt)
        except (EOFError, KeyboardInterrupt):
            return None
        return line


async def run_chat(api: Api, options: ChatOptions, view: ChatView) -> None:
    """The whole interactive or follow chat; returns when the user leaves or is stopped."""
    interactive = not options.follow and sys.stdin.isatty() and sys.stdout.isatty()
    opening = await open_room(api, options.room, options.history, options.since)
    view.start(opening.me, interactive)
    stop = asyncio.Event()
    view.on_output_closed = stop.set
    room = ChatRoom(api, opening, view)
    if not view.json_out:
        view.notice(
            _("{room} — {help}").format(room=opening.room["name"], help=_(HELP))
            if not options.follow
            else _("following")
        )
    for message in opening.history:
        view({**message, "event": "message"})
    if interactive:
        from prompt_toolkit.patch_stdout import patch_stdout

        with patch_stdout(raw=True):
            await ChatRepl(room, view, stop).run(PromptLines(f"{opening.me['username']}> "))
        return
    stop_on_signals(stop)
    if options.follow:
        await room.run(stop)
        if view.output_closed:
            raise BrokenPipeError  # the command line ends quietly, as for any closed stdout
        return
    failed = await ChatRepl(room, view, stop).run(StdinLines())
    if failed:
        raise CliError(
            ngettext("{n} message was not sent", "{n} messages were not sent", failed).format(
                n=failed
            )
        )


class ChatRepl:
    """Sends each line, runs the `/` commands, until end of input, /quit or ``stop``."""

    def __init__(self, room: ChatRoom, view: ChatView, stop: asyncio.Event) -> None:
        self.room = room
        self.view = view
        self.stop = stop
        self.failures = 0

    async def run(self, lines: LineSource) -> int:
        """Return how many messages failed. Errors of the connection itself (e.g. removed from
        the room) propagate."""
        room, view, stop = self.room, self.view, self.stop
        runner = asyncio.create_task(room.run(stop))
        # Lines are sent in order by one task, so the prompt comes back at once instead of
        # waiting for each ack (between prompts the terminal would echo raw keys and lose a Ctrl-D).
        outbox: asyncio.Queue[str | None] = asyncio.Queue()

        async def send_all() -> None:
            while (text := await outbox.get()) is not None:
                with self._reported():
                    await room.send(text)

        sender = asyncio.create_task(send_all())
        try:
            while True:
                reader = asyncio.ensure_future(lines.next())
                stopping = asyncio.ensure_future(stop.wait())
                done, _pending = await asyncio.wait(
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
                    with self._reported(counts=False):
                        view.who(await room.who())
                elif command in ("/help", "/?"):
                    view.notice(_(HELP))
                elif command.startswith("/") and not command.startswith("//"):
                    view.notice(
                        _("unknown command {command}; {help}").format(
                            command=command.split()[0], help=_(HELP)
                        )
                    )
                elif command:
                    outbox.put_nowait(line[1:] if command.startswith("//") else line)
            outbox.put_nowait(None)
            await sender  # what was typed before leaving is still sent
        finally:
            sender.cancel()
            stop.set()
        await runner  # re-raises what ended the connection (auth, removed from the room)
        return self.failures

    @contextlib.contextmanager
    def _reported(self, counts: bool = True) -> Any:
        """A refused message is one red line; the chat goes on."""
        try:
            yield
        except CliError as exc:
            if counts:
                self.failures += 1
            self.view.error(exc.message)
