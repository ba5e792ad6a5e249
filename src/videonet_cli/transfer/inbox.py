"""What a receiver sees before it takes anything: the rooms it listens in, the offers pending
there (newest first), and `receive --list`'s one line per offer.

The daemon's offers are hints: which offer is meant for this account is read from the sender's
signed header (its recipients), checked against the sender device the identity layer trusts;
the daemon's order, names and sizes only decide what is looked at first.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass, replace
from typing import Any

from videonet_cli.api import Api, SocketClient
from videonet_cli.crypto import header as hdr
from videonet_cli.errors import CliError, DaemonRefused, UsageError
from videonet_cli.i18n import N_, _
from videonet_cli.identity import trust
from videonet_cli.transfer.said import plain, reason_of, said
from videonet_cli.transfer.tree import check_manifest
from videonet_protocol import protocol


async def watched_rooms(api: Api, room: str | None) -> list[protocol.RoomInfo]:
    """The room named, or (no ROOM) every room this account is a member of."""
    if room is not None:
        return [await api.rooms.resolve(room)]
    rooms = [r for r in await api.rooms.list(mine=True) if r.get("is_joined", True)]
    if not rooms:
        raise UsageError(
            _(
                "you are not a member of any room yet: join one (`videonet rooms join ROOM`) "
                "or ask the sender for an invite"
            )
        )
    return rooms


async def join(
    rt: SocketClient, rooms: list[protocol.RoomInfo], listen_declined: bool | None = None
) -> list[dict[str, Any]]:
    """Join each room's channel; a room you are not a member of says how to become one. With
    ``listen_declined`` set, listen for offers in the same round trip (`listen`): the offers
    pending, newest first."""
    pending: list[dict[str, Any]] = []
    for room in rooms:
        try:
            ack = await rt.join(room["id"], listen_declined)
            if listen_declined is not None:
                if "offers" not in ack:  # a daemon that does not listen on a join
                    ack = await _listen(rt, room, listen_declined)
                pending += [o for o in ack.get("offers", []) if isinstance(o, dict)]
        except DaemonRefused as exc:
            if exc.code != protocol.ErrorCode.FORBIDDEN:
                raise
            hint = shlex.join(["videonet", "rooms", "join", room["name"]])
            said_here = _("{reason}: run `{command}` first").format(
                reason=exc.message, command=hint
            )
            raise DaemonRefused(exc.code, said_here, exc.status) from exc
    return newest_first(pending)


async def listen(
    rt: SocketClient, rooms: list[protocol.RoomInfo], declined: bool
) -> list[dict[str, Any]]:
    """Listen for offers in each (joined) room; the offers already pending, newest first."""
    pending: list[dict[str, Any]] = []
    for room in rooms:
        listened = await _listen(rt, room, declined)
        pending += [o for o in listened.get("offers", []) if isinstance(o, dict)]
    return newest_first(pending)


async def _listen(rt: SocketClient, room: protocol.RoomInfo, declined: bool) -> dict[str, Any]:
    return await rt.call(protocol.EV_TRANSFER_LISTEN, {"room_id": room["id"], "declined": declined})


def newest_first(offers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest offer first (a person running `receive` wants what was just sent, not an
    hour-old offer still kept for late receivers)."""
    return sorted(
        offers,
        key=lambda o: (str(o.get("created_at", "")), str(o.get("transfer_id"))),
        reverse=True,
    )


def addressed_to(h: hdr.Header, me: trust.ThisDevice) -> bool:
    """Whether the signed header lists one of this account's devices as a recipient."""
    return any(r.user_id == me.user_id for r in h.recipients)


class RefusedOffer(CliError):
    """An offer this receiver will not take (plaintext, old protocol, a header that fails)."""


def require_encrypted(offer: dict[str, Any]) -> dict[str, Any]:
    """The offer's `e2e` part; `RefusedOffer` when it has none (issue 21, finding 6: a daemon
    that drops it must not get a plaintext transfer taken, nor crash the receiver)."""
    e2e = offer.get("e2e")
    if not isinstance(e2e, dict) or not isinstance(e2e.get("stream_id"), str):
        raise RefusedOffer(
            said(
                N_(
                    "{name} from {sender} is offered without end-to-end encryption: refused "
                    "(plaintext offers are never taken)"
                ),
                name=str(offer.get("name")),
                sender=str(offer.get("sender_name")),
            )
        )
    return e2e


async def fetch_header(api: Api, room_id: str, offer: dict[str, Any]) -> hdr.SignedHeader:
    """The offer's signed header as the daemon hands it on, parsed and checked for form, for
    this room, transfer and stream (not yet for its signature or MAC)."""
    e2e = require_encrypted(offer)
    transfer_id = str(offer["transfer_id"])
    blob: object = None
    try:
        blob = (await api.transfers.header(transfer_id)).get("header")
    except DaemonRefused as exc:  # a daemon of transfer protocol 1 has no such route
        if exc.code != protocol.ErrorCode.NOT_FOUND:
            raise
    raw = protocol.e2e_decode(blob, b64_size(blob))
    if raw is None:
        raise RefusedOffer(
            said(
                N_(
                    "{name}: the offer has no signed header (an older transfer protocol?): "
                    "refused; this videonet speaks transfer protocol {version}"
                ),
                name=str(offer.get("name")),
                version=protocol.TRANSFER_PROTOCOL_VERSION,
            )
        )
    try:
        signed = hdr.parse_header(raw, _check_paths)
    except (hdr.HeaderError, CliError) as exc:
        raise RefusedOffer(
            said(N_("refusing {name}: {reason}"), name=str(offer.get("name")), reason=exc)
        ) from exc
    h = signed.header
    if h.transfer_id != transfer_id or h.room_id != room_id:
        raise RefusedOffer(
            said(
                N_("refusing {name}: its signed header is for another transfer or room"),
                name=str(offer.get("name")),
            )
        )
    if h.stream_id != str(e2e["stream_id"]):
        raise RefusedOffer(
            said(
                N_("refusing {name}: its header names another stream"), name=str(offer.get("name"))
            )
        )
    return signed


