"""The relay of one-off code exchanges (`code:seek`, `code:message`): passed on, never stored.

A code exchange (SPAKE2, in the CLI) carries a transfer's file key from its sender to one member
without the daemon being able to read it. The daemon's part is to pass the messages on and to
decide who may talk to whom, and how much: a transfer's sender opens its code's number in the
transfer's room (`code:open`: its socket joins that number's channel); a seek from a member who
joined the room goes to that channel only, so the number is not shown to the room's other
members; a message goes only between a transfer's sender and a member the transfer is offered
to, in the direction its step belongs to; each transfer and each user have a rate. Nothing of
an exchange is written anywhere (with several daemons the emits cross through Redis, as every
other control event does, and so do the channels).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from videonet_daemon.errors import Forbidden, RateLimited, TransferStateError, ValidationError
from videonet_daemon.i18n import N_
from videonet_daemon.realtime.hub import Event, Hub, SocketUser
from videonet_daemon.realtime.ratelimit import TokenBuckets
from videonet_daemon.relay.service import TransferService
from videonet_daemon.rooms.guard import RoomGuard
from videonet_daemon.validation import get_exchange_id, get_int, get_str
from videonet_protocol import protocol
from videonet_protocol.protocol import CodeStep

_SENDER_STEPS = (CodeStep.PAKE, CodeStep.KEY, CodeStep.FAIL)
_RECEIVER_STEPS = (CodeStep.REPLY, CodeStep.FAIL)


class CodeRelay:
    def __init__(self, hub: Hub, service: TransferService, guard: RoomGuard) -> None:
        self.hub = hub
        self.service = service
        self.guard = guard
        self.per_transfer = TokenBuckets(
            protocol.CODE_MESSAGES_PER_SECOND, protocol.CODE_MESSAGES_BURST
        )
        self.seeks = TokenBuckets(protocol.CODE_SEEKS_PER_SECOND, protocol.CODE_SEEKS_BURST)

    def events(self) -> list[Event]:
        return [
            Event(protocol.EV_CODE_OPEN, self.open),
            Event(protocol.EV_CODE_SEEK, self.seek),
            Event(protocol.EV_CODE_MESSAGE, self.message),
        ]

    async def open(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        """The sender of a transfer hears the seeks for its code's number in the transfer's room
        from now on (this socket, until it disconnects)."""
        transfer_id = get_str(data, "transfer_id", max_chars=protocol.TRANSFER_ID_MAX_CHARS)
        nameplate = _nameplate(data)
        offer = await self.service.visible(user.user_id, transfer_id)
        await self.service.require_sender(
            offer, user.user_id, N_("only the sender opens a code for a transfer")
        )
        if offer["state"] == protocol.TransferState.ABORTED:
            raise TransferStateError(N_("the sender aborted this transfer"))
        await self.guard.require_joined(user, offer["room_id"])
        await self.hub.sio.enter_room(user.sid, protocol.code_channel(offer["room_id"], nameplate))
        return {}

    async def seek(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        room_id = get_str(data, "room_id", max_chars=protocol.ROOM_ID_MAX_CHARS)
        nameplate = _nameplate(data)
        exchange = get_exchange_id(data)
        await self.guard.require_joined(user, room_id)
        wait = self.seeks.take(user.user_id)
        if wait:
            raise RateLimited(wait, N_("too many code seeks; slow down"))
        seen: protocol.CodeSeen = {
            "room_id": room_id,
            "nameplate": nameplate,
            "exchange": exchange,
            "user_id": user.user_id,
            "username": user.username,
        }
        # Only to the senders that opened this number here: the room's other members never
        # see it, so they cannot seek with it and spend the code (issue 21, finding 9).
        await self.hub.sio.emit(
            protocol.EV_CODE_SEEK,
            seen,
            to=protocol.code_channel(room_id, nameplate),
            skip_sid=user.sid,
        )
        return {}

    async def message(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        transfer_id = get_str(data, "transfer_id", max_chars=protocol.TRANSFER_ID_MAX_CHARS)
        to_user_id = get_int(data, "to_user_id", default=None, minimum=1, maximum=2**63 - 1)
        if to_user_id is None:
            raise ValidationError(N_("to_user_id is required"))
        exchange = get_exchange_id(data)
        try:
            step = CodeStep(get_str(data, "step", max_chars=16))
        except ValueError as exc:
            raise ValidationError(
                N_("step must be one of {names}"), names=", ".join(CodeStep)
            ) from exc
        body = _body(data, empty=step == CodeStep.FAIL)
        offer = await self.service.visible(user.user_id, transfer_id)
        if offer["state"] == protocol.TransferState.ABORTED:
            raise TransferStateError(N_("the sender aborted this transfer"))
        sender_id = offer["sender_id"]
        if user.user_id == sender_id:
            if step not in _SENDER_STEPS:
                raise ValidationError(
                    N_("the sender does not send {value}"), value=repr(step.value)
                )
            if to_user_id == sender_id or offer["to_user_id"] not in (None, to_user_id):
                raise Forbidden(N_("this transfer is not offered to that user"))
            try:
                await self.guard.require_member(offer["room_id"], to_user_id)
            except Forbidden as exc:
                raise Forbidden(N_("that user is not a member of the transfer's room")) from exc
        else:
            if step not in _RECEIVER_STEPS:
                raise ValidationError(N_("only the sender sends {value}"), value=repr(step.value))
            if to_user_id != sender_id:
                raise Forbidden(N_("a code message from a receiver goes to the transfer's sender"))
        wait = self.per_transfer.take(transfer_id)
        if wait:
            raise RateLimited(wait, N_("too many code messages for this transfer"))
        relayed: protocol.CodeRelayed = {
            "transfer_id": transfer_id,
            "exchange": exchange,
            "step": step.value,
            "body": body,
            "from_user_id": user.user_id,
            "from_username": user.username,
        }
        await self.hub.sio.emit(
            protocol.EV_CODE_MESSAGE, relayed, to=protocol.user_channel(to_user_id)
        )
        return {}


def _nameplate(data: dict[str, Any]) -> str:
    nameplate = get_str(data, "nameplate", max_chars=protocol.CODE_NAMEPLATE_MAX_DIGITS)
    if not nameplate.isascii() or not nameplate.isdigit() or nameplate.startswith("0"):
        raise ValidationError(N_("nameplate must be a code's number (digits, from 1)"))
    return nameplate


def _body(data: dict[str, Any], *, empty: bool) -> str:
    value = data.get("body", "")
    if not isinstance(value, str) or len(value) > protocol.CODE_BODY_MAX_CHARS:
        raise ValidationError(
            N_("body must be base64 of at most {code_body_max_chars} characters"),
            code_body_max_chars=protocol.CODE_BODY_MAX_CHARS,
        )
    if empty != (value == ""):
        raise ValidationError(N_("body must be empty for 'fail' and only then"))
    try:
        base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValidationError(N_("body must be standard base64")) from exc
    return value
