"""Showing ``analyze`` and ``ask``: progress, the result table, streamed answers, the prompt.

On a terminal the prompt is prompt_toolkit's (line editing, a history kept in the user data
dir across runs); piped input is read line by line. Ctrl-C at the prompt clears the line, Ctrl-C
during an answer cancels that answer and keeps the REPL, Ctrl-D leaves. Each question is
answered through the ``answer`` callable the command gives it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from videonet_cli.analysis.results import AnalysisResult
from videonet_cli.render.console import console, err_console
from videonet_cli.reporting import Reporter, ignore

if TYPE_CHECKING:
    from videonet_cli.analysis.conversation import Conversation

REPL_HELP = (
    "Type a question. exit, quit or Ctrl-D to leave; Ctrl-C cancels an answer; !multi ... !end "
    "or !edit ($EDITOR) for several lines; /reset starts over, /history shows the conversation, "
    "/frames the frames."
)
HISTORY_FILE = "analyze-history"
NEEDS_ENDPOINT = (
    "Chat needs a model endpoint: set OPENAI_API_KEY or OPENAI_BASE_URL "
    "(this analysis ran offline)."
)


@contextmanager
def progress(enabled: bool) -> Iterator[Reporter]:
    """The analysis core's reporter: a Rich progress bar on stderr when it is a terminal."""
    if not enabled or not err_console.is_terminal:
        yield ignore
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def update(event: dict[str, Any]) -> None:
            total = event["total"]
            bar.update(
                task,
                description=event["stage"],
                completed=event["done"],
                total=total if total > 1 else None,
            )

        yield update


def frames_table(result: AnalysisResult) -> Table:
    # Offline there is no activity or setting to show, only faces.
    full = result.backend != "offline"
    table = Table(title=escape(f"{result.video.path} — {result.model}"))
    headers = ["#", "time", "people"] + (["activity", "setting"] if full else []) + ["description"]
    for header in headers:
        table.add_column(header, overflow="fold")
    for f in result.frames:
        row = [str(f.index + 1), f"{f.timestamp_s:.1f}s"]
        if f.facts is None:
            row += ["-"] + (["-", "-"] if full else []) + [f"[red]{escape(f.error or '')}[/]"]
        else:
            x = f.facts
            row += [str(x.people_count)] + ([escape(x.activity), escape(x.setting)] if full else [])
            row.append(escape(x.description))
        table.add_row(*row)
    return table


def show_result(result: AnalysisResult) -> None:
    v = result.video
    console.print(
        f"{v.path}: {v.width}x{v.height}, {v.duration_s:.1f} s, {v.fps:g} fps, "
        f"{v.frame_count} frames",
        highlight=False,
        markup=False,
    )
    for note in result.notes:
        console.print(f"note: {note}", style="yellow", highlight=False, markup=False)
    console.print(frames_table(result))
    console.print(result.summary.text, highlight=False, markup=False)
    if result.backend == "offline":
        return  # no model was asked: no tokens, no cost
    u = result.usage
    cost = "n/a (no price for this model)" if result.cost_usd is None else f"${result.cost_usd:.6f}"
    origin = " (cached: no model calls)" if result.cached else ""
    console.print(
        f"tokens: {u.prompt_tokens} in, {u.completion_tokens} out, {u.total_tokens} total in "
        f"{u.requests} request(s); estimated cost {cost}{origin}",
        highlight=False,
        markup=False,
    )


async def stream_answer(conversation: Conversation, question: str, echo: bool) -> str:
    """Ask, printing the answer as it arrives when ``echo``; return the whole answer."""
    parts: list[str] = []
    async for chunk in conversation.ask(question):
        parts.append(chunk)
        if echo:
            sys.stdout.write(chunk)
            sys.stdout.flush()
    if echo:
        sys.stdout.write("\n")
        sys.stdout.flush()
    if conversation.last_dropped:
        err_console.print(
            f"({conversation.last_dropped} older message(s) left out to fit the context budget)",
            style="dim",
        )
    return "".join(parts)


