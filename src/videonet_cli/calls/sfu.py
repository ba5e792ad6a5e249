"""The call through a media server (Janus VideoRoom): publish once, subscribe to each other feed.

The daemon still says who is in the call (call:joined, call:left: the roster, as in the mesh)
and who may be: its `call:join` answer carries the VideoRoom, a short-lived token and the room's
pin (`media`), refreshed with `call:media_token` before the token expires. Media goes to Janus:

- one publisher handle joins the VideoRoom with our peer id as its feed id and sends our
  tracks on one peer connection (`sendonly`): whatever the number of participants, we upload
  each track once;
- for every other publisher Janus announces (in the join answer, then in ``publishers`` events,
  which it sends once the publisher's media is up: a feed is only subscribed after its
  publisher's webrtcup), a subscriber handle gets Janus's offer and answers it on a `PeerLink`,
  which records or discards what arrives exactly as in the mesh (one file per remote peer);
- ``unpublished``/``leaving`` (or the daemon's call:left) closes that peer's link;
- the room destroyed, or us kicked: the call ends as ``removed``; Janus not answering: it ends
  as ``media_lost`` (one line, exit code 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from videonet_cli.calls.janus import Handle, JanusRefused, Session
from videonet_cli.calls.mesh import KINDS, Mesh
from videonet_cli.calls.peer import uplink_of
from videonet_cli.errors import CliError
from videonet_cli.i18n import _
from videonet_protocol import protocol

log = logging.getLogger(__name__)

NO_SUCH_FEED = 428  # the publisher's media is not up yet
UNAUTHORIZED = 433  # a wrong pin: it changed (someone lost access); fetch the new one
SUBSCRIBE_TRIES = 10
SUBSCRIBE_RETRY_SECONDS = 0.5
ROSTER_WAITS, ROSTER_WAIT_SECONDS = 30, 0.1  # up to 3 s for call:joined to name a new feed
REFRESH_FRACTION = 3  # refresh the token when a third of its life is left... each third


class Sfu(Mesh):
    """The participant's side of a call through Janus (same events and result as `Mesh`)."""

    def __init__(self, mesh: Mesh, access: protocol.MediaAccess) -> None:
        super().__init__(
            mesh.rt, mesh.room_id, mesh.media, mesh.record, mesh.audio_only, mesh.report
        )
        self._inbox = mesh._inbox  # the daemon's call events, queued since before call:join
        self.on_peer_joined = mesh.on_peer_joined
        self.access = access
        self.session = Session(access["server"], access["token"])
        self.publisher: Handle | None = None
        self.publishing: RTCPeerConnection | None = None
        self.subscriptions: dict[str, Handle] = {}  # feed (peer) id -> its subscriber handle
        self.known: dict[str, protocol.CallPeer] = {}  # from the daemon: peer id -> who
        self.lost = asyncio.Event()  # the media server stopped answering
        self.lost_reason = ""
        self._feeds: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._upload_at = time.monotonic()
        self._uploaded = 0

    # --- joining ----------------------------------------------------------------------------
    async def begin(self, me: str, participants: list[protocol.CallPeer]) -> None:
        """Join the VideoRoom, publish our media, subscribe to the publishers already there."""
        self.known.update({p["peer_id"]: p for p in participants})
        self.start(me, self.config)
        try:
            await self.session.open()
            self.publisher = await self.session.attach()
            joined, _jsep = await self.publisher.request(
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": self.access["room"],
                    "pin": self.access["pin"],
                    "id": me,
                },
                expect="joined",
            )
        except (JanusRefused, TimeoutError) as exc:
            raise CliError(
                _("could not join the call on the media server: {problem}").format(problem=exc)
            ) from exc
        self._tasks = [
            asyncio.create_task(self._janus_events()),
            asyncio.create_task(self._subscriber()),
            asyncio.create_task(self._refresh()),
            asyncio.create_task(self._watch_session()),
        ]
        for feed in joined.get("publishers", []):
            self._feeds.put_nowait(feed)
        if self.media.kinds:
            await self._publish_own_media()
        self.report(
            {"event": "media_server", "server": self.access["server"], "room": self.access["room"]}
        )

    async def _publish_own_media(self) -> None:
        assert self.publisher is not None
        pc = self.publishing = RTCPeerConnection(self.config)
        for kind in KINDS:
            if kind == "video" and self.audio_only:
                continue
            track = self.media.track_for_peer(kind)
            if track is not None:
                pc.addTransceiver(track, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": pc.localDescription.sdp}
        _published, jsep = await self.publisher.request(
            {"request": "publish"}, "configured", jsep=offer
        )
        if jsep is None:
            raise CliError(_("the media server did not answer our media"))
        await pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], "answer"))
        self.report({"event": "publishing", "sending": self.media.kinds})

    async def offer_to(self, remote: protocol.CallPeer) -> None:
        """Nothing to offer to a peer: Janus offers each subscription."""
        self.known[remote["peer_id"]] = remote

    # --- subscriptions ----------------------------------------------------------------------
    async def _subscriber(self) -> None:
        """Subscribe to announced feeds one at a time (their handles and links in order)."""
        while True:
            feed = await self._feeds.get()
            try:
                await self._subscribe(feed)
            except (CliError, JanusRefused, TimeoutError) as exc:
                who = feed.get("display") or feed.get("id")
                self.report({"event": "warning", "message": f"subscribing to {who}: {exc}"})
            except Exception as exc:
                log.debug("subscribing failed", exc_info=True)
                self.report({"event": "warning", "message": f"subscribing failed: {exc}"})

    async def _subscribe(self, feed: dict[str, Any]) -> None:
        feed_id = str(feed.get("id"))
        if feed_id == self.me or feed_id in self.subscriptions or self._closing:
            return
        # Who it is comes from the daemon's roster (call:joined), which may arrive a moment
        # after Janus announced the feed: wait for it a little before falling back.
        for _attempt in range(ROSTER_WAITS):
            if feed_id in self.known:
                break
            await asyncio.sleep(ROSTER_WAIT_SECONDS)
        remote = self.known.get(feed_id) or {
            "peer_id": feed_id,
            "user_id": 0,
            "username": str(feed.get("display") or feed_id),
        }
        handle = await self.session.attach()
        self.subscriptions[feed_id] = handle
        offer = None
        for attempt in range(SUBSCRIBE_TRIES):
            body = {
                "request": "join",
                "ptype": "subscriber",
                "room": self.access["room"],
                "pin": self.access["pin"],
                "streams": [{"feed": feed_id}],
            }
            try:
                _attached, offer = await handle.request(body, expect="attached")
                break
            except JanusRefused as exc:
                if exc.code == UNAUTHORIZED and attempt == 0:
                    await self._refresh_once()  # the pin changed: someone lost access
                elif exc.code != NO_SUCH_FEED or attempt == SUBSCRIBE_TRIES - 1:
                    self.subscriptions.pop(feed_id, None)
                    await handle.detach()
                    raise
                await asyncio.sleep(SUBSCRIBE_RETRY_SECONDS)
        if offer is None:
            raise CliError(_("the media server sent no offer for the subscription"))
        link = self._link(remote)
        await link.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        for transceiver in link.pc.getTransceivers():
            if transceiver.kind == "video" and self.audio_only:
                transceiver.direction = "inactive"
        await link.pc.setLocalDescription(await link.pc.createAnswer())
        await link.start_sink()
        answer = {"type": "answer", "sdp": link.pc.localDescription.sdp}
        await handle.request({"request": "start"}, expect="started", jsep=answer)
        self.report(self._tracks_event(link))

    async def _unsubscribe(self, peer_id: str) -> None:
        handle = self.subscriptions.pop(peer_id, None)
        if handle is not None:
            await handle.detach()

    # --- events from Janus ------------------------------------------------------------------
    async def _janus_events(self) -> None:
        while True:
            handle, event = await self.session.events.get()
            data = event.get("plugindata", {}).get("data", {})
            if handle is self.publisher:
                for feed in data.get("publishers", []):
                    self._feeds.put_nowait(feed)
                gone = data.get("unpublished") or data.get("leaving")
                if gone in ("ok", self.me) or data.get("videoroom") == "destroyed":
                    self.removed.set()  # kicked, or the room was destroyed
                elif gone:
                    self._inbox.put_nowait((protocol.EV_CALL_HANGUP, self._hangup_event(str(gone))))
                if event.get("janus") == "webrtcup":
                    self.report({"event": "published"})
                if event.get("janus") == "hangup":
                    reason = str(event.get("reason", "hung up"))
                    self.report({"event": "warning", "message": f"the media server: {reason}"})

    def _hangup_event(self, peer_id: str) -> dict[str, Any]:
        peer = self.known.get(peer_id) or {"peer_id": peer_id, "user_id": 0, "username": peer_id}
        return {"room_id": self.room_id, "peer": peer, "reason": "unpublished"}

    async def _watch_session(self) -> None:
        await self.session.lost.wait()
        self.lost_reason = self.session.lost_reason
        self.lost.set()

    # --- tokens -----------------------------------------------------------------------------
    async def _refresh(self) -> None:
        while True:
            left = self.access["token_expires_at"] - time.time()
            await asyncio.sleep(max(5.0, left / REFRESH_FRACTION))
            try:
                await self._refresh_once()
            except CliError as exc:
                # Not a member in the call any more: the daemon's call:left ends the call.
                self.report({"event": "warning", "message": f"media token: {exc.message}"})

    async def _refresh_once(self) -> None:
        fresh = await self.rt.call(protocol.EV_CALL_MEDIA_TOKEN, {"room_id": self.room_id})
        self.access = {
            "server": str(fresh.get("server", self.access["server"])),
            "room": str(fresh.get("room", self.access["room"])),
            "pin": str(fresh["pin"]),
            "token": str(fresh["token"]),
            "token_expires_at": int(fresh["token_expires_at"]),
        }
        self.session.token = self.access["token"]

    # --- roster from the daemon ---------------------------------------------------------------
    async def _joined(self, remote: protocol.CallPeer, data: dict[str, Any]) -> None:
        self.known[remote["peer_id"]] = remote
        await super()._joined(remote, data)

    async def _left(self, remote: protocol.CallPeer, data: dict[str, Any]) -> None:
        await super()._left(remote, data)
        await self._unsubscribe(remote["peer_id"])

    async def _hung_up(self, remote: protocol.CallPeer, data: dict[str, Any]) -> None:
        await super()._hung_up(remote, data)
        await self._unsubscribe(remote["peer_id"])

    async def hang_up(self, peer_id: str, reason: str) -> None:
        """A subscription that failed: drop it (Janus is told by the detach)."""
        link = self.links.pop(peer_id, None)
        if link is not None:
            await self._finish(link)
            self.report({"event": "peer_hung_up", **link.remote, "reason": reason})
        await self._unsubscribe(peer_id)

    # --- status and the end -------------------------------------------------------------------
    async def uplink(self) -> dict[str, Any]:
        """What we upload: bytes and rate on the publishing connection, video streams sent."""
        return await uplink_of([self.publishing] if self.publishing is not None else [])

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().close()
        if self.publishing is not None:
            for sender in self.publishing.getSenders():
                if sender.track is not None:
                    sender.track.stop()
            await self.publishing.close()
        await self.session.close()
