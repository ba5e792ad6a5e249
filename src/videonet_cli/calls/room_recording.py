"""`videonet call --record-room`: the call recorded on the media server, then offered to the room.

Everyone in the call sees the notice (`recording` events from the daemon's call:recording, and
the call:join answer for a call already being recorded). The participant who asked stops the
recording when it leaves (the daemon stops it too if it drops); the daemon turns Janus's files
into WebM (video) and Opus (audio) per participant; this participant downloads them, names them
after the participants, and offers them to the room as an ordinary transfer (end-to-end
encrypted, like `videonet send --no-wait`).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from videonet_cli.api import Api
from videonet_cli.api.socket import SocketClient
from videonet_cli.config import ENV_TRUST_NEW
from videonet_cli.errors import CliError
from videonet_cli.i18n import _
from videonet_cli.reporting import Reporter
from videonet_protocol import protocol

STOP_TIMEOUT_SECONDS = 180.0  # janus-pp-rec on every file of the call
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def notice(event: dict[str, Any]) -> dict[str, Any]:
    """A call:recording event (or a join's recording) as a report event."""
    recording = event.get("recording")
    if recording:
        return {"event": "recording", "on": True, "by": recording["by"]["username"]}
    stopped = event.get("stopped") or {}
    by = stopped.get("by", {}).get("username", "?")
    return {"event": "recording", "on": False, "by": by, "files": event.get("files", [])}


class RoomRecording:
    def __init__(self, rt: SocketClient, room_id: str, report: Reporter) -> None:
        self.rt = rt
        self.room_id = room_id
        self.report = report
        self.started: protocol.CallRecording | None = None

    def listen(self) -> None:
        async def heard(data: Any = None) -> None:
            if isinstance(data, dict) and data.get("room_id") == self.room_id:
                self.report(notice(data))

        self.rt.on(protocol.EV_CALL_RECORDING, heard)

    async def start(self) -> None:
        ack = await self.rt.call(protocol.EV_CALL_RECORD, {"room_id": self.room_id, "on": True})
        self.started = ack.get("recording")

    async def stop(self) -> tuple[str, list[str]]:
        """Stop our recording: (its id, the files the daemon made)."""
        if self.started is None:
            return "", []
        ack = await self.rt.call(
            protocol.EV_CALL_RECORD,
            {"room_id": self.room_id, "on": False},
            timeout=STOP_TIMEOUT_SECONDS,
        )
        stopped = ack.get("stopped") or self.started
        return str(stopped["id"]), [str(f) for f in ack.get("files", [])]


async def offer(
    api: Api,
    room_id: str,
    recording_id: str,
    files: list[str],
    names: dict[str, str],
    report: Reporter,
) -> list[str]:
    """Download the recording's files and offer them to the room; the names offered."""
    from videonet_cli.transfer.outcomes import SendOptions
    from videonet_cli.transfer.sender import send_files

    if not files:
        return []
    with tempfile.TemporaryDirectory(prefix="videonet-room-recording-") as tmp:
        folder = Path(tmp) / f"call-recording-{_SAFE.sub('_', recording_id)}"
        folder.mkdir()
        offered = []
        for name in files:
            # "<feed id>-<kind>.<ext>": the feed id is the participant's peer id (which may
            # itself hold dashes): the longest known one that starts the name.
            feeds = [f for f in names if name.startswith(f + "-")]
            feed = max(feeds, key=len) if feeds else ""
            local = f"{names[feed]}{name[len(feed) :]}" if feed else name
            target = folder / _SAFE.sub("_", local)
            await api.calls.recording_file(room_id, recording_id, name, target)
            offered.append(target.name)
        try:
            # Offered in the background of a call: nobody to ask, so identities seen here for
            # the first time are taken only with VIDEONET_TRUST_NEW=1 (as `send --trust-new`).
            trust_new = os.environ.get(ENV_TRUST_NEW) == "1"
            options = SendOptions(room_id, [folder], wait=False, trust_new=trust_new)
            await send_files(api, options, report)
        except CliError as exc:
            raise CliError(
                _("the call's recording could not be offered: {problem}").format(
                    problem=exc.message
                )
            ) from exc
    return offered
