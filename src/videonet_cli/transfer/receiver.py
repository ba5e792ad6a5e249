"""`receive`: take offers in a room; one road for a file, several files or a directory.

For each offer, before a byte is written: this device's file key (wrapped for it, or through a
one-off code), the sender's signed header fetched and checked — its signature against the sender
device the identity layer trusts for the user it names (`trusted_sender`), its MAC under the
file key, that it is this room's and this transfer's — and only then the names, paths, sizes and
modes are taken, from the header alone (the daemon's offer is a hint). The records are opened
under a key bound to the header's hash. At the end the sender's signed seal (each file's
SHA-256) is checked against what was written; only then does anything take its final name, and
the receiver's verdict goes back with a MAC under the file key. A `.part` is reused as a verified
prefix only when this device's journal says it was written for this very header.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from typing import Any

from videonet_cli.api import Api, SocketClient
from videonet_cli.crypto import header as hdr
from videonet_cli.crypto.stream import RecordCipher
from videonet_cli.errors import (
    BadCodeError,
    CliError,
    DaemonRefused,
    IntegrityError,
    TamperedError,
    UsageError,
)
from videonet_cli.identity import trust
from videonet_cli.reporting import Reporter
from videonet_cli.transfer import journal, room_session, splitter
from videonet_cli.transfer.e2e_keys import receiver_file_key
from videonet_cli.transfer.files import FREE_SPACE_MARGIN, UnsafeTarget, free_bytes
from videonet_cli.transfer.outcomes import ReceiveOptions, ReceiveOutcome, decline, moving_shares
from videonet_cli.transfer.throttle import Throttle
from videonet_cli.transfer.tree import TreeWriter, check_manifest, sync_files
from videonet_protocol import protocol


class RefusedOffer(CliError):
    """An offer this receiver will not take (plaintext, old protocol, a header that fails)."""


async def receive_files(
    api: Api, options: ReceiveOptions, report: Reporter
) -> list[ReceiveOutcome]:
    """Take up to ``options.count`` offers; return what became of each."""
    out_dir, count, timeout = options.out_dir, options.count, options.timeout
    if not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is not a directory")
    if not os.access(out_dir, os.W_OK):
        raise UsageError(f"cannot write to {out_dir}")
    offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_offer(data: Any) -> None:
        if isinstance(data, dict):
            await offers.put(data)

    async with room_session.opened(api, options.room) as (me, room, rt):
        rt.on(protocol.EV_TRANSFER_OFFER, on_offer)
        await rt.join(room["id"])
        coded = None
        if options.code is not None:
            # The key first: until the exchange verified nothing is accepted or written, and
            # then only the transfer it names, from its sender, is taken.
            from videonet_cli.transfer.code_exchange import receive_key  # SPAKE2: only here

            coded = await receive_key(rt, room["id"], options.code, timeout, report)
            count = 1
            options = replace(options, file_key=coded.key_source())
        listen = await rt.call(
            protocol.EV_TRANSFER_LISTEN, {"room_id": room["id"], "declined": options.overwrite}
        )
        for pending in listen.get("offers", []):
            await offers.put(pending)
        report(
            {
                "event": "listening",
                "room": room["name"],
                "pending": len(listen["offers"]),
                "from": options.from_user,
            }
        )
        outcomes: list[ReceiveOutcome] = []
        seen: set[str] = set()
        taken = 0  # files, a directory counting as one
        while taken < count:
            try:
                offer = await asyncio.wait_for(offers.get(), timeout)
            except TimeoutError as exc:
                if not outcomes:
                    raise CliError(
                        f"no file was offered in {room['name']} within {timeout:g} s"
                    ) from exc
                break
            transfer_id = str(offer.get("transfer_id"))
            state = offer.get("state")
            if transfer_id in seen or state == protocol.TransferState.ABORTED:
                continue
            if options.from_user and offer.get("sender_name") != options.from_user:
                continue  # left for another run; not declined
            if coded is not None and (
                transfer_id != coded.transfer_id or offer.get("sender_id") != coded.sender_id
            ):
                continue  # not the transfer the code is for; left for another run
            if state == protocol.TransferState.INTERRUPTED:
                report(
                    {
                        "event": "waiting",
                        "name": offer.get("name"),
                        "sender": offer.get("sender_name"),
                        "reason": "interrupted",
                        "uploaded": offer.get("uploaded"),
                        "bytes": offer.get("size"),
                    }
                )
                continue
            seen.add(transfer_id)
            kind = offer.get("batch_kind")
            files = int(offer.get("file_count") or 1) if kind == protocol.BatchKind.FILES else 1
            taken += files
            try:
                outcomes += await _receive(
                    api, rt, me, room["id"], offer, options, taken >= count, report
                )
            except RefusedOffer as exc:
                if coded is not None:
                    raise BadCodeError(f"{exc.message}; nothing was written") from exc
                raise
        return outcomes


def _plain_hint(offer: dict[str, Any]) -> None:
    e2e = offer.get("e2e")
    if not isinstance(e2e, dict) or not isinstance(e2e.get("stream_id"), str):
        raise RefusedOffer(
            f"{offer.get('name')} from {offer.get('sender_name')} is offered without "
            "end-to-end encryption: refused (plaintext offers are never taken)"
        )


async def header_blob(api: Api, offer: dict[str, Any]) -> object:
    """The offer's signed header as the daemon keeps it (None from a daemon without one)."""
    try:
        return (await api.transfers.header(str(offer["transfer_id"]))).get("header")
    except DaemonRefused as exc:  # a daemon of transfer protocol 1 has no such route
        if exc.code != protocol.ErrorCode.NOT_FOUND:
            raise
    return None


