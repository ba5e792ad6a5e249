"""The call as one participant sees it: a peer connection to every other participant (a mesh).

Who offers is decided by join order, so two peers never offer to each other at once: the
newcomer offers to everyone the daemon listed at `call:join`, and answers nobody's
`call:joined` (those newer participants will offer to it). Signaling events are handled one at
a time, in arrival order, by one task: a candidate never overtakes the offer it belongs to.
aiortc gathers its candidates before `setLocalDescription` returns, so its SDPs carry them; the
candidates other clients (browsers) trickle are added as they come, and so is their end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from videonet_cli.api.socket import SocketClient
from videonet_cli.calls.media import LocalMedia, recording_path
from videonet_cli.calls.peer import PeerLink, uplink_of
from videonet_cli.errors import CliError
from videonet_cli.reporting import Reporter
from videonet_protocol import protocol

log = logging.getLogger(__name__)

KINDS = ("audio", "video")
WORKER_STOP_SECONDS = 10.0
ANSWER_TIMEOUT_SECONDS = 30.0  # an offer nobody answers (the peer vanished) is given up


class Mesh:
    def __init__(
        self,
        rt: SocketClient,
        room_id: str,
        media: LocalMedia,
        record: Path | None,
        audio_only: bool,
        report: Reporter,
    ) -> None:
        self.rt = rt
        self.room_id = room_id
        self.media = media
        self.record = record
        self.audio_only = audio_only
        self.report = report
        self.me = ""  # our peer id, known once call:join answers
        self.config = RTCConfiguration(iceServers=[])
        self.links: dict[str, PeerLink] = {}
        self.finished: list[dict[str, Any]] = []  # peers that left, as last described
        self.removed = asyncio.Event()  # set when the daemon takes us out of the call
        self._taken: set[Path] = set()
        self._inbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._timers: set[asyncio.Task[None]] = set()
        self._closing = False
        self.on_peer_joined: list[Callable[[], None]] = []  # e.g. tell the newcomer our state

    # --- wiring -----------------------------------------------------------------------------
    def listen(self) -> None:
        """Subscribe to the call events before `call:join`, so that none is missed: they wait
        in the inbox until `start` knows who we are."""
        for event in (
            protocol.EV_CALL_JOINED,
            protocol.EV_CALL_LEFT,
            protocol.EV_CALL_OFFER,
            protocol.EV_CALL_ANSWER,
            protocol.EV_CALL_CANDIDATE,
            protocol.EV_CALL_HANGUP,
        ):
            self.rt.on(event, self._enqueue(event))

    def start(self, me: str, config: RTCConfiguration) -> None:
        """Begin handling the call's events, as participant ``me`` with these ICE servers."""
        self.me = me
        self.config = config
        self._worker = asyncio.create_task(self._work())

    def _enqueue(self, event: str) -> Callable[[Any], Any]:
        async def put(data: Any = None) -> None:
            if isinstance(data, dict) and data.get("room_id") == self.room_id:
                self._inbox.put_nowait((event, data))

        return put

    async def _work(self) -> None:
        handlers = {
            protocol.EV_CALL_JOINED: self._joined,
            protocol.EV_CALL_LEFT: self._left,
            protocol.EV_CALL_OFFER: self._offered,
            protocol.EV_CALL_ANSWER: self._answered,
            protocol.EV_CALL_CANDIDATE: self._candidate,
            protocol.EV_CALL_HANGUP: self._hung_up,
        }
        while True:
            event, data = await self._inbox.get()
            if not event:
                return  # the end: `close` takes over the remaining links
            remote = _peer(data.get("peer"))
            if remote is None:
                continue
            if self._closing and event not in (protocol.EV_CALL_LEFT, protocol.EV_CALL_HANGUP):
                continue  # no new connections while leaving
            try:
                await handlers[event](remote, data)
            except CliError as exc:
                self.report({"event": "warning", "message": exc.message})
            except Exception as exc:
                # One peer's bad description must not end the call with everyone else.
                log.debug("handling %s failed", event, exc_info=True)
                who = remote["username"]
                self.report({"event": "warning", "message": f"{event} from {who}: {exc}"})

    # --- peer connections -------------------------------------------------------------------
    def _link(self, remote: protocol.CallPeer) -> PeerLink:
        record_to = (
            recording_path(self.record, remote["username"], self._taken) if self.record else None
        )
        link = PeerLink(remote, self.config, record_to, accept_video=not self.audio_only)
        self.links[remote["peer_id"]] = link

        @link.pc.on("connectionstatechange")
        async def changed() -> None:
            state = link.pc.connectionState
            if self.links.get(link.peer_id) is not link:
                return
            self.report(
                {
                    "event": "peer_state",
                    "peer_id": link.peer_id,
                    "username": link.username,
                    "state": state,
                }
            )
            if state == "failed":
                await self.hang_up(link.peer_id, "the connection failed")

        return link

    async def offer_to(self, remote: protocol.CallPeer) -> None:
        """As the newcomer: offer our media (and to receive theirs) to one participant."""
        link = self._link(remote)
        for kind in KINDS:
            if kind == "video" and self.audio_only:
                continue
            track = self.media.track_for_peer(kind)
            link.pc.addTransceiver(track or kind, direction="sendrecv" if track else "recvonly")
        await link.pc.setLocalDescription(await link.pc.createOffer())
        self.report({"event": "offer_sent", "peer_id": link.peer_id, "username": link.username})
        await self._send(protocol.EV_CALL_OFFER, link.peer_id, sdp=link.pc.localDescription.sdp)
        timer = asyncio.create_task(self._expect_answer(link))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    async def _expect_answer(self, link: PeerLink) -> None:
        await asyncio.sleep(ANSWER_TIMEOUT_SECONDS)
        if self.links.get(link.peer_id) is link and link.pc.signalingState == "have-local-offer":
            await self.hang_up(link.peer_id, f"no answer within {ANSWER_TIMEOUT_SECONDS:g} s")

    async def _offered(self, remote: protocol.CallPeer, data: dict[str, Any]) -> None:
        old = self.links.pop(remote["peer_id"], None)
        if old is not None:  # a fresh offer from a known peer replaces the old connection
            await self._finish(old)
        link = self._link(remote)
        await link.pc.setRemoteDescription(RTCSessionDescription(str(data.get("sdp")), "offer"))
        for transceiver in link.pc.getTransceivers():
            if transceiver.kind == "video" and self.audio_only:
                transceiver.direction = "inactive"
                continue
            track = self.media.track_for_peer(transceiver.kind)
            if track is not None and transceiver.sender.track is None:
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendrecv"
        await link.pc.setLocalDescription(await link.pc.createAnswer())
        await link.start_sink()
        self.report(self._tracks_event(link))
        await self._send(protocol.EV_CALL_ANSWER, link.peer_id, sdp=link.pc.localDescription.sdp)

    async def _answered(self, remote: protocol.CallPeer, data: dict[str, Any]) -> None:
        link = self.links.get(remote["peer_id"])
        if link is None or link.pc.signalingState != "have-local-offer":
            return
        await link.pc.setRemoteDescription(RTCSessionDescription(str(data.get("sdp")), "answer"))
        await link.start_sink()
        self.report(self._tracks_event(link))

    async def _candidate(self, remote: protocol.CallPeer, data: dict[str, Any]) -> None:
        link = self.links.get(remote["peer_id"])
        init = data.get("candidate")
        if link is None:
            return
        if init is None or (isinstance(init, dict) and not init.get("candidate")):
            # The end of its candidates (null, or a browser's empty one): aioice stops waiting
            # for more, so a peer none of whose candidates work fails instead of hanging.
            with contextlib.suppress(ValueError):  # its SDP already said so
                await link.pc.addIceCandidate(None)
            return
        if not isinstance(init, dict):
            return
        text = str(init["candidate"]).removeprefix("candidate:")
        candidate = candidate_from_sdp(text)
        candidate.sdpMid = init.get("sdpMid")
        candidate.sdpMLineIndex = init.get("sdpMLineIndex")
        await link.pc.addIceCandidate(candidate)

    async def _joined(self, remote: protocol.CallPeer, data: dict[str, Any]) -> None:
        if remote["peer_id"] != self.me:
            self.report({"event": "peer_joined", **remote})
            for hook in self.on_peer_joined:
                hook()

    async def _left(self, remote: protocol.CallPeer, data: dict[str, Any]) -> None:
        reason = str(data.get("reason", "left"))
        if remote["peer_id"] == self.me:
            self.removed.set()
            return
        link = self.links.pop(remote["peer_id"], None)
        if link is not None:
            await self._finish(link)
        self.report({"event": "peer_left", **remote, "reason": reason})

    async def _hung_up(self, remote: protocol.CallPeer, data: dict[str, Any]) -> None:
        link = self.links.pop(remote["peer_id"], None)
        if link is not None:
            await self._finish(link)
            reason = str(data.get("reason", "hung up"))
            self.report({"event": "peer_hung_up", **remote, "reason": reason})

    async def hang_up(self, peer_id: str, reason: str) -> None:
        """Close our connection to one peer and tell it to close its side."""
        link = self.links.pop(peer_id, None)
        if link is None:
            return
        await self._finish(link)
        self.report({"event": "peer_hung_up", **link.remote, "reason": reason})
        with contextlib.suppress(CliError):
            await self._send(protocol.EV_CALL_HANGUP, peer_id, reason=reason)

    async def _finish(self, link: PeerLink) -> None:
        await link.close()
        self.finished.append(link.describe())

    # --- signaling out ----------------------------------------------------------------------
    async def _send(self, event: str, to: str, **body: Any) -> None:
        await self.rt.call(event, {"room_id": self.room_id, "to": to, **body})

    def _tracks_event(self, link: PeerLink) -> dict[str, Any]:
        return {
            "event": "negotiated",
            "peer_id": link.peer_id,
            "username": link.username,
            "receiving": link.kinds,
            "recording": str(link.recording) if link.recording else None,
        }

    # --- status and the end -----------------------------------------------------------------
    async def sample(self) -> list[dict[str, Any]]:
        """Every live peer with its state and bitrates (one getStats per peer)."""
        rows = []
        for link in list(self.links.values()):
            with contextlib.suppress(Exception):
                await link.sample()
            rows.append(link.describe())
        return rows

    async def uplink(self) -> dict[str, Any]:
        """What we upload: to every peer, each on its own connection."""
        return await uplink_of([link.pc for link in self.links.values()])

    async def close(self) -> None:
        """Stop handling events, close every peer connection and finish every recording."""
        self._closing = True
        for timer in list(self._timers):
            timer.cancel()
        if self._worker is not None:
            # Let the event being handled finish (a cancelled close could lose a recording).
            self._inbox.put_nowait(("", {}))
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._worker, WORKER_STOP_SECONDS)
        links, self.links = list(self.links.values()), {}
        for link in links:
            await self._finish(link)
        self.media.close()


def _peer(raw: Any) -> protocol.CallPeer | None:
    """The sender named in a call event, or None if the event is not shaped as expected."""
    if not isinstance(raw, dict) or not isinstance(raw.get("peer_id"), str):
        return None
    return {
        "peer_id": raw["peer_id"],
        "user_id": int(raw.get("user_id") or 0),
        "username": str(raw.get("username", "?")),
    }
