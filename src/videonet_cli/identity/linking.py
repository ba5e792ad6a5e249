"""`videonet devices link`: the two sides of a link exchange over the daemon's relay.

The new device publishes its keys, shows a one-time code and waits; the existing device (it
holds the identity) sends the first message under that code, checks that the keys the new
device sealed to it are the ones the daemon lists, certifies them and sends the identity back.
A wrong code or a changed message ends the exchange with `BadCodeError`; the code is spent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from videonet_cli.api import Api, SocketClient
from videonet_cli.crypto.pake import Code, new_code, parse_code
from videonet_cli.errors import BadCodeError, CliError, KeyChangedError, UsageError
from videonet_cli.i18n import N_, _
from videonet_cli.identity import account as accounts
from videonet_cli.identity import device as device_keys
from videonet_cli.identity import signing, trust
from videonet_cli.identity.link import DeviceRecord, ExistingSide, Grant, NewSide
from videonet_protocol import protocol
from videonet_protocol.protocol import LinkStep

WAIT_FOR_EXISTING_SECONDS = 600.0  # the new device waits this long for the code to be typed
WAIT_FOR_ANSWER_SECONDS = 60.0  # once the exchange started, each answer comes in this time


# The new device names the one that certified it so (English in --json; translated where shown).
OTHER_DEVICE = N_("your other device")


@dataclass(frozen=True)
class Linked:
    words: str  # the same three words on both devices
    other: str  # the other device, as people see it
    identity_fingerprint: str


class _Inbox:
    """Link messages for one code number (and, once known, one exchange)."""

    def __init__(self, nameplate: str) -> None:
        self.nameplate = nameplate
        self.exchange: str | None = None
        self.queue: asyncio.Queue[protocol.DeviceLinkMessage] = asyncio.Queue()

    async def on_message(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("nameplate") != self.nameplate:
            return
        if self.exchange is not None and data.get("exchange") != self.exchange:
            return
        self.queue.put_nowait(data)  # type: ignore[arg-type]

    async def next(self, rt: SocketClient, step: LinkStep, timeout: float) -> bytes:
        try:
            message = await rt.unless_lost(self.queue.get(), timeout)
        except TimeoutError as exc:
            raise CliError(_("the other device did not answer in time: start again")) from exc
        if message.get("step") == LinkStep.FAIL:
            raise BadCodeError()
        if message.get("step") != step.value:
            raise BadCodeError()
        try:
            return base64.b64decode(str(message.get("body", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadCodeError() from exc


async def _send(rt: SocketClient, code: Code, exchange: str, step: LinkStep, body: bytes) -> None:
    message: protocol.DeviceLinkMessage = {
        "nameplate": code.nameplate,
        "exchange": exchange,
        "step": step.value,
        "body": base64.b64encode(body).decode("ascii"),
    }
    await rt.call(protocol.EV_DEVICE_LINK, dict(message))


async def _fail(rt: SocketClient, code: Code, exchange: str) -> None:
    message: protocol.DeviceLinkMessage = {
        "nameplate": code.nameplate,
        "exchange": exchange,
        "step": LinkStep.FAIL.value,
        "body": "",
    }
    with contextlib.suppress(CliError):  # the other side times out instead
        await rt.call(protocol.EV_DEVICE_LINK, dict(message))


async def link_new(api: Api, show_code: Callable[[str], None]) -> Linked:
    """The new device's side: show a code, wait, receive the identity and the certificate."""
    key, _created = device_keys.load_or_create()
    await api.keys.publish(key.device_id, key.public_bytes, key.signing_public_bytes, key.label)
    listed = await api.keys.mine()
    held = accounts.load(api.server, listed["user_id"])
    mine = trust.listed_device(listed, key.device_id)
    if held is not None:
        checked = trust.check_device(mine, held.user_id, held.username, held.identity_public, "own")
        if checked.device is not None:
            raise UsageError(_("this device is already linked to your identity"))
    if trust.decode_identity(listed) is None:
        raise UsageError(
            _(
                "your account has no identity yet: this device makes it on first use "
                "(run `videonet devices`), there is nothing to link to"
            )
        )
    code = new_code()
    inbox = _Inbox(code.nameplate)
    record = DeviceRecord(key.device_id, key.public_bytes, key.signing_public_bytes, mine["label"])
    async with api.socket() as rt:
        rt.on(protocol.EV_DEVICE_LINK, inbox.on_message)
        show_code(code.text)
        first = await _first_pake(rt, inbox)
        exchange = inbox.exchange or ""
        side = NewSide(code, listed["user_id"], exchange)
        try:
            await _send(rt, code, exchange, LinkStep.REPLY, side.reply(first, record))
            done = await inbox.next(rt, LinkStep.DONE, WAIT_FOR_ANSWER_SECONDS)
            grant, words = side.open(done)
        except BadCodeError:
            await _fail(rt, code, exchange)
            raise
    # What the daemon lists must be what came through the code.
    listed = await api.keys.mine()
    if trust.decode_identity(listed) != grant.identity_public:
        raise KeyChangedError(
            _("the daemon lists another identity for your account than your other device sent")
        )
    message = signing.certificate_message(
        listed["user_id"], key.device_id, key.public_bytes, key.signing_public_bytes, mine["label"]
    )
    if not signing.verify_blob(grant.identity_public, message, grant.certificate):
        raise BadCodeError(_("the certificate from your other device does not verify"))
    accounts.save(
        accounts.Account(
            api.server, listed["user_id"], listed["username"], grant.identity_public, None
        )
    )
    return Linked(words, OTHER_DEVICE, trust.identity_fingerprint(grant.identity_public))