async def key_and_header(
    api: Api, rt: SocketClient, me: trust.ThisDevice, offer: dict[str, Any], options: ReceiveOptions
) -> tuple[bytes, object]:
    """This device's file key and the offer's header blob, fetched at once (neither needs the
    other; one round trip fewer before the first byte). Nothing is checked or trusted here."""
    source = options.file_key
    key = source(offer) if source is not None else receiver_file_key(rt, me, offer)
    file_key, blob = await asyncio.gather(key, header_blob(api, offer), return_exceptions=True)
    for outcome in (file_key, blob):  # the key's error first, as when it came first
        if isinstance(outcome, BaseException):
            raise outcome
    assert isinstance(file_key, bytes)
    return file_key, blob


async def verified_header(
    api: Api,
    me: trust.ThisDevice,
    room_id: str,
    offer: dict[str, Any],
    file_key: bytes,
    blob: object,
) -> tuple[hdr.SignedHeader, trust.TrustedDevice]:
    """The offer's signed header (``blob``, from the daemon), checked against the sender
    device and the file key."""
    transfer_id = str(offer["transfer_id"])
    raw = protocol.e2e_decode(blob, _b64_size(blob))
    if raw is None:
        raise RefusedOffer(
            f"{offer.get('name')}: the offer has no signed header (an older transfer "
            f"protocol?): refused; this videonet speaks transfer protocol "
            f"{protocol.TRANSFER_PROTOCOL_VERSION}"
        )
    try:
        signed = hdr.parse_header(raw, _check_paths)
    except (hdr.HeaderError, CliError) as exc:
        raise RefusedOffer(f"refusing {offer.get('name')}: {exc}") from exc
    h = signed.header
    if h.transfer_id != transfer_id or h.room_id != room_id:
        raise RefusedOffer(
            f"refusing {offer.get('name')}: its signed header is for another transfer or room"
        )
    if h.stream_id != str(offer["e2e"]["stream_id"]):
        raise RefusedOffer(f"refusing {offer.get('name')}: its header names another stream")
    sender = await trust.trusted_sender(
        api,
        me,
        user_id=h.sender_user_id,
        username=h.sender_username,
        device_id=h.sender_device_id,
    )
    try:
        hdr.verify_header(
            signed, file_key, lambda lb, m, sig: trust.verify_signature(sender, lb, m, sig)
        )
    except hdr.HeaderError as exc:
        raise RefusedOffer(f"refusing {offer.get('name')}: {exc}") from exc
    return signed, sender


def _b64_size(text: object) -> int:
    """The decoded size of a base64 string (e2e_decode wants it exactly)."""
    if not isinstance(text, str) or len(text) % 4:
        return -1
    return len(text) // 4 * 3 - text[-2:].count("=")


