"""Rendering for ``analyze`` and ``ask``: progress, the result table, streamed answers, the REPL.

One event loop per command: ``asyncio.Runner`` keeps the same loop (and so the same model
client) for the analysis and every chat turn, while ``input()`` stays in the main thread so that
Ctrl-C and Ctrl-D behave as in any shell.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from videonet_cli.analysis import settings
from videonet_cli.analysis.pipeline import (
    AnalyzeRequest,
    analyze,
    latest_or_analyze,
    no_progress,
)
from videonet_cli.analysis.results import AnalysisResult
from videonet_cli.analysis.store import Store
from videonet_cli.output import console, err_console, print_json

if TYPE_CHECKING:
    from videonet_cli.analysis.chat import ChatSession

REPL_HELP = (
    "Type a question. exit, quit or Ctrl-D to leave; !multi ... !end for several lines; "
    "/reset starts over, /history shows the conversation, /frames the frames."
)
NEEDS_ENDPOINT = (
    "Chat needs a model endpoint: set OPENAI_API_KEY or OPENAI_BASE_URL "
    "(this analysis ran offline)."
)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar on stderr when it is a terminal; otherwise nothing."""
    if not enabled or not err_console.is_terminal:
        yield no_progress
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total if total > 1 else None)

        yield update


def _frames_table(result: AnalysisResult) -> Table:
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


def render_result(result: AnalysisResult) -> None:
    v = result.video
    console.print(
        f"{v.path}: {v.width}x{v.height}, {v.duration_s:.1f} s, {v.fps:g} fps, "
        f"{v.frame_count} frames",
        highlight=False,
        markup=False,
    )
    for note in result.notes:
        console.print(f"note: {note}", style="yellow", highlight=False, markup=False)
    console.print(_frames_table(result))
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


async def _stream(session: ChatSession, question: str, echo: bool) -> str:
    parts: list[str] = []
    async for chunk in session.ask(question):
        parts.append(chunk)
        if echo:
            sys.stdout.write(chunk)
            sys.stdout.flush()
    if echo:
        sys.stdout.write("\n")
        sys.stdout.flush()
    if session.last_dropped:
        err_console.print(
            f"({session.last_dropped} older message(s) left out to fit the context budget)",
            style="dim",
        )
    return "".join(parts)


def _session(
    req: AnalyzeRequest, endpoint: settings.Endpoint, result: AnalysisResult, store: Store
) -> ChatSession:
    from videonet_cli.analysis.chat import ChatSession
    from videonet_cli.analysis.model import make_client

    chat_tokens = settings.integer("chat_max_tokens", 16, 100_000)
    chat_config = dataclasses.replace(req.model_config(endpoint), max_tokens=chat_tokens)
    return ChatSession(
        client=make_client(endpoint, chat_config),
        config=chat_config,
        store=store,
        result=result,
        context_budget=settings.integer("context_budget", 512, 10_000_000),
    )


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


def _repl(runner: asyncio.Runner, session: ChatSession, result: AnalysisResult) -> None:
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
            session.reset()
            console.print("New conversation.", style="dim")
        elif question == "/history":
            for m in session.history():
                console.print(f"{m.role}: {m.content}", highlight=False, markup=False)
        elif question == "/frames":
            console.print(_frames_table(result))
        else:
            runner.run(_stream(session, question, echo=True))


def run_analyze(
    req: AnalyzeRequest,
    endpoint: settings.Endpoint | None,
    *,
    chat: bool,
    resume: bool,
    as_json: bool,
) -> None:
    """``videonet analyze``: the analysis, its rendering, then the chat if wanted."""
    with asyncio.Runner() as runner:
        with _progress(not as_json) as progress:
            result = runner.run(analyze(req, endpoint, progress))
        if as_json:
            print_json(result.to_dict())
            return
        render_result(result)
        if not chat:
            return
        if endpoint is None or result.backend == "offline":
            err_console.print(NEEDS_ENDPOINT, highlight=False)
            return
        with Store(settings.store_path()) as store:
            session = _session(req, endpoint, result, store)
            if resume:
                count = session.resume()
                console.print(f"Continuing a conversation of {count} message(s).", style="dim")
            try:
                _repl(runner, session, result)
            finally:
                runner.run(session.client.close())


def run_ask(
    req: AnalyzeRequest, endpoint: settings.Endpoint, question: str, *, as_json: bool
) -> None:
    """``videonet ask``: one turn of the stored conversation about the clip."""
    with asyncio.Runner() as runner:
        with _progress(not as_json) as progress:
            result = runner.run(latest_or_analyze(req, endpoint, progress))
        with Store(settings.store_path()) as store:
            session = _session(req, endpoint, result, store)
            session.resume()
            try:
                answer = runner.run(_stream(session, question, echo=not as_json))
            finally:
                runner.run(session.client.close())
            if as_json:
                print_json(
                    {
                        "video": result.video.path,
                        "sha256": result.video.sha256,
                        "question": question,
                        "answer": answer,
                        "conversation_id": session.conversation_id,
                        "messages": len(session.history()),
                        "usage": session.usage.__dict__,
                    }
                )
