"""The transfer control plane on Socket.IO: listen, offer, accept, seal, verdict, abort.

Only small JSON goes through here (and through Redis when several daemons share it); file bytes
take the HTTP data plane in relay/routes.py.
"""

from __future__ import annotations

from typing import Any

from videonet_daemon.errors import ApiError
from videonet_daemon.i18n import N_
from videonet_daemon.metrics import Metrics
from videonet_daemon.realtime.hub import Event, Hub, SocketUser
from videonet_daemon.relay.keys import TransferKeys, check_e2e, check_keys
from videonet_daemon.relay.receivers import Receivers
from videonet_daemon.relay.service import TransferService
from videonet_daemon.relay.verdict_wait import VerdictWaiters
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.validation import get_str
from videonet_protocol import protocol


class TransferEvents:
    def __init__(
        self,
        hub: Hub,
        service: TransferService,
        receivers: Receivers,
        guard: RoomGuard,
        metrics: Metrics,
        keys: TransferKeys,
        waiters: VerdictWaiters,
    ) -> None:
        self.hub = hub
        self.waiters = waiters
        self.keys = keys
        self.service = service
        self.receivers = receivers
        self.guard = guard
        self.metrics = metrics
        # sid -> rooms it listens for offers in (this daemon's sockets only)
        self.listening: dict[str, set[str]] = {}

    def events(self) -> list[Event]:
        return [
            Event(protocol.EV_TRANSFER_LISTEN, self.listen),
            Event(protocol.EV_TRANSFER_OFFER, self.offer),
            Event(protocol.EV_TRANSFER_ACCEPT, self.accept),
            Event(protocol.EV_TRANSFER_SEAL, self.seal),
            Event(protocol.EV_TRANSFER_VERDICT, self.verdict),
            Event(protocol.EV_TRANSFER_DECLINE, self.decline),
            Event(protocol.EV_TRANSFER_ABORT, self.abort),
            Event(protocol.EV_TRANSFER_KEY, self.key),
            Event(protocol.EV_TRANSFER_WRAP, self.wrap),
        ]

    async def gone(self, user: SocketUser) -> None:
        """A disconnect hook: the socket no longer listens for offers."""
        self.listening.pop(user.sid, None)

    def listeners(self, offer: protocol.TransferOffer) -> list[protocol.PresenceUser]:
        """Who listens for offers in the room and can take this one (not the sender)."""
        found = {
            u.user_id: u.username
            for sid, rooms in self.listening.items()
            if offer["room_id"] in rooms
            and (u := self.hub.users.get(sid)) is not None
            and u.user_id != offer["sender_id"]
            and offer["to_user_id"] in (None, u.user_id)
        }
        return [{"user_id": i, "username": n} for i, n in sorted(found.items())]

    async def listen(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        room_id = get_str(data, "room_id", max_chars=protocol.ROOM_ID_MAX_CHARS)
        await self.guard.require_joined(user, room_id)
        return await self._listen(user, room_id, data)

    async def listen_on_join(
        self, user: SocketUser, room_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Join hook: a join that asks to `listen` (the room guard has let it in) listens too."""
        return await self._listen(user, room_id, data) if data.get("listen") is True else {}

    async def _listen(self, user: SocketUser, room_id: str, data: dict[str, Any]) -> dict[str, Any]:
        self.listening.setdefault(user.sid, set()).add(room_id)
        declined = data.get("declined") is True
        return {"offers": await self.service.pending_for(user.user_id, room_id, declined)}

    async def offer(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        room_id = get_str(data, "room_id", max_chars=protocol.ROOM_ID_MAX_CHARS)
        await self.guard.require_joined(user, room_id)
        offer, resumed = await self.service.offer(user.user_id, {**data, "room_id": room_id})
        if not resumed:
            # The wrapped keys go in before anyone hears of the offer; a resumed transfer keeps
            # the keys of its first offer (the sender gets its own back with transfer:key).
            try:
                await self.keys.add(offer, check_e2e(data.get("e2e"), offer["size"]).keys)
            except ApiError:  # a refused key: the offer did not happen
                await self.service.abort(user.user_id, offer["transfer_id"])
                raise
        self.metrics.transfers.labels(outcome="resumed" if resumed else "offered").inc()
        target = (
            protocol.user_channel(offer["to_user_id"])
            if offer["to_user_id"] is not None
            else protocol.room_channel(room_id)
        )
        await self.hub.sio.emit(protocol.EV_TRANSFER_OFFER, offer, to=target, skip_sid=user.sid)
        listeners = self.listeners(offer)
        reply: protocol.OfferReply = {
            "transfer": offer,
            "offset": offer["uploaded"],
            "resumed": resumed,
            "listeners": sorted(u["username"] for u in listeners),
            "listener_users": listeners,
        }
        return dict(reply)

    async def accept(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        offer = await self.receivers.accept(user.user_id, _transfer_id(data))
        await self.hub.sio.emit(
            protocol.EV_TRANSFER_ACCEPTED,
            {
                "transfer_id": offer["transfer_id"],
                "user_id": user.user_id,
                "username": user.username,
            },
            to=protocol.user_channel(offer["sender_id"]),
        )
        return {"offer": offer}

    async def seal(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        offer = await self.service.seal(
            user.user_id, _transfer_id(data), data.get("sha256"), data.get("seal")
        )
        await self.state_changed(offer)
        reply: protocol.SealReply = {
            "offer": offer,
            "available_until": self.service.available_until(),
        }
        return dict(reply)

    async def verdict(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        transfer_id = _transfer_id(data)
        await self.service.visible(user.user_id, transfer_id)  # no wait for what one may not see

        async def state() -> str:
            return (await self.service.get(transfer_id))["state"]

        await self.waiters.until_sealed(user.sid, transfer_id, state)
        offer, reply = await self.receivers.verdict(user.user_id, transfer_id, data.get("sha256"))
        mac = data.get("mac")
        mac = mac if isinstance(mac, str) and len(mac) == protocol.SHA256_HEX_CHARS else ""
        self._maybe_done(user, data, offer["room_id"])
        outcome = "verified" if reply["match"] else "mismatch"
        self.metrics.transfers.labels(outcome=outcome).inc()
        reason = "" if reply["match"] else "SHA-256 mismatch"
        await self._tell_sender(offer, user, reply["match"], str(data.get("sha256")), reason, mac)
        return dict(reply)

    async def decline(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        reason = get_str(
            data, "reason", max_chars=protocol.TRANSFER_REASON_MAX_CHARS, default="declined"
        )
        offer = await self.receivers.decline(user.user_id, _transfer_id(data))
        self._maybe_done(user, data, offer["room_id"])
        await self._tell_sender(offer, user, False, "", reason)
        return {}

    def _maybe_done(self, user: SocketUser, data: dict[str, Any], room_id: str) -> None:
        # A receiver that takes no more offers stops counting as a listener before the sender
        # hears this verdict, so the sender's next offer does not wait for it.
        if data.get("done") is True:
            self.listening.get(user.sid, set()).discard(room_id)

    async def _tell_sender(
        self,
        offer: protocol.TransferOffer,
        user: SocketUser,
        ok: bool,
        sha: str,
        reason: str,
        mac: str = "",
    ) -> None:
        result: protocol.TransferResult = {
            "transfer_id": offer["transfer_id"],
            "user_id": user.user_id,
            "username": user.username,
            "ok": ok,
            "sha256": sha,
            "reason": reason,
            "mac": mac,
        }
        await self.hub.sio.emit(
            protocol.EV_TRANSFER_RESULT, result, to=protocol.user_channel(offer["sender_id"])
        )

    async def abort(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        offer = await self.service.abort(user.user_id, _transfer_id(data))
        await self.state_changed(offer)
        return {"offer": offer}

    async def key(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        """This device's wrapped key; without one, the sender's running CLI is asked for it."""
        offer = await self.service.visible(user.user_id, _transfer_id(data))
        device_id = get_str(data, "device_id", max_chars=protocol.DEVICE_ID_MAX_CHARS)
        wrapped = await self.keys.get(offer["transfer_id"], user.user_id, device_id)
        online = any(u.user_id == offer["sender_id"] for u in self.hub.users.values())
        if wrapped is None and user.user_id != offer["sender_id"]:
            wanted: protocol.KeyWanted = {
                "transfer_id": offer["transfer_id"],
                "user_id": user.user_id,
                "username": user.username,
                "device_id": device_id,
            }
            await self.hub.sio.emit(
                protocol.EV_TRANSFER_KEY_WANTED,
                wanted,
                to=protocol.user_channel(offer["sender_id"]),
            )
        reply: protocol.KeyReply = {"wrapped": wrapped, "sender_online": online}
        return dict(reply)

    async def wrap(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        """The sender adds wrapped keys (for a device that appeared after the offer)."""
        offer = await self.service.get(_transfer_id(data))
        await self.service.require_sender(
            offer, user.user_id, N_("only the sender wraps keys for a transfer")
        )
        await self.guard.require_member(offer["room_id"], user.user_id)
        keys = check_keys(data.get("keys"))
        added = await self.keys.add(offer, keys)
        for user_id in sorted({u for u, _, _ in keys}):
            await self.hub.sio.emit(
                protocol.EV_TRANSFER_KEY_ADDED,
                {
                    "transfer_id": offer["transfer_id"],
                    "device_ids": [d for u, d, _ in keys if u == user_id],
                },
                to=protocol.user_channel(user_id),
            )
        return {"added": added}

    async def state_changed(self, offer: protocol.TransferOffer) -> None:
        await self.waiters.changed(offer["transfer_id"], offer["state"])
        # A transfer addressed to one member (--to) is news to its sender and that member only.
        to = offer["to_user_id"]
        channels = (
            [protocol.room_channel(offer["room_id"])]
            if to is None
            else sorted({protocol.user_channel(offer["sender_id"]), protocol.user_channel(to)})
        )
        for channel in channels:
            await self.hub.sio.emit(
                protocol.EV_TRANSFER_STATE,
                {"transfer_id": offer["transfer_id"], "state": offer["state"]},
                to=channel,
            )


def _transfer_id(data: dict[str, Any]) -> str:
    return get_str(data, "transfer_id", max_chars=protocol.TRANSFER_ID_MAX_CHARS)
