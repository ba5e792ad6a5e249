"""`videonet call ROOM`: take part in a room's WebRTC call (aiortc), sending and recording media."""

from __future__ import annotations

from pathlib import Path

import typer

from videonet_cli import extras
from videonet_cli.commands import common
from videonet_cli.errors import UnreachableError
from videonet_cli.i18n import _


def call(
    ctx: typer.Context,
    room: str | None = common.DefaultRoomArgument,
    play: Path | None = typer.Option(
        None, "--play", help=_("Send this media file (its audio and video)."), metavar="FILE"
    ),
    device: str | None = typer.Option(
        None,
        "--device",
        help=_("Send from a capture device: /dev/video0, or FORMAT:NAME (e.g. pulse:default)."),
        metavar="DEVICE",
    ),
    audio_only: bool = typer.Option(
        False, "--audio-only", help=_("Send and receive audio only (no video).")
    ),
    record: Path | None = typer.Option(
        None,
        "--record",
        help=_("Record each peer to OUT with its name before the extension (call-bob.mp4)."),
        metavar="OUT",
    ),
    duration: float | None = typer.Option(
        None,
        "--duration",
        min=0.1,
        help=_("Leave after this many seconds (default: Ctrl-C)."),
        metavar="S",
    ),
    record_room: bool = typer.Option(
        False,
        "--record-room",
        help=_(
            "Record the whole call on the media server (everyone is told); when you leave, "
            "offer the files (WebM/Opus per participant) to the room as a transfer."
        ),
    ),
    json_out: bool = typer.Option(False, "--json", help=_("Print events as JSON lines.")),
) -> None:
    """Join a room's call: connect to every participant, send media, record what arrives."""
    # aiortc and PyAV load here only: `videonet --version` and the other commands stay fast.
    extras.require("calls", "call")
    from videonet_cli.calls.core import CallOptions, run_call
    from videonet_cli.calls.media import check_record_target, open_media
    from videonet_cli.calls.recording import IncompleteRecording
    from videonet_cli.render.call_view import CallView, choose_mode, lost_words, problem_words

    room = common.room_or_default(room)
    api = common.api_for(ctx)  # not logged in: say so before opening any device
    if record is not None:
        check_record_target(record, audio_only)
    media = open_media(play, device, audio_only)
    options = CallOptions(room, media, record, audio_only, duration, record_room)
    with CallView(choose_mode(json_out)) as view:
        result = common.run(common.using(api, lambda api: run_call(api, options, view)))
    failed = result["failed_recordings"]
    view.result(result)
    if result["reason"] == "daemon_lost":
        raise UnreachableError(_("the connection to the daemon was lost; the call ended"))
    if result["reason"] == "media_lost":
        raise UnreachableError(
            _("{problem}; the call ended").format(problem=lost_words(result.get("detail") or ""))
        )
    if failed:
        raise IncompleteRecording(
            "; ".join(
                _("recording of {who} ({path}): {problem}").format(
                    who=r["username"], path=r["path"], problem=problem_words(r["problem"])
                )
                for r in failed
            )
        )


def register_commands(app: typer.Typer) -> None:
    app.command(
        "call",
        help=_(
            "Join a room's call: connect to every participant, send media, record what arrives."
        ),
    )(call)
