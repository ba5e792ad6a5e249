"""The sender's offer: who gets the key, the signed header, and when a key is used again.

The recipients come from the identity layer (`choose_recipients`: pinned identities, the sender
decides); the file key is wrapped for each of their devices. A new transfer gets a random
transfer id, stream id and file key, and a header the sender device signs and MACs
(crypto/header.py); it is written to the resume journal *before* it is offered. A transfer is
resumed only when the journal holds an unfinished one for the very same source fingerprint
(transfer/journal.py): then the same id, key and header are offered again, so every record the
daemon is missing is sealed again from the same plaintext under the same key and nonce. What the
daemon answers (`resumed`, `offset`) is a hint: an answer about another transfer, or a "resume"
of a transfer this device never began, is refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from videonet_cli.api import Api, SocketClient
from videonet_cli.crypto import header as hdr
from videonet_cli.crypto.wrap import new_file_key, wrap_file_key
from videonet_cli.errors import CliError, DaemonRefused
from videonet_cli.i18n import N_
from videonet_cli.identity import trust
from videonet_cli.reporting import Reporter
from videonet_cli.transfer import journal
from videonet_cli.transfer.outcomes import SendOptions
from videonet_cli.transfer.said import reason_of, said
from videonet_cli.transfer.tree import BatchSource
from videonet_protocol import protocol


@dataclass(frozen=True)
class Offered:
    transfer_id: str
    file_key: bytes
    signed: hdr.SignedHeader
    source: bytes  # the journal's key for this transfer
    reply: dict[str, Any]  # the daemon's OfferReply (offset and listeners are hints)
    daemon_has: int  # ciphertext bytes the daemon says it holds (0 for a new transfer)


def new_stream_id() -> str:
    return secrets.token_hex(protocol.E2E_STREAM_ID_CHARS // 2)


def wrapped_keys(
    file_key: bytes, stream_id: str, devices: list[trust.TrustedDevice], report: Reporter
) -> list[protocol.WrappedKey]:
    """The file key wrapped for each device; a device whose key cannot be used is skipped by
    name (never a reason to fail the send)."""
    keys: list[protocol.WrappedKey] = []
    for d in devices:
        try:
            wrapped = wrap_file_key(file_key, d.x25519_public, stream_id, d.device_id)
        except CliError as exc:
            report(
                {
                    "event": "key_refused",
                    "user": d.username,
                    "fingerprint": d.fingerprint,
                    "status": reason_of(exc),
                }
            )
            continue
        keys.append(
            {
                "user_id": d.user_id,
                "device_id": d.device_id,
                "wrapped": protocol.e2e_encode(wrapped),
            }
        )
    return keys


def _header(
    me: trust.ThisDevice,
    room_id: str,
    batch: BatchSource,
    devices: list[trust.TrustedDevice],
    source: bytes,
) -> tuple[str, str, hdr.Header]:
    transfer_id = secrets.token_hex(protocol.TRANSFER_ID_CHARS // 2)
    stream_id = new_stream_id()
    files = tuple(
        hdr.FileEntry(e["path"], e["size"], st.st_mode & hdr.MODE_MASK)
        for st, e in zip(batch.stats, batch.entries, strict=True)
    )
    recipients = tuple(hdr.Recipient(d.user_id, d.device_id, d.fingerprint) for d in devices)
    header = hdr.Header(
        transfer_id,
        room_id,
        me.user_id,
        me.username,
        me.device_id,
        recipients,
        str(batch.kind),
        batch.name,
        protocol.E2E_RECORD_BYTES,
        stream_id,
        source,
        files,
    )
    return transfer_id, stream_id, header


def recipient_names(options: SendOptions) -> list[str] | None:
    """The members a send is for: the one named by --to, else every other member (None)."""
    return [options.to] if options.to else None


async def recipients_ahead(
    api: Api, me: trust.ThisDevice, room_id: str, options: SendOptions
) -> trust.Listing | None:
    """What `offer` will check, fetched ahead: None when a send asks the daemon for nobody's
    keys (--code)."""
    if options.code is not None:
        return None
    return await trust.list_recipients(api, me, room_id=room_id, usernames=recipient_names(options))


async def offer(
    api: Api,
    rt: SocketClient,
    me: trust.ThisDevice,
    room_id: str,
    batch: BatchSource,
    options: SendOptions,
    report: Reporter,
    listing: trust.Listing | None = None,
) -> Offered:
    """Offer ``batch``: resumed when this device's journal says so, else new. ``listing``: the
    recipients as `listed` for it (the sender lists them while it joins the room)."""
    recipients = await trust.choose_recipients(
        api,
        me,
        room_id=room_id,
        usernames=recipient_names(options),
        only_me=options.code is not None,
        trust_new=options.trust_new,
        confirm=options.confirm,
        listing=listing,
    )
    for line in recipients.notices:
        report({"event": "trust_notice", "line": line})
    for skipped in recipients.skipped:
        line = (
            said(
                N_("Not encrypting to {user}'s device {device}: {reason}"),
                user=skipped.username,
                device=trust.device_name(skipped.label, skipped.device_id),
                reason=skipped.reason,
            )
            if skipped.device_id
            else said(
                N_("Not encrypting to {user}: {reason}"),
                user=skipped.username,
                reason=skipped.reason,
            )
        )
        report({"event": "trust_notice", "line": line})
    secret = me.x25519.private_bytes_raw()
    source = journal.source_fingerprint(
        secret, room_id, options.to, str(batch.kind), batch.name, batch.paths, batch.stats
    )
    entry = journal.find_send(source)
    if entry is not None:
        try:
            return await _offer(rt, room_id, batch, options, source, entry, recipients, report)
        except DaemonRefused as exc:
            # "transfer id ID is already used": the message is in the user's language
            # (Accept-Language), so it is known by the id it names, not by its words.
            used = entry.transfer_id in exc.message
            if exc.code != protocol.ErrorCode.TRANSFER_STATE or not used:
                raise
            journal.forget_send(source)  # finished or gone on the daemon: a new transfer
    transfer_id, stream_id, header = _header(me, room_id, batch, recipients.devices, source)
    file_key = new_file_key()
    signed = hdr.seal_header(header, file_key, lambda label, msg: trust.sign(me, label, msg))
    entry = journal.SendEntry(transfer_id, stream_id, file_key, signed.blob)
    journal.record_send(source, entry)  # before the offer: a kill after it can resume
    return await _offer(rt, room_id, batch, options, source, entry, recipients, report, new=True)


async def _offer(
    rt: SocketClient,
    room_id: str,
    batch: BatchSource,
    options: SendOptions,
    source: bytes,
    entry: journal.SendEntry,
    recipients: trust.Recipients,
    report: Reporter,
    *,
    new: bool = False,
) -> Offered:
    signed = hdr.parse_header(entry.header)
    request: protocol.OfferRequest = {
        "version": protocol.TRANSFER_PROTOCOL_VERSION,
        "transfer_id": entry.transfer_id,
        "room_id": room_id,
        "name": batch.name,
        "size": protocol.e2e_ciphertext_size(batch.size),
        "kind": str(batch.kind),
        "file_count": len(batch.entries),
        "e2e": {
            "stream_id": entry.stream_id,
            "plain_size": batch.size,
            "keys": wrapped_keys(entry.file_key, entry.stream_id, recipients.devices, report),
        },
        "header": protocol.e2e_encode(entry.header),
    }
    if options.to:
        request["to"] = options.to
    reply = await rt.call(protocol.EV_TRANSFER_OFFER, dict(request))
    got = reply.get("transfer")
    got = got if isinstance(got, dict) else {}
    e2e = got.get("e2e")
    e2e = e2e if isinstance(e2e, dict) else {}
    if got.get("transfer_id") != entry.transfer_id or e2e.get("stream_id") != entry.stream_id:
        raise CliError(
            said(
                N_(
                    "the daemon answered the offer with another transfer than the one offered: "
                    "refused (this videonet speaks transfer protocol {version}; an older daemon "
                    "answers so too)"
                ),
                version=protocol.TRANSFER_PROTOCOL_VERSION,
            )
        )
    daemon_has = reply.get("offset")
    if isinstance(daemon_has, bool) or not isinstance(daemon_has, int) or daemon_has < 0:
        raise CliError(said(N_("the daemon answered the offer with a malformed offset")))
    if new and (reply.get("resumed") or daemon_has):
        raise CliError(
            said(N_("the daemon claims to resume a transfer this device never began: refused"))
        )
    daemon_has = min(daemon_has, protocol.e2e_ciphertext_size(batch.size))
    return Offered(entry.transfer_id, entry.file_key, signed, source, reply, daemon_has)