async def signed_header(
    api: Api, me: trust.ThisDevice, room_id: str, offer: dict[str, Any]
) -> tuple[hdr.SignedHeader, trust.TrustedDevice]:
    """The offer's header, its signature checked against the sender device this device trusts
    (the MAC under the file key is checked once the key is here: `check_mac`)."""
    # The sender's keys for the account the offer names, fetched beside the header (one round
    # trip fewer before the first byte); used only when the signed header names that same
    # account, else fetched again for the one it names.
    named = (offer.get("sender_id"), offer.get("sender_name"))
    keys: asyncio.Future[protocol.UserKeys] | None = None
    if isinstance(named[0], int) and isinstance(named[1], str):
        keys = asyncio.ensure_future(trust.sender_keys(api, me, named[0], named[1]))
    try:
        signed = await fetch_header(api, room_id, offer)
        h = signed.header
        listed = None
        if keys is not None and named == (h.sender_user_id, h.sender_username):
            listed = await keys
    finally:
        if keys is not None and not keys.cancel() and not keys.cancelled():
            keys.exception()  # done but not wanted (or raised above): retrieved, never logged
    sender = await trust.trusted_sender(
        api,
        me,
        user_id=h.sender_user_id,
        username=h.sender_username,
        device_id=h.sender_device_id,
        listed=listed,
    )
    label, body = hdr.HEADER_SIGNATURE_LABEL, signed.body
    if not trust.verify_signature(sender, label, body, signed.signature):
        raise RefusedOffer(
            said(
                N_(
                    "refusing {name}: the header's signature does not verify against the "
                    "sender's device"
                ),
                name=str(offer.get("name")),
            )
        )
    return signed, sender


def check_mac(
    signed: hdr.SignedHeader, sender: trust.TrustedDevice, file_key: bytes, name: object
) -> None:
    """The header's signature and its MAC under the file key (which commits the key to it)."""
    try:
        hdr.verify_header(
            signed, file_key, lambda lb, m, sig: trust.verify_signature(sender, lb, m, sig)
        )
    except hdr.HeaderError as exc:
        raise RefusedOffer(
            said(N_("refusing {name}: {reason}"), name=str(name), reason=exc)
        ) from exc


def b64_size(text: object) -> int:
    """The decoded size of a base64 string (e2e_decode wants it exactly)."""
    if not isinstance(text, str) or len(text) % 4:
        return -1
    return len(text) // 4 * 3 - text[-2:].count("=")


def _check_paths(kind: str, files: list[hdr.FileEntry]) -> None:
    check_manifest(kind, [{"path": f.path, "size": f.size} for f in files])


@dataclass(frozen=True)
class Listed:
    """One pending offer as `receive --list` shows it (from the signed header where it
    verified; otherwise the daemon's hints and why it would not be taken)."""

    transfer_id: str
    room: str
    sender: str
    name: str
    kind: str
    files: int
    size: int  # plaintext bytes
    offered_at: str  # the daemon's time of the offer (ISO)
    state: str
    for_you: bool
    problem: str  # "" when it would be taken

    def as_dict(self) -> dict[str, Any]:
        return {"event": "pending", **plain(self.__dict__)}


async def list_pending(
    api: Api, rooms: list[protocol.RoomInfo], offers: list[dict[str, Any]]
) -> list[Listed]:
    """Each pending offer (newest first), its header checked; nothing is accepted or written."""
    me = await trust.this_device(api)
    names = {r["id"]: r["name"] for r in rooms}

    async def one(offer: dict[str, Any]) -> Listed:
        room_id = str(offer.get("room_id"))
        e2e = offer.get("e2e")
        e2e = e2e if isinstance(e2e, dict) else {}
        hint = Listed(
            str(offer.get("transfer_id")),
            names.get(room_id, room_id),
            str(offer.get("sender_name")),
            str(offer.get("name")),
            str(offer.get("batch_kind") or protocol.BatchKind.FILES),
            int(offer.get("file_count") or 1),
            int(e2e.get("plain_size") or 0),
            str(offer.get("created_at", "")),
            str(offer.get("state")),
            False,
            "",
        )
        try:
            signed, sender = await signed_header(api, me, room_id, offer)
        except CliError as exc:
            return replace(hint, problem=reason_of(exc))
        h = signed.header
        return replace(
            hint,
            sender=sender.username,
            name=h.name,
            kind=h.kind,
            files=len(h.files),
            size=h.total_size,
            for_you=addressed_to(h, me),
        )

    return [await one(o) for o in offers]  # one at a time: each may pin a first-seen sender
