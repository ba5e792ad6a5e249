"""`call`: join a room's call, connect to every participant, stay until told to leave.

The end comes from ``--duration``, a first Ctrl-C or SIGTERM (a second one stops at once), the
daemon taking us out of the call (we left the room elsewhere) or the connection to the daemon
dropping. Leaving always goes the same way: `call:leave`, close every peer connection, finish
every recording; the result lists what was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videonet_cli.api import Api
from videonet_cli.calls.media import LocalMedia
from videonet_cli.calls.mesh import Mesh
from videonet_cli.calls.peer import rtc_configuration
from videonet_cli.calls.recording import split_failures
from videonet_cli.calls.room_recording import RoomRecording, notice, offer
from videonet_cli.calls.state import CallState
from videonet_cli.errors import CliError, DaemonRefused, UnreachableError, UsageError
from videonet_cli.i18n import _
from videonet_cli.reporting import Reporter
from videonet_protocol import protocol

STATS_EVERY_SECONDS = 1.0


@dataclass
class CallOptions:
    """What `videonet call` was asked: the room, what to send, where to record, for how long."""

    room: str
    media: LocalMedia
    record: Path | None
    audio_only: bool
    duration: float | None
    record_room: bool = False  # record the call on the media server, offer it to the room


async def run_call(api: Api, options: CallOptions, report: Reporter) -> dict[str, Any]:
    """Take part in the call until it is time to leave; return the result event, whose
    ``reason`` says why: duration, signal, removed (we left the room) or daemon_lost."""
    started = time.monotonic()
    stop = asyncio.Event()
    reason = "signal"
    try:
        async with api.socket() as rt:
            room = await api.rooms.resolve(options.room)
            await rt.join(room["id"])
            dropped = asyncio.Event()
            rt.on("disconnect", lambda *args: dropped.set())
            # Before the mesh takes the audio source: the level tap goes between them.
            state = CallState(rt, room["id"], options.media, report)
            state.listen()
            mesh = Mesh(rt, room["id"], options.media, options.record, options.audio_only, report)
            mesh.on_peer_joined.append(state.newcomer)
            mesh.listen()
            recording = RoomRecording(rt, room["id"], report)
            recording.listen()
            try:
                reply = await rt.call(protocol.EV_CALL_JOIN, {"room_id": room["id"]})
            except DaemonRefused as exc:
                if exc.code == protocol.ErrorCode.UNAVAILABLE:  # the media server is down
                    raise UnreachableError(exc.message) from exc
                raise
            participants: list[protocol.CallPeer] = reply.get("participants", [])
            config = rtc_configuration(reply.get("ice_servers", []))
            access = reply.get("media")
            if access:  # through the media server (an SFU): publish once, subscribe to others
                from videonet_cli.calls.sfu import Sfu

                mesh = sfu = Sfu(mesh, access)
                sfu.config = config
            else:
                sfu = None
                mesh.start(str(reply["peer_id"]), config)
            report(
                {
                    "event": "joined",
                    "room": room["name"],
                    "room_id": room["id"],
                    "peer_id": reply["peer_id"],
                    "participants": [p["username"] for p in participants],
                    "sending": options.media.kinds,
                    "ice_servers": len(reply.get("ice_servers", [])),
                    "mode": "sfu" if access else "mesh",
                }
            )
            if reply.get("recording"):  # before our media goes anywhere: the notice
                report(notice(reply))
            if options.record_room and not access:
                raise UsageError(_("--record-room needs a daemon with a media server (Janus)"))
            recorded: tuple[str, list[str]] = ("", [])
            try:
                if options.record_room:
                    await recording.start()
                if sfu is not None:
                    await sfu.begin(str(reply["peer_id"]), participants)
                state.joined()
                for remote in participants:
                    try:
                        await mesh.offer_to(remote)
                    except CliError as exc:  # that peer left meanwhile; the others still count
                        report({"event": "warning", "message": exc.message})
                with _signals(stop):
                    reason = await _wait_for_end(
                        stop, dropped, mesh, options.duration, started, report, state.tick
                    )
            finally:
                if rt.sio.connected and recording.started is not None:
                    try:
                        recorded = await recording.stop()
                    except CliError as exc:
                        report({"event": "warning", "message": f"recording: {exc.message}"})
                if rt.sio.connected:
                    with contextlib.suppress(CliError):
                        await rt.call(protocol.EV_CALL_LEAVE, {"room_id": room["id"]}, timeout=5)
                await mesh.close()
            peers = mesh.finished
            offered: list[str] = []
            if recorded[1]:
                known = getattr(mesh, "known", {})
                names = {_safe(p): str(p_info["username"]) for p, p_info in known.items()}
                names[_safe(str(reply["peer_id"]))] = str((await api.me())["username"])
                offered = await offer(api, room["id"], recorded[0], recorded[1], names, report)
                report({"event": "room_recording_offered", "files": offered})
    finally:
        options.media.close()
    recordings = [
        {"peer_id": p["peer_id"], "username": p["username"], "path": p["recording"]}
        for p in peers
        if p["recording"]
    ]
    result = {
        "event": "result",
        "room": room["name"],
        "reason": reason,
        "seconds": round(time.monotonic() - started, 1),
        "peers": peers,
        "recordings": recordings,
    }
    if options.record_room:
        result["room_recording"] = offered
    if reason == "media_lost":
        result["detail"] = getattr(mesh, "lost_reason", "")
    split_failures(result)  # an incomplete file goes under failed_recordings, never recordings
    return result


async def _wait_for_end(
    stop: asyncio.Event,
    dropped: asyncio.Event,
    mesh: Mesh,
    duration: float | None,
    started: float,
    report: Reporter,
    tick: Callable[[], None],
) -> str:
    """Report the peers' state every second until a reason to leave comes; return the reason."""
    deadline = started + duration if duration is not None else None
    lost = _lost(mesh)
    ends = [stop, dropped, mesh.removed] + ([lost] if lost is not None else [])
    while True:
        if stop.is_set():
            return "signal"
        if mesh.removed.is_set():
            return "removed"
        if dropped.is_set():
            return "daemon_lost"
        if lost is not None and lost.is_set():
            return "media_lost"
        if deadline is not None and time.monotonic() >= deadline:
            return "duration"
        wait = STATS_EVERY_SECONDS
        if deadline is not None:
            wait = max(0.0, min(wait, deadline - time.monotonic()))
        waiters = [asyncio.ensure_future(e.wait()) for e in ends]
        await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        tick()  # speaking ends after its hang-over, even when no more audio comes
        if not any(e.is_set() for e in ends):
            report({"event": "stats", "peers": await mesh.sample(), "uplink": await mesh.uplink()})


def _safe(name: str) -> str:
    """A feed id as the daemon writes it into file names."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _lost(mesh: Mesh) -> asyncio.Event | None:
    """Set when the media server stops answering (a call through an SFU), else None."""
    lost = getattr(mesh, "lost", None)
    return lost if isinstance(lost, asyncio.Event) else None


@contextlib.contextmanager
def _signals(stop: asyncio.Event) -> Iterator[None]:
    """First SIGINT/SIGTERM: leave cleanly. Second: the default action (stop at once)."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def first(sig: signal.Signals) -> Callable[[], None]:
        def handle() -> None:
            stop.set()
            loop.remove_signal_handler(sig)

        return handle

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(sig, first(sig))
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