def _check_paths(kind: str, files: list[hdr.FileEntry]) -> None:
    check_manifest(kind, [{"path": f.path, "size": f.size} for f in files])


async def _receive(
    api: Api,
    rt: SocketClient,
    me: trust.ThisDevice,
    room_id: str,
    offer: dict[str, Any],
    options: ReceiveOptions,
    last: bool,
    report: Reporter,
) -> list[ReceiveOutcome]:
    """Take one offer; one outcome per file when verified, else one for the transfer."""
    started = time.monotonic()
    transfer_id = str(offer["transfer_id"])
    hint = str(offer.get("name"))
    try:
        _plain_hint(offer)
        # Before accepting: without a key and a header that verifies nothing is taken.
        file_key, blob = await key_and_header(api, rt, me, offer, options)
        signed, sender = await verified_header(api, me, room_id, offer, file_key, blob)
    except CliError as exc:
        await decline(rt, transfer_id, exc.message, last)
        raise
    h = signed.header
    who = sender.username
    origin = trust.sender_origin(sender)  # the certified label and this device's pin
    entries: list[protocol.ManifestEntry] = [{"path": f.path, "size": f.size} for f in h.files]
    size = h.total_size
    try:
        layout = splitter.layout_of(h.kind, h.name, [e["path"] for e in entries], options.out_dir)
    except CliError as exc:
        await decline(rt, transfer_id, exc.message, last)
        return [
            ReceiveOutcome(
                hint, str(options.out_dir), size, "", who, False, exc.message, 0.0, 0, batch=hint
            )
        ]
    single = h.kind == protocol.BatchKind.FILES and len(entries) == 1
    label = layout.final_dir.name if layout.final_dir else layout.shown[0]
    whole = f"{label}/" if layout.final_dir else label
    if not layout.final_dir and len(entries) > 1:
        whole = f"{label} and {len(entries) - 1} more files"
    moving = 0.0

    def failed(reason: str, offset: int = 0, declined: bool = False) -> list[ReceiveOutcome]:
        where = layout.final_dir or (options.out_dir / label if single else options.out_dir)
        return [
            ReceiveOutcome(
                whole,
                str(where),
                size,
                "",
                who,
                False,
                reason,
                time.monotonic() - started,
                offset,
                moving,
                declined,
                None if single else label,
                origin,
            )
        ]

    for original, shown in zip(entries, layout.shown, strict=True):
        if layout.final_dir is None and original["path"] != shown:
            report({"event": "renamed", "offered": original["path"], "name": shown})
    problem = splitter.clash(layout, options.overwrite)
    if problem:
        await decline(rt, transfer_id, problem, last)
        return failed(problem)
    # The question shows what the signed header says, not the daemon's hints.
    asked = {
        **offer,
        "name": h.name,
        "file_count": len(entries),
        "size": size,
        "batch_kind": None if single else h.kind,
        "sender_name": sender.username,
        "sender_origin": origin,
    }
    if options.ask is not None and not await options.ask(asked):
        await decline(rt, transfer_id, "declined", last)
        return failed("declined", declined=True)
    if layout.final_dir is not None:
        layout.root.mkdir(mode=0o700, exist_ok=True)
    ours = journal.receiving(signed.hash, layout.root)
    cipher = RecordCipher(file_key, hdr.record_binding(signed.hash))
    try:
        writer = TreeWriter(layout.root)
        try:
            checking = Throttle(report, label, size, "checking")
            if ours:
                hashes, index, within = splitter.resume_point(writer, layout, entries, checking)
            else:  # .part files of another transfer (or none): never a verified prefix
                hashes, index, within = [], 0, 0
            offset = sum(e["size"] for e in entries[:index]) + within
            if free_bytes(options.out_dir) < size - offset + FREE_SPACE_MARGIN:
                reason = f"not enough free space in {options.out_dir} for {label} ({size} bytes)"
                await decline(rt, transfer_id, reason, last)
                return failed(reason)
            await rt.call(protocol.EV_TRANSFER_ACCEPT, {"transfer_id": transfer_id})
            event: dict[str, Any] = {
                "event": "offer",
                "name": label,
                "bytes": size,
                "sender": who,
                "origin": origin,
                "transfer_id": transfer_id,
                "resumed_from": offset,
                "encrypted": True,
            }
            if not single:
                event |= {"files": len(entries), "kind": h.kind}
            report(event)
            throttle = Throttle(report, label, size)
            split = splitter.Splitter(
                writer,
                layout.parts,
                [e["size"] for e in entries],
                [f.mode for f in h.files],
                hashes,
                index,
            )
            split.within = within
            began = time.monotonic()
            try:
                received = await splitter.download(
                    api.transfers, transfer_id, offset, size, split, throttle, cipher
                )
            except IntegrityError as exc:
                if isinstance(exc, TamperedError) and not single:
                    files = splitter.files_in_record(exc.index, entries, layout.shown)
                    exc = TamperedError(exc.index, files)
                reason = f"{exc.message}; nothing was kept"
                writer.close()
                splitter.discard(layout)
                await decline(rt, transfer_id, reason, last)
                return failed(reason, offset)
            moving = time.monotonic() - began
            throttle.update(received, force=True)
        finally:
            writer.close()
    except UnsafeTarget as exc:  # a link, fifo or file planted in the way: nothing followed
        await decline(rt, transfer_id, str(exc), last)
        return failed(str(exc))
    if received < size:
        where = layout.root.name if layout.final_dir else "the .part files"
        return failed(
            f"incomplete: {received} of {size} bytes arrived (kept in {where}; "
            "run receive again to resume)",
            offset,
        )
    sync_files(layout.root, layout.parts)
    digests = [d.digest() for d in hashes]
    hexes = [d.hex() for d in digests]
    sha256 = protocol.batch_digest(hexes)
    mac = hdr.verdict_mac(file_key, signed.hash, me.user_id, sha256)
    reply = await rt.call(
        protocol.EV_TRANSFER_VERDICT,
        {"transfer_id": transfer_id, "sha256": sha256, "mac": mac, "done": last},
    )
    # The daemon's "match" is a hint: the sender's signed seal decides.
    raw_seal = protocol.e2e_decode(reply.get("seal"), _b64_size(reply.get("seal")))
    try:
        if raw_seal is None:
            raise hdr.HeaderError("the sender's seal did not come with the verdict")
        expected = hdr.open_seal(
            raw_seal,
            signed,
            file_key,
            lambda lb, m, sig: trust.verify_signature(sender, lb, m, sig),
        )
    except hdr.HeaderError as exc:
        splitter.discard(layout)
        journal.received(signed.hash)
        return failed(f"{exc}; the received bytes were discarded", offset)
    bad = [
        name for name, got, want in zip(layout.shown, digests, expected, strict=True) if got != want
    ]
    if bad:
        splitter.discard(layout)
        journal.received(signed.hash)
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        return failed(
            f"SHA-256 mismatch in {', '.join(bad[:5])}{more}; the received bytes were discarded",
            offset,
        )
    problem = splitter.clash(layout, options.overwrite)
    if problem:  # appeared while we were downloading
        return failed(f"{problem}; kept the .part files", offset)
    if layout.final_dir is not None:
        os.rename(layout.root, layout.final_dir)
    else:
        for part, final in zip(layout.parts, layout.finals, strict=True):
            os.replace(layout.root / part, final)
    journal.received(signed.hash)
    seconds = time.monotonic() - started
    resumed, start = [], 0
    for entry in entries:
        resumed.append(min(max(offset - start, 0), entry["size"]))
        start += entry["size"]
    shares = moving_shares(moving, [e["size"] - r for e, r in zip(entries, resumed, strict=True)])
    return [
        ReceiveOutcome(
            name=shown,
            path=str(final),
            size=entry["size"],
            sha256=digest,
            sender=who,
            ok=True,
            reason="",
            seconds=seconds,
            resumed_from=done,
            moving_seconds=share,
            batch=None if single else label,
            origin=origin,
        )
        for entry, final, shown, digest, done, share in zip(
            entries, layout.finals, layout.shown, hexes, resumed, shares, strict=True
        )
    ]
