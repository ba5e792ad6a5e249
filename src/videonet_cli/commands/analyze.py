"""``videonet analyze CLIP`` and ``videonet ask CLIP QUESTION``: parse, call the core, render.

The analysis modules pull in OpenCV, NumPy and the openai SDK, so they are imported inside the
command functions: ``videonet --version`` and every other command stay fast. One event loop per
command: ``asyncio.Runner`` keeps the same loop (and so the same model client) for the analysis
and every chat turn, while the prompt reads in the main thread.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from videonet_cli import extras
from videonet_cli.errors import UsageError
from videonet_cli.i18n import N_, _

if TYPE_CHECKING:
    from videonet_cli.analysis.pipeline import AnalyzeRequest
    from videonet_cli.analysis.settings import Endpoint

SAMPLINGS = ("uniform", "shots")
DETAILS = ("low", "high")
REQUESTS = ("per-frame", "single")
# `videonet conversations`: headers translated where the table is shown.
CONVERSATION_COLUMNS = (
    ("id", N_("id")),
    ("created_at", N_("started")),
    ("messages", N_("messages")),
    ("video", N_("clip")),
    ("first_question", N_("first question")),
)


def _preload(module: str) -> None:
    """Import ``module`` in a background thread while the video is hashed and decoded.

    The openai SDK takes about half a second to import; OpenCV and hashlib release the GIL, so
    on two cores the import and the video work overlap instead of adding up.
    """
    # Not a daemon thread: interpreter shutdown must not catch it half-way through an import.
    threading.Thread(target=importlib.import_module, args=(module,), daemon=False).start()


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UsageError(
            _("{option} must be one of {allowed}, not {value}").format(
                option=option, allowed=", ".join(allowed), value=repr(value)
            )
        )
    return value


def _request(
    clip: Path,
    frames: int | None,
    sampling: str | None,
    model: str | None,
    detail: str | None,
    concurrency: int | None,
    request_mode: str | None,
    offline: bool,
    refresh: bool,
) -> AnalyzeRequest:
    from videonet_cli.analysis import settings
    from videonet_cli.analysis.imaging import Detail
    from videonet_cli.analysis.pipeline import MAX_FRAMES, AnalyzeRequest, RequestMode
    from videonet_cli.analysis.sampling import Sampling

    return AnalyzeRequest(
        path=clip,
        frames=frames if frames is not None else settings.integer("frames", 1, MAX_FRAMES),
        sampling=Sampling(_choice("--sampling", sampling or settings.raw("sampling"), SAMPLINGS)),
        model=model or settings.raw("model"),
        detail=Detail(_choice("--detail", detail or settings.raw("detail"), DETAILS)),
        concurrency=concurrency
        if concurrency is not None
        else settings.integer("concurrency", 1, 256),
        jpeg_quality=settings.integer("jpeg_quality", 1, 100),
        max_tokens=settings.integer("max_tokens", 16, 100_000),
        request_mode=RequestMode(_choice("--request", request_mode or "per-frame", REQUESTS)),
        timeout_s=settings.number("timeout"),
        max_retries=settings.integer("max_retries", 0, 20),
        offline=offline,
        refresh=refresh,
    )


ClipArgument = typer.Argument(..., help=_("The video file."), metavar="CLIP")
QuestionArgument = typer.Argument(..., help=_("The question about the video."), metavar="QUESTION")


def analyze(
    clip: Path = ClipArgument,
    frames: int | None = typer.Option(
        None, "--frames", "-n", min=1, help=_("How many frames to analyse (default 10).")
    ),
    sampling: str | None = typer.Option(
        None,
        "--sampling",
        metavar="uniform|shots",
        help=_("uniform (evenly spaced) or shots (one per detected shot)."),
    ),
    model: str | None = typer.Option(None, "--model", "-m", help=_("Model (default gpt-4o-mini).")),
    detail: str | None = typer.Option(
        None, "--detail", metavar="low|high", help=_("Image detail: low or high.")
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", "-c", min=1, help=_("Model requests in flight at once (default 10).")
    ),
    request_mode: str | None = typer.Option(
        None,
        "--request",
        metavar="per-frame|single",
        help=_("per-frame (default) or single (all frames in one request)."),
    ),
    offline: bool = typer.Option(
        False, "--offline", help=_("Use the local face detector; no network.")
    ),
    no_chat: bool = typer.Option(False, "--no-chat", help=_("Do not open the chat afterwards.")),
    refresh: bool = typer.Option(False, "--refresh", help=_("Ignore the cached result.")),
    resume: bool = typer.Option(
        False, "--continue", help=_("Continue the last conversation about this clip.")
    ),
    as_json: bool = typer.Option(False, "--json", help=_("Print the result as JSON (no chat).")),
) -> None:
    """Analyse a video's frames (people, activity, setting), then chat about it."""
    from videonet_cli.analysis import settings

    endpoint = None if offline else settings.endpoint()
    # One message naming all that is missing: without an endpoint the offline extra (which
    # brings the analysis one's NumPy and OpenCV too) is what this run needs.
    if endpoint is None:
        extras.require("offline", "analyze --offline" if offline else "analyze")
    else:
        extras.require("analysis", "analyze")  # before anything imports cv2 or numpy
    req = _request(
        clip, frames, sampling, model, detail, concurrency, request_mode, offline, refresh
    )
    if endpoint is not None:
        _preload("openai")
    chat = not (no_chat or as_json)
    _run_analyze(req, endpoint, chat=chat, resume=resume, as_json=as_json)


