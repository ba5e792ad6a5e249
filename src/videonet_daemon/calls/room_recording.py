"""Recording a call on the media server (opt-in): Janus records every publisher, the daemon
turns its files into playable WebM (video) and Opus (audio) per participant with janus-pp-rec.

A participant asks (`call:record` with ``on: true``; `videonet call --record-room`); everyone in
the call hears `call:recording` before Janus starts (and a newcomer finds it in its
`call:join` answer), and again when it stops: when asked (``on: false``), or when the one who
asked leaves the call. Janus writes ``.mjr`` files into ``media_server_recordings_dir`` (it
must be on this machine, or shared with it), one sub-directory per recording; on stop the daemon
waits for Janus to close them and runs ``janus-pp-rec`` on each. The results are served to the
room's members only (`GET /api/rooms/{room_id}/call-recordings/{recording_id}/{name}`); the
participant who asked fetches them and offers them to the room as an ordinary transfer.

A recording is run by the daemon the asker is connected to (it holds the directory and stops
it); that a room is being recorded is shared with the other daemons through the media server's
shared state (`PinStore`: memory, or Redis), so a participant joining through any daemon is told.
Only the one who asked stops it (by `call:record` off, or by leaving the call).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from videonet_daemon.calls.media_server import JanusError, MediaServer, MediaServerDown
from videonet_daemon.errors import Conflict, NotFound
from videonet_daemon.i18n import N_
from videonet_protocol import protocol

log = logging.getLogger(__name__)

CLOSE_WAIT_SECONDS = 10.0  # for Janus to close its .mjr files after recording stops
CLOSE_POLL_SECONDS = 0.2
PP_REC_SECONDS = 120.0  # one file's post-processing
# videoroom-<room>-user-<feed>-<timestamp>-<audio|video|data>-<mindex>.mjr
_MJR = re.compile(r"^videoroom-(?P<room>.+)-user-(?P<feed>.+)-\d+-(?P<kind>audio|video)-\d+\.mjr$")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
OUT = "out"


@dataclass
class Active:
    info: protocol.CallRecording
    directory: Path


class RoomRecorder:
    def __init__(self, media: MediaServer, directory: Path) -> None:
        self.media = media
        self.directory = directory
        self.active: dict[str, Active] = {}  # room id -> the recording this daemon runs
        self.shared = media.pins  # room's recording, for every daemon: "recording:<room id>"
        self._lock = asyncio.Lock()

    async def current(self, room_id: str) -> protocol.CallRecording | None:
        """The room's recording in progress, whichever daemon runs it."""
        raw = await self.shared.get(_key(room_id))
        if raw is None:
            return None
        info: protocol.CallRecording = json.loads(raw)
        return info

    async def start(
        self,
        room_id: str,
        by: protocol.CallPeer,
        announce: Callable[[protocol.CallRecording], Awaitable[None]],
    ) -> protocol.CallRecording:
        """Tell everyone (``announce``), then make Janus record every publisher."""
        async with self._lock:
            if room_id in self.active or await self.current(room_id) is not None:
                raise Conflict(N_("the call is already being recorded"))
            recording_id = f"{int(time.time())}-{secrets.token_hex(4)}"
            directory = self.directory / _SAFE.sub("_", room_id) / recording_id
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o777)  # Janus may run as its own user
            info: protocol.CallRecording = {
                "id": recording_id,
                "by": by,
                "started_at": int(time.time()),
            }
            self.active[room_id] = Active(info, directory)
            await self.shared.set(_key(room_id), json.dumps(info))
            await announce(info)
            try:
                await self._set(room_id, directory, True)
            except BaseException:
                self.active.pop(room_id, None)
                await self.shared.forget(_key(room_id))
                raise
            return info

    async def stop(self, room_id: str) -> tuple[protocol.CallRecording, list[str]] | None:
        """Stop the room's recording and post-process it: (the recording, the files made)."""
        async with self._lock:
            active = self.active.pop(room_id, None)
        if active is None:
            return None
        await self.shared.forget(_key(room_id))
        try:
            await self._set(room_id, active.directory, False)
        except (MediaServerDown, JanusError) as exc:
            log.warning("could not stop the recording of %s: %s", room_id, exc)
        files = await self._post_process(room_id, active.directory)
        return active.info, files

    def file(self, room_id: str, recording_id: str, name: str) -> Path:
        """A post-processed file, by exact name (nothing joined from the request)."""
        base = self.directory / _SAFE.sub("_", room_id)
        if not base.is_dir():
            raise NotFound(N_("no such recording"))
        for recording in base.iterdir():
            if recording.name != recording_id:
                continue
            out = recording / OUT
            for candidate in out.iterdir() if out.is_dir() else []:
                if candidate.name == name and candidate.is_file():
                    return candidate
        raise NotFound(N_("no such recording"))

    async def _set(self, room_id: str, directory: Path, record: bool) -> None:
        async with self.media.session() as handle:
            if record:
                await handle.request(
                    {
                        "request": "edit",
                        "room": room_id,
                        "secret": self.media.room_secret(room_id),
                        "new_rec_dir": str(directory),
                    }
                )
            await handle.request(
                {
                    "request": "enable_recording",
                    "room": room_id,
                    "secret": self.media.room_secret(room_id),
                    "record": record,
                }
            )

    async def _post_process(self, room_id: str, directory: Path) -> list[str]:
        # Janus renames each file from .mjr.tmp once it has closed it (a file, not an event).
        for _ in range(int(CLOSE_WAIT_SECONDS / CLOSE_POLL_SECONDS)):
            if not any(directory.glob("*.tmp")):
                break
            await asyncio.sleep(CLOSE_POLL_SECONDS)
        out = directory / OUT
        out.mkdir(exist_ok=True)
        pp_rec = shutil.which("janus-pp-rec")
        if pp_rec is None:
            log.warning("janus-pp-rec is not installed (janus-tools): recordings left as .mjr")
            return []
        made: list[str] = []
        for mjr in sorted(directory.glob("*.mjr")):
            match = _MJR.match(mjr.name)
            if match is None:
                continue
            kind = match["kind"]
            feed = _SAFE.sub("_", match["feed"])
            target = out / f"{feed}-{kind}.{'webm' if kind == 'video' else 'opus'}"
            number = 2
            while target.exists():
                target = out / f"{feed}-{kind}-{number}.{target.suffix.lstrip('.')}"
                number += 1
            proc = await asyncio.create_subprocess_exec(
                pp_rec,
                str(mjr),
                str(target),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                _, err = await asyncio.wait_for(proc.communicate(), PP_REC_SECONDS)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                log.warning("janus-pp-rec took too long on %s", mjr.name)
                continue
            if proc.returncode == 0 and target.is_file() and target.stat().st_size > 0:
                made.append(target.name)
            else:
                log.warning("janus-pp-rec failed on %s: %s", mjr.name, err.decode()[-300:])
        log.info("recording of %s: %d files", room_id, len(made))
        return made


def _key(room_id: str) -> str:
    return f"recording:{room_id}"
