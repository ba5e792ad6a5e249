"""Call signaling on Socket.IO: join, leave, and relaying offer/answer/candidate/hang-up.

The daemon never sees media. It keeps, per room, the sockets taking part in that room's call
and relays each signaling message to the one participant it names, after checking that sender
and target are both in the same room's call and that the sender is still a member of the room
(the room guard asks the database on every message).

Several daemons share one call: the participant list is a `Roster` (calls/roster.py: in
memory, or in Redis), and every emit goes through Socket.IO's Redis manager, so a message to a
peer connected to another daemon reaches it there, and ``call:joined``/``call:left`` reach the
call's channel on every daemon. Each daemon also keeps its own participants (``local``): the
sender of a message is always one of them, and a disconnect only concerns them. The
participants of a daemon that died are removed by the others (`sweep`, after each heartbeat).

With a media server (calls/media_server.py), the same roster and the same call:joined/call:left
events hold the call together, but media goes through Janus: `call:join` also answers with the
room's VideoRoom, a short-lived token and the pin (`media`), `call:media_token` refreshes them,
and a participant taken out of the call for any reason but its own `call:leave` (it left the
room or was removed, logged out, was disabled, dropped) is kicked from the VideoRoom, which
gets a new pin.

A socket's call events are handled one at a time, in the order they arrived (the hub's
``in_order``), so what it sends reaches its peer in the order it was sent: an offer before its
candidates, the end of candidates last. Every message from a socket is first charged to that
socket's token bucket and measured against ``call_signal_max_bytes``; then its fields are
checked. A refusal is an `ApiError`, which the hub's wrapper (realtime/hub.py) turns into a
refused ack plus a ``vn:error`` event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from videonet_daemon import clock
from videonet_daemon.calls.ice import ice_servers
from videonet_daemon.calls.media_server import MediaServer
from videonet_daemon.calls.room_recording import RoomRecorder
from videonet_daemon.calls.roster import CallFull, RedisRoster, Roster
from videonet_daemon.cluster import Liveness
from videonet_daemon.errors import (
    Conflict,
    Forbidden,
    NotFound,
    NotInCall,
    PayloadTooLarge,
    RateLimited,
    ValidationError,
)
from videonet_daemon.i18n import N_
from videonet_daemon.realtime.hub import Event, Hub, SocketUser
from videonet_daemon.realtime.ratelimit import TokenBuckets
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.settings import Settings
from videonet_daemon.validation import get_str, has_control_chars
from videonet_protocol import protocol

log = logging.getLogger(__name__)

Handler = Callable[[SocketUser, dict[str, Any]], Awaitable[dict[str, Any]]]


class CallSignaling:
    """The participants of each room's call on this daemon, and the call:* event handlers."""

    def __init__(
        self,
        hub: Hub,
        guard: RoomGuard,
        settings: Settings,
        roster: Roster,
        liveness: Liveness | None,
        media: MediaServer | None = None,
        recorder: RoomRecorder | None = None,
    ) -> None:
        self.hub = hub
        self.guard = guard
        self.settings = settings
        self.roster = roster  # everyone in each call, on every daemon
        self.liveness = liveness  # None: one daemon, nobody else to watch
        # This daemon's participants: room_id -> sid -> participant.
        self.local: dict[str, dict[str, protocol.CallPeer]] = {}
        # Sockets between their place in `local` and their place in the roster: the sweep
        # leaves them alone (it would find them missing from the roster and remove them).
        self._joining: set[str] = set()
        self.buckets = TokenBuckets(settings.call_signal_rate, settings.call_signal_burst)
        self.media = media  # None: a mesh
        self.recorder = recorder  # None: no recording on the media server
        self._revoking: set[asyncio.Task[object]] = set()

    def events(self) -> list[Event]:
        # In order: each socket's call events are relayed in the order it sent them. Handled
        # concurrently, a candidate could overtake its offer (the peer, not knowing the
        # connection yet, drops it) or the end of candidates overtake the last candidates.
        def on(event: str, handler: Handler) -> Event:
            return Event(event, handler, in_order=True)

        return [
            on(protocol.EV_CALL_JOIN, self._limited(self.join)),
            on(protocol.EV_CALL_LEAVE, self.leave),  # never rate limited: leaving must work
            on(protocol.EV_CALL_OFFER, self._limited(self.offer)),
            on(protocol.EV_CALL_ANSWER, self._limited(self.answer)),
            on(protocol.EV_CALL_CANDIDATE, self._limited(self.candidate)),
            on(protocol.EV_CALL_HANGUP, self._limited(self.hangup)),
            on(protocol.EV_CALL_MEDIA_TOKEN, self._limited(self.media_token)),
            on(protocol.EV_CALL_RECORD, self._limited(self.record)),
            on(protocol.EV_CALL_STATE, self._limited(self.state)),
        ]

    def watch(self) -> None:
        """The hooks beside the events."""
        hub = self.hub
        # A socket that leaves the room's channel leaves its call: room:leave, a disconnect, or
        # the user leaving the room over HTTP (on any daemon: the bus reaches every daemon).
        hub.on_leave(self._left_channel)
        hub.on_disconnect(self._disconnected)
        if self.liveness is not None:
            self.liveness.every_beat(self.sweep)

    # --- limits -----------------------------------------------------------------------------
    def _limited(self, handler: Handler) -> Handler:
        """Charge the socket's bucket and measure the message before the handler sees it."""

        async def limited(user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
            wait = self.buckets.take(user.sid)
            if wait > 0:
                raise RateLimited(wait, N_("too many call signaling messages; slow down"))
            size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
            if size > self.settings.call_signal_max_bytes:
                raise PayloadTooLarge(
                    N_(
                        "a call signaling message may be {call_signal_max_bytes} bytes, this one "
                        "is {size}"
                    ),
                    call_signal_max_bytes=self.settings.call_signal_max_bytes,
                    size=size,
                )
            return await handler(user, data)

        return limited

    # --- membership -------------------------------------------------------------------------
    async def _require_in_call(self, user: SocketUser, room_id: str) -> None:
        # Membership first, as the guard does for every event: a stranger hears "forbidden"
        # whatever else is wrong. Being in the call implies being in the room's channel:
        # leaving the channel ends the call.
        await self.guard.require_member(room_id, user.user_id)
        if user.sid not in self.local.get(room_id, {}):
            raise NotInCall()

    async def _target(self, user: SocketUser, room_id: str, data: dict[str, Any]) -> str:
        to = get_str(data, "to", max_chars=protocol.PEER_ID_MAX_CHARS)
        if to == user.sid:
            raise ValidationError(N_("to: a peer cannot signal itself"))
        if to not in self.local.get(room_id, {}) and not await self.roster.has(room_id, to):
            raise NotFound(N_("no participant {to} in this room's call"), to=repr(to))
        return to

    # --- join and leave ---------------------------------------------------------------------
    async def join(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        room_id = get_str(data, "room_id", max_chars=protocol.ROOM_ID_MAX_CHARS)
        await self.guard.require_joined(user, room_id)
        local = self.local.setdefault(room_id, {})
        if user.sid in local:
            raise Conflict(N_("this connection is already in the call"))
        me = local[user.sid] = _peer(user)  # before any await: a second join is refused
        self._joining.add(user.sid)
        channel = protocol.call_channel(room_id)
        try:
            # In the channel before the list is read: whoever joins after us, on any daemon, is
            # announced to us (a call:joined for someone in our list is harmless; a miss is not).
            await self.hub.sio.enter_room(user.sid, channel)
            others = await self.roster.join(room_id, me, self.settings.call_max_participants)
            # With a media server: its VideoRoom exists, and a token and the pin for it (Janus
            # down: the join is refused, 503 unavailable, and the participant is not listed).
            media = await self.media.access(room_id) if self.media is not None else None
        except BaseException as exc:
            self._forget_local(room_id, user.sid)
            await self.roster.remove(room_id, user.sid)
            await self.hub.sio.leave_room(user.sid, channel)
            if isinstance(exc, CallFull):
                limit = self.settings.call_max_participants
                raise Conflict(N_("the call is full ({limit} participants)"), limit=limit) from None
            raise
        finally:
            self._joining.discard(user.sid)
        servers, expires_at = ice_servers(self.settings, user.user_id, clock.epoch())
        reply: protocol.CallJoinReply = {
            "room_id": room_id,
            "peer_id": user.sid,
            "participants": others,
            "ice_servers": servers,
            "ice_expires_at": expires_at,
            "signal_max_bytes": self.settings.call_signal_max_bytes,
            "media": media,
            "recording": await self.recorder.current(room_id) if self.recorder else None,
        }
        await self.hub.sio.emit(
            protocol.EV_CALL_JOINED, {"room_id": room_id, "peer": me}, to=channel, skip_sid=user.sid
        )
        log.info(
            "%s joined the call in room %s (%d in it)", user.username, room_id, len(others) + 1
        )
        return dict(reply)

    async def state(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        """Mute and speaking state, to everyone else in the call (mesh or media server alike)."""
        room_id = get_str(data, "room_id", max_chars=protocol.ROOM_ID_MAX_CHARS)
        await self._require_in_call(user, room_id)
        flags = {key: data.get(key) for key in ("audio", "video", "speaking")}
        if not all(isinstance(value, bool) for value in flags.values()):
            raise ValidationError(N_("audio, video and speaking must be true or false"))
        event: protocol.CallState = {
            "room_id": room_id,
            "peer": self.local[room_id][user.sid],
            "audio": bool(flags["audio"]),
            "video": bool(flags["video"]),
            "speaking": bool(flags["speaking"]),
        }
        channel = protocol.call_channel(room_id)
        await self.hub.sio.emit(protocol.EV_CALL_STATE, dict(event), to=channel, skip_sid=user.sid)
        return {}

    async def media_token(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        """A fresh token and the current pin, for a member still in the call."""
        room_id = get_str(data, "room_id", max_chars=protocol.ROOM_ID_MAX_CHARS)
        await self._require_in_call(user, room_id)
        if self.media is None:
            raise NotFound(N_("this daemon has no media server: calls are a mesh"))
        return dict(await self.media.access(room_id))

    async def record(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        """Start (``on: true``) or stop the call's recording on the media server. Everyone in
        the call hears call:recording before Janus starts recording, and when it stops."""
        room_id = get_str(data, "room_id", max_chars=protocol.ROOM_ID_MAX_CHARS)
        await self._require_in_call(user, room_id)
        on = data.get("on")
        if not isinstance(on, bool):
            raise ValidationError(N_("on must be true or false"))
        if self.recorder is None:
            raise NotFound(N_("this daemon does not record calls on a media server"))
        channel = protocol.call_channel(room_id)
        if on:
            me = self.local[room_id][user.sid]

            async def announce(info: protocol.CallRecording) -> None:
                event = {"room_id": room_id, "recording": info}
                await self.hub.sio.emit(protocol.EV_CALL_RECORDING, event, to=channel)

            info = await self.recorder.start(room_id, me, announce)
            return {"recording": info}
        current = await self.recorder.current(room_id)
        if current is not None and current["by"]["peer_id"] != user.sid:
            raise Forbidden(N_("only the participant who started the recording can stop it"))
        return dict(await self._stop_recording(room_id))

    async def _stop_recording(self, room_id: str) -> protocol.CallRecordReply:
        assert self.recorder is not None
        stopped = await self.recorder.stop(room_id)
        if stopped is None:
            return {"recording": None, "files": []}
        info, files = stopped
        reply: protocol.CallRecordReply = {"recording": None, "stopped": info, "files": files}
        event = {"room_id": room_id, **reply}
        await self.hub.sio.emit(
            protocol.EV_CALL_RECORDING, event, to=protocol.call_channel(room_id)
        )
        # The one who asked may have left the call already: it hears too (to fetch the files).
        await self.hub.sio.emit(protocol.EV_CALL_RECORDING, event, to=info["by"]["peer_id"])
        return reply

    async def leave(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        room_id = get_str(data, "room_id", max_chars=protocol.ROOM_ID_MAX_CHARS)
        if user.sid not in self.local.get(room_id, {}):
            raise NotInCall()
        await self._remove(room_id, user.sid, protocol.LeftReason.LEFT)
        return {"room_id": room_id}

    def _forget_local(self, room_id: str, sid: str) -> protocol.CallPeer | None:
        call = self.local.get(room_id, {})
        peer = call.pop(sid, None)
        if not call:
            self.local.pop(room_id, None)
        return peer

    async def _remove(self, room_id: str, sid: str, reason: protocol.LeftReason) -> None:
        peer = self._forget_local(room_id, sid)
        if peer is None:
            return
        if self.media is not None and reason is not protocol.LeftReason.LEFT:
            self._revoke(room_id, sid)
        current = await self.recorder.current(room_id) if self.recorder is not None else None
        if current is not None and current["by"]["peer_id"] == sid:
            # The one who asked left: the recording ends (post-processing takes a while).
            self._in_background(self._stop_recording(room_id))
        # None: a sweep took it out of the roster first and has told the others already.
        announce = await self.roster.remove(room_id, sid) is not None
        channel = protocol.call_channel(room_id)
        event = {"room_id": room_id, "peer": peer, "reason": str(reason)}
        if reason is protocol.LeftReason.LEFT_ROOM:
            # Tell the socket itself too: its client ends the call when it reads its own id.
            await self.hub.sio.emit(protocol.EV_CALL_LEFT, event, to=sid)
        if reason is not protocol.LeftReason.DISCONNECTED:
            await self.hub.sio.leave_room(sid, channel)
        if announce:
            await self.hub.sio.emit(protocol.EV_CALL_LEFT, event, to=channel, skip_sid=sid)

    def _revoke(self, room_id: str, peer_id: str) -> None:
        """Kick the participant from the VideoRoom and change its pin, in the background (the
        others hear call:left now; Janus may take a moment)."""
        assert self.media is not None
        self._in_background(self.media.revoke(room_id, peer_id))

    def _in_background(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._revoking.add(task)
        task.add_done_callback(self._revoking.discard)

    async def _disconnected(self, user: SocketUser) -> None:
        self.buckets.forget(user.sid)
        for room_id in [r for r, call in self.local.items() if user.sid in call]:
            await self._remove(room_id, user.sid, protocol.LeftReason.DISCONNECTED)

    async def sweep(self) -> None:
        """After a heartbeat: remove the participants of daemons that stopped beating (and
        those a killed earlier run of this one left), and tell each call who is gone."""
        if self.liveness is None or not isinstance(self.roster, RedisRoster):
            return
        gone = str(protocol.LeftReason.DISCONNECTED)
        here = self.hub.users.__contains__
        for room_id, peer in await self.roster.remove_dead(self.liveness.alive, here):
            if self.media is not None:
                self._revoke(room_id, peer["peer_id"])
            log.info("%s left the call in room %s: their daemon stopped", peer["username"], room_id)
            event = {"room_id": room_id, "peer": peer, "reason": gone}
            await self.hub.sio.emit(protocol.EV_CALL_LEFT, event, to=protocol.call_channel(room_id))
        # Ours that the others removed while our heartbeat lapsed (Redis away, a long pause):
        # they were told these left, so each socket is told too, and its client ends the call.
        for room_id, call in list(self.local.items()):
            for sid in list(call):
                if sid in self._joining or await self.roster.has(room_id, sid):
                    continue  # (a join under way is in the roster when it ends, or undone)
                mine = self._forget_local(room_id, sid)
                if mine is None:
                    continue  # gone meanwhile (its join failed, or it left)
                await self.hub.sio.emit(
                    protocol.EV_CALL_LEFT,
                    {"room_id": room_id, "peer": mine, "reason": gone},
                    to=sid,
                )
                await self.hub.sio.leave_room(sid, protocol.call_channel(room_id))

    async def _left_channel(self, user: SocketUser, room_id: str) -> None:
        if user.sid in self.local.get(room_id, {}):
            # The hub forgets a socket before it runs the hooks of a disconnect.
            gone = user.sid not in self.hub.users
            reason = protocol.LeftReason.DISCONNECTED if gone else protocol.LeftReason.LEFT_ROOM
            await self._remove(room_id, user.sid, reason)

    # --- relaying ---------------------------------------------------------------------------
    async def _relay(
        self, event: str, user: SocketUser, data: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        room_id = get_str(data, "room_id", max_chars=protocol.ROOM_ID_MAX_CHARS)
        await self._require_in_call(user, room_id)
        to = await self._target(user, room_id, data)
        message = {"room_id": room_id, "peer": self.local[room_id][user.sid], **body}
        await self.hub.sio.emit(event, message, to=to)
        return {}

    async def offer(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        return await self._relay(protocol.EV_CALL_OFFER, user, data, {"sdp": _sdp(data)})

    async def answer(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        return await self._relay(protocol.EV_CALL_ANSWER, user, data, {"sdp": _sdp(data)})

    async def candidate(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        body = {"candidate": _candidate(data)}
        return await self._relay(protocol.EV_CALL_CANDIDATE, user, data, body)

    async def hangup(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        reason = get_str(
            data, "reason", max_chars=protocol.CALL_REASON_MAX_CHARS, default="hung up"
        )
        return await self._relay(protocol.EV_CALL_HANGUP, user, data, {"reason": reason})


def _peer(user: SocketUser) -> protocol.CallPeer:
    return {"peer_id": user.sid, "user_id": user.user_id, "username": user.username}


def _sdp(data: dict[str, Any]) -> str:
    sdp = data.get("sdp")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise ValidationError(N_("sdp must be a session description starting with v=0"))
    if len(sdp) > protocol.CALL_SDP_MAX_CHARS:
        raise PayloadTooLarge(
            N_("sdp may be at most {call_sdp_max_chars} characters"),
            call_sdp_max_chars=protocol.CALL_SDP_MAX_CHARS,
        )
    if has_control_chars(sdp.replace("\r\n", "").replace("\n", "")):
        raise ValidationError(N_("sdp must not contain control characters other than line breaks"))
    return sdp


def _candidate(data: dict[str, Any]) -> protocol.IceCandidate | None:
    """An RTCIceCandidateInit, or None: the sender has no more candidates."""
    if "candidate" not in data:
        raise ValidationError(N_("candidate is required (null for the end of candidates)"))
    raw = data["candidate"]
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValidationError(N_("candidate must be an object {candidate, sdpMid, sdpMLineIndex}"))
    text = get_str(
        raw, "candidate", max_chars=protocol.CALL_CANDIDATE_MAX_CHARS, min_chars=0, default=""
    )
    mid = raw.get("sdpMid")
    if mid is not None and (
        not isinstance(mid, str) or len(mid) > protocol.CALL_MID_MAX_CHARS or has_control_chars(mid)
    ):
        raise ValidationError(N_("candidate.sdpMid must be a short string or null"))
    index = raw.get("sdpMLineIndex")
    if index is not None and (
        isinstance(index, bool)
        or not isinstance(index, int)
        or not 0 <= index <= protocol.CALL_MLINE_INDEX_MAX
    ):
        raise ValidationError(N_("candidate.sdpMLineIndex must be a small integer or null"))
    if mid is None and index is None:
        raise ValidationError(N_("candidate needs sdpMid or sdpMLineIndex"))
    ufrag = raw.get("usernameFragment")
    if ufrag is not None and (
        not isinstance(ufrag, str)
        or len(ufrag) > protocol.CALL_UFRAG_MAX_CHARS
        or has_control_chars(ufrag)
    ):
        raise ValidationError(N_("candidate.usernameFragment must be a short string or null"))
    return {"candidate": text, "sdpMid": mid, "sdpMLineIndex": index, "usernameFragment": ufrag}