Read = Callable[[str], str]  # prompt -> line; EOFError at the end, KeyboardInterrupt on Ctrl-C


def terminal_reader(run: Callable[[Any], Any]) -> Read:
    """prompt_toolkit on a terminal (its history in the data dir), ``input`` otherwise.

    ``run`` runs a coroutine in the command's event loop, where the answers stream too.
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return input
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from videonet_cli.config import data_dir

    path = data_dir() / HISTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    session: Any = PromptSession(history=FileHistory(str(path)))
    return lambda prompt: str(run(session.prompt_async(prompt)))


def edit_in_editor() -> str:
    """Write a question in $VISUAL or $EDITOR (vi if neither is set); the text saved."""
    import os
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "question.md")
        open(path, "w").close()
        done = subprocess.run([*shlex.split(editor), path], check=False)
        if done.returncode != 0:
            err_console.print(f"{editor} exited with {done.returncode}; nothing asked", style="dim")
            return ""
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()


def _read_question(read: Read) -> str | None:
    """One question; None on exit/quit. ``!multi`` collects until ``!end``; ``!edit`` opens the
    editor."""
    text = read("> ").strip()
    if text in ("exit", "quit"):
        return None
    if text == "!multi":
        lines: list[str] = []
        while (more := read("... ")).strip() != "!end":
            lines.append(more)
        return "\n".join(lines).strip()
    if text == "!edit":
        question = edit_in_editor()
        if question:
            console.print(question, highlight=False, markup=False)
        return question
    return text


def repl(
    conversation: Conversation,
    result: AnalysisResult,
    answer: Callable[[str], object],
    read: Read = input,
) -> None:
    """Questions from the prompt until exit; ``answer`` runs one turn (in the command's loop)."""
    console.print(REPL_HELP, style="dim", highlight=False)
    while True:
        try:
            question = _read_question(read)
        except EOFError:
            break
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt: a fresh line, as in a shell
        if question is None:
            break
        if not question:
            continue
        if question == "/reset":
            conversation.reset()
            console.print("New conversation.", style="dim")
        elif question == "/history":
            for m in conversation.history():
                console.print(f"{m.role}: {m.content}", highlight=False, markup=False)
        elif question == "/frames":
            console.print(frames_table(result))
        else:
            try:
                answer(question)
            except KeyboardInterrupt:
                # The turn is stored only once complete, so nothing of it is kept.
                sys.stdout.write("\n")
                err_console.print("(answer cancelled; ask again or Ctrl-D to leave)", style="dim")


def show_resumed(count: int) -> None:
    console.print(f"Continuing a conversation of {count} message(s).", style="dim")


def show_needs_endpoint() -> None:
    err_console.print(NEEDS_ENDPOINT, highlight=False)


def show_no_conversations(analysed: list[dict[str, Any]]) -> None:
    """`videonet conversations` with none to list: say so, and why the videos analysed here
    have none (offline, no chat), rather than print an empty table."""
    if not analysed:
        err_console.print(
            "No conversations yet: `videonet analyze CLIP` with a model endpoint starts one.",
            highlight=False,
            soft_wrap=True,
        )
        return
    count, offline = len(analysed), sum(1 for a in analysed if a["backend"] == "offline")
    names = ", ".join(str(a["video"]) for a in analysed[:3]) + (", …" if count > 3 else "")
    videos = "1 video" if count == 1 else f"{count} videos"
    how = "offline" if offline == count else f"{offline} offline"
    err_console.print(
        Text(
            f"No conversations yet: {videos} analysed here ({how}: {names}); a chat about a "
            "video needs a model endpoint (OPENAI_BASE_URL or OPENAI_API_KEY), then "
            "`videonet analyze CLIP` or `videonet ask CLIP QUESTION`."
        ),
        soft_wrap=True,
    )
