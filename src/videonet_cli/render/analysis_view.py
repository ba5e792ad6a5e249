"""Showing ``analyze`` and ``ask``: progress, the result table, streamed answers, the prompt.

On a terminal the prompt is prompt_toolkit's (line editing, a history kept in the user data
dir across runs); piped input is read line by line. Ctrl-C at the prompt clears the line, Ctrl-C
during an answer cancels that answer and keeps the REPL, Ctrl-D leaves. Each question is
answered through the ``answer`` callable the command gives it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from videonet_cli.analysis.results import AnalysisResult
from videonet_cli.analysis.summary import summary_text
from videonet_cli.i18n import N_, _, ngettext
from videonet_cli.render.console import console, err_console
from videonet_cli.reporting import Reporter, ignore

if TYPE_CHECKING:
    from videonet_cli.analysis.conversation import Conversation
    from videonet_cli.analysis.results import FrameFacts

REPL_HELP = N_(
    "Type a question. exit, quit or Ctrl-D to leave; Ctrl-C cancels an answer; !multi ... !end "
    "or !edit ($EDITOR) for several lines; /reset starts over, /history shows the conversation, "
    "/frames the frames."
)
HISTORY_FILE = "analyze-history"
NEEDS_ENDPOINT = N_(
    "Chat needs a model endpoint: set OPENAI_API_KEY or OPENAI_BASE_URL "
    "(this analysis ran offline)."
)
# The analysis core's stages (its progress events keep these English names).
STAGES = {
    "hashing": N_("hashing"),
    "reading video": N_("reading video"),
    "choosing frames": N_("choosing frames"),
    "detecting faces": N_("detecting faces"),
    "analysing frames": N_("analysing frames"),
}
FRAME_HEADERS = {
    "time": N_("time"),
    "people": N_("people"),
    "activity": N_("activity"),
    "setting": N_("setting"),
    "description": N_("description"),
}
ROLES = {"user": N_("user"), "assistant": N_("assistant")}
# The notes of a result (English in it, for --json and the cache), as the screen says them.
_NOTES = (
    (
        re.compile(r"the file claims (?P<claimed>\d+) frames; (?P<count>\d+) can be decoded"),
        N_("the file claims {claimed} frames; {count} can be decoded"),
    ),
    (
        re.compile(r"(?P<n>\d+) sampled frame\(s\) could not be decoded"),
        N_("{n} sampled frame(s) could not be decoded"),
    ),
)


@contextmanager
def progress(enabled: bool) -> Iterator[Reporter]:
    """The analysis core's reporter: a Rich progress bar on stderr when it is a terminal."""
    if not enabled or not err_console().is_terminal:
        yield ignore
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err_console(), transient=True) as bar:
        task = bar.add_task(_("starting"), total=None)

        def update(event: dict[str, Any]) -> None:
            total = event["total"]
            bar.update(
                task,
                description=_(STAGES[event["stage"]])
                if event["stage"] in STAGES
                else event["stage"],
                completed=event["done"],
                total=total if total > 1 else None,
            )

        yield update


def frames_table(result: AnalysisResult) -> Table:
    # Offline there is no activity or setting to show, only faces.
    full = result.backend != "offline"
    table = Table(title=escape(f"{result.video.path} — {result.model}"))
    headers = ["time", "people"] + (["activity", "setting"] if full else []) + ["description"]
    table.add_column("#", overflow="fold")
    for header in headers:
        table.add_column(_(FRAME_HEADERS[header]), overflow="fold")
    for f in result.frames:
        row = [str(f.index + 1), f"{f.timestamp_s:.1f}s"]
        if f.facts is None:
            row += ["-"] + (["-", "-"] if full else []) + [f"[red]{escape(f.error or '')}[/]"]
        else:
            x = f.facts
            row += [str(x.people_count)] + ([escape(x.activity), escape(x.setting)] if full else [])
            row.append(escape(_describe(result, x)))
        table.add_row(*row)
    return table


def _describe(result: AnalysisResult, facts: FrameFacts) -> str:
    """A frame's description: the model's words as they came; offline, ours translated."""
    if result.backend != "offline":
        return facts.description
    from videonet_cli.analysis.offline import offline_description

    return offline_description(facts.people_count, ngettext)


def note_words(note: str) -> str:
    for pattern, words in _NOTES:
        found = pattern.fullmatch(note)
        if found:
            return _(words).format(**found.groupdict())
    return note


