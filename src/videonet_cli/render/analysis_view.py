"""Showing ``analyze`` and ``ask``: progress, the result table, streamed answers, the prompt.

The prompt reads with ``input()`` in the main thread so that Ctrl-C and Ctrl-D behave as in any
shell; each question is answered through the ``answer`` callable the command gives it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from videonet_cli.analysis.results import AnalysisResult
from videonet_cli.render.console import console, err_console
from videonet_cli.reporting import Reporter, ignore

if TYPE_CHECKING:
    from videonet_cli.analysis.conversation import Conversation

REPL_HELP = (
    "Type a question. exit, quit or Ctrl-D to leave; !multi ... !end for several lines; "
    "/reset starts over, /history shows the conversation, /frames the frames."
)
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


def _read_question() -> str | None:
    """One question from stdin; None on exit/quit/Ctrl-D. ``!multi`` collects until ``!end``."""
    line = input("> ")
    text = line.strip()
    if text in ("exit", "quit"):
        return None
    if text == "!multi":
        lines: list[str] = []
        while (more := input("... ")).strip() != "!end":
            lines.append(more)
        return "\n".join(lines).strip()
    return text


def repl(
    conversation: Conversation, result: AnalysisResult, answer: Callable[[str], object]
) -> None:
    """Questions from the prompt until exit; ``answer`` runs one turn (in the command's loop)."""
    if sys.stdin.isatty():
        import readline  # noqa: F401  (line editing and history for input())
    console.print(REPL_HELP, style="dim", highlight=False)
    while True:
        try:
            question = _read_question()
        except EOFError:
            break
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
            answer(question)


def show_resumed(count: int) -> None:
    console.print(f"Continuing a conversation of {count} message(s).", style="dim")


def show_needs_endpoint() -> None:
    err_console.print(NEEDS_ENDPOINT, highlight=False)