async def _first_pake(rt: SocketClient, inbox: _Inbox) -> bytes:
    """The existing device's first message (it names the exchange); a broken connection ends
    the wait at once (10 minutes for a code to be typed: a daemon restart or a sleep fits)."""
    try:
        message = await rt.unless_lost(inbox.queue.get(), WAIT_FOR_EXISTING_SECONDS)
    except TimeoutError as exc:
        raise CliError(
            _("nobody typed the code in time: run `videonet devices link` again")
        ) from exc
    if message.get("step") != LinkStep.PAKE.value:
        raise BadCodeError()
    inbox.exchange = str(message.get("exchange"))
    try:
        return base64.b64decode(str(message.get("body", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadCodeError() from exc


async def link_existing(api: Api, typed: str) -> Linked:
    """The existing device's side: run the exchange under the code, certify the new device."""
    code = parse_code(typed)
    me = await trust.this_device(api)
    account = trust.own_account(me)
    if account.identity is None:
        raise UsageError(
            _(
                "this device does not hold your identity: type the code on the device where you "
                "made it (or restored it)"
            )
        )
    exchange = secrets.token_hex(protocol.CODE_EXCHANGE_ID_CHARS // 2)
    inbox = _Inbox(code.nameplate)
    inbox.exchange = exchange
    side = ExistingSide(code, me.user_id, exchange)
    async with api.socket() as rt:
        rt.on(protocol.EV_DEVICE_LINK, inbox.on_message)
        try:
            await _send(rt, code, exchange, LinkStep.PAKE, side.start())
            reply = await inbox.next(rt, LinkStep.REPLY, WAIT_FOR_ANSWER_SECONDS)
            record, words = side.finish(reply)
        except BadCodeError:
            await _fail(rt, code, exchange)
            raise
        listed = await api.keys.mine()
        info = next((d for d in listed["devices"] if d["device_id"] == record.device_id), None)
        if info is None or (
            protocol.decode_public_key(info["public_key"]) != record.x25519
            or protocol.decode_public_key(info["signing_key"]) != record.ed25519
            or info["label"] != record.label
        ):
            await _fail(rt, code, exchange)
            raise KeyChangedError(
                _(
                    "the daemon lists other keys for the new device than it sent through the "
                    "code: not certifying it"
                )
            )
        certificate = trust.certify(
            account.identity,
            me.user_id,
            record.device_id,
            record.x25519,
            record.ed25519,
            record.label,
        )
        await api.keys.update(record.device_id, {"certificate": certificate, "label": record.label})
        grant = Grant(account.identity_public, base64.b64decode(certificate))
        await _send(rt, code, exchange, LinkStep.DONE, side.grant(grant))
    return Linked(
        words,
        trust.device_name(record.label, record.device_id),
        trust.identity_fingerprint(account.identity_public),
    )


__all__ = ["OTHER_DEVICE", "Linked", "link_existing", "link_new"]