def ask(
    clip: Path = ClipArgument,
    question: str = QuestionArgument,
    model: str | None = typer.Option(None, "--model", "-m", help=_("Model (default gpt-4o-mini).")),
    as_json: bool = typer.Option(
        False, "--json", help=_("Print question, answer and usage as JSON.")
    ),
) -> None:
    """Ask one question about a video, continuing its stored conversation."""
    extras.require("analysis", "ask")  # before anything imports cv2 or numpy
    from videonet_cli.analysis import settings

    endpoint = settings.endpoint()
    if endpoint is None:
        raise UsageError(_("`ask` needs a model endpoint: set OPENAI_API_KEY or OPENAI_BASE_URL"))
    if not question.strip():
        raise UsageError(_("the question is empty"))
    _preload("openai")
    req = _request(clip, None, None, model, None, None, None, False, False)
    _run_ask(req, endpoint, question.strip(), as_json=as_json)


def _run_analyze(
    req: AnalyzeRequest, endpoint: Endpoint | None, *, chat: bool, resume: bool, as_json: bool
) -> None:
    """The analysis, its rendering, then the chat about it if wanted."""
    from videonet_cli.analysis import settings
    from videonet_cli.analysis.conversation import open_conversation
    from videonet_cli.analysis.pipeline import analyze
    from videonet_cli.analysis.store import Store
    from videonet_cli.render import analysis_view as view
    from videonet_cli.render.console import print_json

    with asyncio.Runner() as runner:
        with view.progress(not as_json) as report:
            result = runner.run(analyze(req, endpoint, report))
        if as_json:
            print_json(result.to_dict())
            return
        view.show_result(result)
        if not chat:
            return
        if endpoint is None or result.backend == "offline":
            view.show_needs_endpoint()
            return
        with Store(settings.store_path()) as store:
            conversation = open_conversation(endpoint, req.model_config(endpoint), result, store)
            if resume:
                view.show_resumed(conversation.resume())
            try:
                view.repl(
                    conversation,
                    result,
                    lambda q: runner.run(view.stream_answer(conversation, q, echo=True)),
                    view.terminal_reader(runner.run),
                )
            finally:
                runner.run(conversation.close())


def _run_ask(req: AnalyzeRequest, endpoint: Endpoint, question: str, *, as_json: bool) -> None:
    """One turn of the stored conversation about the clip (analysing it first if need be)."""
    from videonet_cli.analysis import settings
    from videonet_cli.analysis.conversation import open_conversation
    from videonet_cli.analysis.pipeline import latest_or_analyze
    from videonet_cli.analysis.store import Store
    from videonet_cli.render import analysis_view as view
    from videonet_cli.render.console import print_json

    with asyncio.Runner() as runner:
        with view.progress(not as_json) as report:
            result = runner.run(latest_or_analyze(req, endpoint, report))
        with Store(settings.store_path()) as store:
            conversation = open_conversation(endpoint, req.model_config(endpoint), result, store)
            conversation.resume()
            try:
                answer = runner.run(view.stream_answer(conversation, question, echo=not as_json))
            finally:
                runner.run(conversation.close())
            if as_json:
                print_json(
                    {
                        "video": result.video.path,
                        "sha256": result.video.sha256,
                        "question": question,
                        "answer": answer,
                        "conversation_id": conversation.conversation_id,
                        "messages": len(conversation.history()),
                        "usage": conversation.usage.__dict__,
                    }
                )


def conversations(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help=_("How many, newest first.")),
    as_json: bool = typer.Option(False, "--json", help=_("Print them as JSON.")),
) -> None:
    """List the stored conversations about videos (from analyze and ask), newest first."""
    from videonet_cli.analysis.store import STORE_FILE, Store
    from videonet_cli.config import data_dir
    from videonet_cli.render.console import print_json, print_table

    path = data_dir() / STORE_FILE
    found: list[dict[str, Any]] = []
    analysed: list[dict[str, Any]] = []
    if path.exists():
        with Store(path) as store:
            found = store.conversations(limit)
            if not found:
                analysed = store.analysed_without_conversation()
    if as_json:
        print_json(found)
        return
    if not found:
        from videonet_cli.render.analysis_view import show_no_conversations

        show_no_conversations(analysed)
        return
    print_table(found, [(key, _(header)) for key, header in CONVERSATION_COLUMNS])


def register_commands(app: typer.Typer) -> None:
    """Attach ``analyze``, ``ask`` and ``conversations`` to the root app (top-level verbs)."""
    app.command(
        "analyze",
        help=_("Analyse a video's frames (people, activity, setting), then chat about it."),
    )(analyze)
    app.command(
        "ask", help=_("Ask one question about a video, continuing its stored conversation.")
    )(ask)
    app.command(
        "conversations",
        help=_("List the stored conversations about videos (from analyze and ask), newest first."),
    )(conversations)