def show_result(result: AnalysisResult) -> None:
    v = result.video
    console().print(
        ngettext(
            "{path}: {width}x{height}, {seconds} s, {fps} fps, {frames} frame",
            "{path}: {width}x{height}, {seconds} s, {fps} fps, {frames} frames",
            v.frame_count,
        ).format(
            path=v.path,
            width=v.width,
            height=v.height,
            seconds=f"{v.duration_s:.1f}",
            fps=f"{v.fps:g}",
            frames=v.frame_count,
        ),
        highlight=False,
        markup=False,
    )
    for note in result.notes:
        console().print(
            _("note: {note}").format(note=note_words(note)),
            style="yellow",
            highlight=False,
            markup=False,
        )
    console().print(frames_table(result))
    summary = summary_text(result.summary, len(result.frames), _, ngettext)
    console().print(summary, highlight=False, markup=False)
    if result.backend == "offline":
        return  # no model was asked: no tokens, no cost
    u = result.usage
    cost = (
        _("n/a (no price for this model)") if result.cost_usd is None else f"${result.cost_usd:.6f}"
    )
    line = ngettext(
        "tokens: {prompt} in, {completion} out, {total} total in {n} request; "
        "estimated cost {cost}",
        "tokens: {prompt} in, {completion} out, {total} total in {n} requests; "
        "estimated cost {cost}",
        u.requests,
    ).format(
        prompt=u.prompt_tokens,
        completion=u.completion_tokens,
        total=u.total_tokens,
        n=u.requests,
        cost=cost,
    )
    if result.cached:
        line = _("{line} (cached: no model calls)").format(line=line)
    console().print(line, highlight=False, markup=False)


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
        dropped = conversation.last_dropped
        err_console().print(
            ngettext(
                "({n} older message left out to fit the context budget)",
                "({n} older messages left out to fit the context budget)",
                dropped,
            ).format(n=dropped),
            style="dim",
            highlight=False,
            markup=False,
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
            err_console().print(
                _("{editor} exited with {code}; nothing asked").format(
                    editor=editor, code=done.returncode
                ),
                style="dim",
                highlight=False,
                markup=False,
            )
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
            console().print(question, highlight=False, markup=False)
        return question
    return text


def repl(
    conversation: Conversation,
    result: AnalysisResult,
    answer: Callable[[str], object],
    read: Read = input,
) -> None:
    """Questions from the prompt until exit; ``answer`` runs one turn (in the command's loop)."""
    console().print(_(REPL_HELP), style="dim", highlight=False, markup=False)
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
            console().print(_("New conversation."), style="dim")
        elif question == "/history":
            for m in conversation.history():
                role = _(ROLES[m.role]) if m.role in ROLES else m.role
                line = _("{role}: {text}").format(role=role, text=m.content)
                console().print(line, highlight=False, markup=False)
        elif question == "/frames":
            console().print(frames_table(result))
        else:
            try:
                answer(question)
            except KeyboardInterrupt:
                # The turn is stored only once complete, so nothing of it is kept.
                sys.stdout.write("\n")
                err_console().print(
                    _("(answer cancelled; ask again or Ctrl-D to leave)"), style="dim"
                )


def show_resumed(count: int) -> None:
    console().print(
        ngettext(
            "Continuing a conversation of {n} message.",
            "Continuing a conversation of {n} messages.",
            count,
        ).format(n=count),
        style="dim",
    )


def show_needs_endpoint() -> None:
    err_console().print(_(NEEDS_ENDPOINT), highlight=False, markup=False)


def show_no_conversations(analysed: list[dict[str, Any]]) -> None:
    """`videonet conversations` with none to list: say so, and why the videos analysed here
    have none (offline, no chat), rather than print an empty table."""
    if not analysed:
        err_console().print(
            _("No conversations yet: `videonet analyze CLIP` with a model endpoint starts one."),
            highlight=False,
            soft_wrap=True,
        )
        return
    count, offline = len(analysed), sum(1 for a in analysed if a["backend"] == "offline")
    names = ", ".join(str(a["video"]) for a in analysed[:3]) + (", …" if count > 3 else "")
    if offline == count:
        said = ngettext(
            "No conversations yet: {n} video analysed here (offline: {names}); a chat about a "
            "video needs a model endpoint (OPENAI_BASE_URL or OPENAI_API_KEY), then "
            "`videonet analyze CLIP` or `videonet ask CLIP QUESTION`.",
            "No conversations yet: {n} videos analysed here (offline: {names}); a chat about a "
            "video needs a model endpoint (OPENAI_BASE_URL or OPENAI_API_KEY), then "
            "`videonet analyze CLIP` or `videonet ask CLIP QUESTION`.",
            count,
        )
    else:
        said = ngettext(
            "No conversations yet: {n} video analysed here ({offline} offline: {names}); a chat "
            "about a video needs a model endpoint (OPENAI_BASE_URL or OPENAI_API_KEY), then "
            "`videonet analyze CLIP` or `videonet ask CLIP QUESTION`.",
            "No conversations yet: {n} videos analysed here ({offline} offline: {names}); a chat "
            "about a video needs a model endpoint (OPENAI_BASE_URL or OPENAI_API_KEY), then "
            "`videonet analyze CLIP` or `videonet ask CLIP QUESTION`.",
            count,
        )
    err_console().print(
        Text(said.format(n=count, offline=offline, names=names)),
        soft_wrap=True,
    )
