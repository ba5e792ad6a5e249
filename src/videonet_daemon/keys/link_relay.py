"""The relay of device-linking messages (`device:link`): passed on, never stored.

`videonet devices link` runs a SPAKE2 exchange between a new device and one that holds the
account's identity (videonet_cli/identity/link.py). The daemon only passes the messages on, and
only between sockets of the same account: a message goes to every other socket of its sender's
user. It checks shapes and sizes and limits how many messages an account sends.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from videonet_daemon.errors import RateLimited, ValidationError
from videonet_daemon.i18n import N_
from videonet_daemon.realtime.hub import Event, Hub, SocketUser
from videonet_daemon.realtime.ratelimit import TokenBuckets
from videonet_daemon.validation import get_exchange_id, get_str
from videonet_protocol import protocol
from videonet_protocol.protocol import LinkStep


class LinkRelay:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.per_user = TokenBuckets(
            protocol.DEVICE_LINK_MESSAGES_PER_SECOND, protocol.DEVICE_LINK_MESSAGES_BURST
        )

    def events(self) -> list[Event]:
        return [Event(protocol.EV_DEVICE_LINK, self.message)]

    async def message(self, user: SocketUser, data: dict[str, Any]) -> dict[str, Any]:
        nameplate = get_str(data, "nameplate", max_chars=protocol.CODE_NAMEPLATE_MAX_DIGITS)
        if not nameplate.isascii() or not nameplate.isdigit() or nameplate.startswith("0"):
            raise ValidationError(N_("nameplate must be a code's number (digits, from 1)"))
        exchange = get_exchange_id(data)
        try:
            step = LinkStep(get_str(data, "step", max_chars=16))
        except ValueError as exc:
            raise ValidationError(
                N_("step must be one of {names}"), names=", ".join(LinkStep)
            ) from exc
        body = data.get("body", "")
        if not isinstance(body, str) or len(body) > protocol.DEVICE_LINK_BODY_MAX_CHARS:
            raise ValidationError(
                N_("body must be base64 of at most {device_link_body_max_chars} characters"),
                device_link_body_max_chars=protocol.DEVICE_LINK_BODY_MAX_CHARS,
            )
        if (step == LinkStep.FAIL) != (body == ""):
            raise ValidationError(N_("body must be empty for 'fail' and only then"))
        try:
            base64.b64decode(body.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValidationError(N_("body must be standard base64")) from exc
        wait = self.per_user.take(user.user_id)
        if wait:
            raise RateLimited(wait, N_("too many device-link messages; slow down"))
        relayed: protocol.DeviceLinkMessage = {
            "nameplate": nameplate,
            "exchange": exchange,
            "step": step.value,
            "body": body,
        }
        await self.hub.sio.emit(
            protocol.EV_DEVICE_LINK,
            relayed,
            to=protocol.user_channel(user.user_id),
            skip_sid=user.sid,
        )
        return {}
