"""`receive`: take offers in a room (or in every room of this account: then only those whose
signed header names one of its devices), the newest first; one road for a file, several files
or a directory. An offer that cannot land here is skipped with one line; a sender that stops
half-way is waited for (transfer/sender_wait.py).

For each offer, before a byte is written: the sender's signed header fetched and checked — its
signature against the sender device the identity layer trusts for the user it names
(`trusted_sender`), that it is this room's and this transfer's — then this device's file key
(wrapped for it, or through a one-off code) and the header's MAC under it; only then are the
names, paths, sizes and modes taken, from the header alone (the daemon's offer is a hint).
The records are opened under a key bound to the header's hash. At the end the sender's signed
seal (each file's SHA-256) is checked against what was written; only then does anything take
its final name, and the receiver's verdict goes back with a MAC under the file key. A `.part`
is reused as a verified prefix only when this device's journal says it was written for this
very header.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

from videonet_cli.api import Api, SocketClient
from videonet_cli.crypto import header as hdr
from videonet_cli.crypto.stream import RecordCipher
from videonet_cli.errors import (
    BadCodeError,
    CliError,
    IntegrityError,
    KeyUnavailableError,
    TamperedError,
    UnreachableError,
    UsageError,
)
from videonet_cli.i18n import N_, _, ngettext
from videonet_cli.identity import trust
from videonet_cli.reporting import Reporter
from videonet_cli.transfer import journal, room_session, splitter
from videonet_cli.transfer.e2e_keys import receiver_file_key
from videonet_cli.transfer.files import FREE_SPACE_MARGIN, UnsafeTarget, free_bytes, shown_wait
from videonet_cli.transfer.inbox import (
    Listed,
    RefusedOffer,
    addressed_to,
    b64_size,
    check_mac,
    join,
    list_pending,
    listen,
    require_encrypted,
    signed_header,
    watched_rooms,
)
from videonet_cli.transfer.outcomes import ReceiveOptions, ReceiveOutcome, decline, moving_shares
from videonet_cli.transfer.said import reason_of, said
from videonet_cli.transfer.sender_wait import (
    TransferStates,
    current_state,
    plain_bytes,
    resume_wait,
    sender_back,
)
from videonet_cli.transfer.throttle import Throttle
from videonet_cli.transfer.tree import TreeWriter, sync_files
from videonet_cli.transfer.worker import reported_in_thread
from videonet_protocol import protocol


async def receive_files(
    api: Api, options: ReceiveOptions, report: Reporter
) -> list[ReceiveOutcome]:
    """Take up to ``options.count`` offers, the newest first; return what became of each. An
    offer that cannot land (its name exists, no room on the disk) is skipped with one line and
    the next is looked at: it never ends the run."""
    out_dir, count, timeout = options.out_dir, options.count, options.timeout
    if not out_dir.is_dir():
        raise UsageError(_("--out {path} is not a directory").format(path=out_dir))
    if not os.access(out_dir, os.W_OK):
        raise UsageError(_("cannot write to {path}").format(path=out_dir))
    offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    states = TransferStates()

    async def on_offer(data: Any) -> None:
        if isinstance(data, dict):
            states.heard(data)  # a resumed transfer is offered again
            await offers.put(data)

    # The socket connects while the keys are published and the rooms looked up.
    async with room_session.watching(api, options.room) as (me, rooms, rt):
        names = {r["id"]: r["name"] for r in rooms}
        shown_rooms = ", ".join(r["name"] for r in rooms)
        rt.on(protocol.EV_TRANSFER_OFFER, on_offer)
        rt.on(protocol.EV_TRANSFER_STATE, states.on_state)
        # Joined and listening in one round trip, but with --code: nothing is taken before the
        # code's exchange has verified (it listens after it).
        pending = await join(rt, rooms, None if options.code else options.overwrite)
        coded = None
        if options.code is not None:
            if len(rooms) != 1:
                raise UsageError(_("--code needs the ROOM the sender's code line names"))
            # The key first: until the exchange verified nothing is accepted or written, and
            # then only the transfer it names, from its sender, is taken.
            from videonet_cli.transfer.code_exchange import receive_key  # SPAKE2: only here

            room = rooms[0]
            coded = await receive_key(rt, room["id"], options.code, timeout, report, room["name"])
            count = 1
            options = replace(options, file_key=coded.key_source())
            pending = await listen(rt, rooms, options.overwrite)
        for offer in pending:
            await offers.put(offer)
        report(
            {
                "event": "listening",
                "room": shown_rooms,
                "rooms": [r["name"] for r in rooms],
                "every_room": options.room is None,
                "pending": len(pending),
                "from": options.from_user,
            }
        )
        outcomes: list[ReceiveOutcome] = []
        seen: set[str] = set()
        skipped = not_for_me = 0
        taken = 0  # files, a directory counting as one
        while taken < count:
            try:
                # A broken connection ends the wait now, not at its timeout.
                offer = await rt.unless_lost(offers.get(), timeout)
            except UnreachableError:
                if outcomes:  # as at the timeout: what came is reported
                    break
                raise
            except TimeoutError as exc:
                if outcomes:
                    break
                raise CliError(
                    _nothing_came(shown_rooms, len(rooms) == 1, timeout, skipped, not_for_me)
                ) from exc
            transfer_id = str(offer.get("transfer_id"))
            state = offer.get("state")
            room_id = str(offer.get("room_id"))
            if transfer_id in seen or state == protocol.TransferState.ABORTED:
                continue
            if room_id not in names:
                continue  # not a room this run listens in
            if options.from_user and offer.get("sender_name") != options.from_user:
                continue  # left for another run; not declined
            if coded is not None and (
                transfer_id != coded.transfer_id or offer.get("sender_id") != coded.sender_id
            ):
                continue  # not the transfer the code is for; left for another run
            if state == protocol.TransferState.INTERRUPTED:
                plain = int((offer.get("e2e") or {}).get("plain_size") or 0)
                report(
                    {
                        "event": "waiting",
                        "name": offer.get("name"),
                        "sender": offer.get("sender_name"),
                        "reason": "interrupted",
                        "uploaded": plain_bytes(int(offer.get("uploaded") or 0), plain),
                        "bytes": plain,
                    }
                )
                continue
            seen.add(transfer_id)
            kind = offer.get("batch_kind")
            files = int(offer.get("file_count") or 1) if kind == protocol.BatchKind.FILES else 1
            try:
                last = taken + files >= count
                got = await _receive(
                    api, rt, me, offer, options, last, report, states, names[room_id]
                )
            except RefusedOffer as exc:
                if coded is not None:
                    raise BadCodeError(
                        _("{reason}; nothing was written").format(reason=exc.message)
                    ) from exc
                raise
            except KeyUnavailableError as exc:
                if coded is not None or offers.empty():
                    raise  # the one offer here: say so now (exit 7)
                # An older offer this device has no key for does not stop the others.
                got = [
                    ReceiveOutcome(
                        str(offer.get("name")),
                        "",
                        0,
                        "",
                        str(offer.get("sender_name")),
                        False,
                        reason_of(exc),
                        0.0,
                        0,
                        skipped=True,
                    )
                ]
            if got and got[0].skipped:
                skipped += 1
                report(
                    {
                        "event": "offer_skipped",
                        "name": got[0].name,
                        "sender": got[0].sender,
                        "room": names[room_id],
                        "transfer_id": transfer_id,
                        "reason": got[0].reason,
                    }
                )
                continue
            if got and got[0].not_for_me:
                not_for_me += 1
                continue  # addressed to other accounts: not ours to take or decline
            taken += files
            outcomes += got
        return outcomes


def _nothing_came(
    shown_rooms: str, one_room: bool, timeout: float, skipped: int, not_for_me: int
) -> str:
    """The line when no offer came in time: where, how long, and what was passed over."""
    notes = []
    if skipped:
        notes.append(
            ngettext(
                "{n} offer skipped, as said above", "{n} offers skipped, as said above", skipped
            ).format(n=skipped)
        )
    if not_for_me:
        notes.append(
            ngettext(
                "{n} offer not addressed to you", "{n} offers not addressed to you", not_for_me
            ).format(n=not_for_me)
        )
    note = f" ({'; '.join(notes)})" if notes else ""
    seconds = f"{timeout:g}"
    if one_room:
        line = (
            _("no file was taken in {room} within {seconds} s{notes}")
            if skipped
            else _("no file was offered in {room} within {seconds} s{notes}")
        )
    else:
        line = (
            _("no file was taken in your rooms within {seconds} s{notes}")
            if skipped
            else _("no file was offered in your rooms within {seconds} s{notes}")
        )
    return line.format(room=shown_rooms, seconds=seconds, notes=note)


async def list_offers(api: Api, room: str | None, overwrite: bool) -> list[Listed]:
    """`receive --list`: the offers pending for this account (in ROOM, or in every room it is
    in), newest first, one per line; nothing is accepted, declined or written."""
    rooms = await watched_rooms(api, room)
    async with api.socket() as rt:
        pending = await join(rt, rooms, overwrite)
    return await list_pending(api, rooms, pending)


async def _receive(
    api: Api,
    rt: SocketClient,
    me: trust.ThisDevice,
    offer: dict[str, Any],
    options: ReceiveOptions,
    last: bool,
    report: Reporter,
    states: TransferStates,
    room_name: str,
) -> list[ReceiveOutcome]:
    """Take one offer; one outcome per file when verified, else one for the transfer (marked
    ``skipped`` when it could not land here, ``not_for_me`` when its header names no device
    of this account and the run takes only what is addressed to it)."""
    started = time.monotonic()
    transfer_id = str(offer["transfer_id"])
    room_id = str(offer["room_id"])
    hint = str(offer.get("name"))
    try:
        require_encrypted(offer)  # before the key is looked for: the daemon may have dropped it

        # Before accepting: without a header that verifies and a key nothing is taken.
        def key() -> Awaitable[bytes]:
            source = options.file_key
            return source(offer) if source is not None else receiver_file_key(rt, me, offer)

        if options.room is None and options.code is None:
            # Every room: the header first says whether the offer is meant for this account.
            signed, sender = await signed_header(api, me, room_id, offer)
            if not addressed_to(signed.header, me):
                return [
                    ReceiveOutcome(
                        hint, "", 0, "", sender.username, False, "", 0.0, 0, not_for_me=True
                    )
                ]
            file_key = await key()
        else:
            # One room: the key and the header at once (one round trip fewer before the first
            # byte); nothing is checked before both are here, the key's error first.
            got_key, got_header = await asyncio.gather(
                key(), signed_header(api, me, room_id, offer), return_exceptions=True
            )
            for outcome in (got_key, got_header):
                if isinstance(outcome, BaseException):
                    raise outcome
            assert isinstance(got_key, bytes) and isinstance(got_header, tuple)
            file_key, (signed, sender) = got_key, got_header
        check_mac(signed, sender, file_key, hint)
    except CliError as exc:
        await decline(rt, transfer_id, reason_of(exc), last)
        raise
    h = signed.header
    who = sender.username
    device, identity = trust.signer(sender)  # the certified label and this device's pin
    entries: list[protocol.ManifestEntry] = [{"path": f.path, "size": f.size} for f in h.files]
    size = h.total_size
    try:
        layout = splitter.layout_of(h.kind, h.name, [e["path"] for e in entries], options.out_dir)
    except CliError as exc:
        await decline(rt, transfer_id, reason_of(exc), False)
        return [
            ReceiveOutcome(
                hint,
                str(options.out_dir),
                size,
                "",
                who,
                False,
                reason_of(exc),
                0.0,
                0,
                batch=hint,
                skipped=True,
            )
        ]
    single = h.kind == protocol.BatchKind.FILES and len(entries) == 1
    label = layout.final_dir.name if layout.final_dir else layout.shown[0]
    whole = f"{label}/" if layout.final_dir else label
    if not layout.final_dir and len(entries) > 1:
        whole = f"{label} and {len(entries) - 1} more files"
    moving = 0.0

    def failed(
        reason: str, offset: int = 0, declined: bool = False, skipped: bool = False
    ) -> list[ReceiveOutcome]:
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
                device=device,
                identity=identity,
                skipped=skipped,
            )
        ]

    problem = splitter.clash(layout, options.overwrite)
    if problem:
        # Not this run's end: the next offer (the one wanted) is looked at.
        await decline(rt, transfer_id, problem, False)
        return failed(problem, skipped=True)
    for original, shown in zip(entries, layout.shown, strict=True):
        if layout.final_dir is None and original["path"] != shown:
            report({"event": "renamed", "offered": original["path"], "name": shown})
    # The question shows what the signed header says, not the daemon's hints.
    asked = {
        **offer,
        "name": h.name,
        "file_count": len(entries),
        "size": size,
        "batch_kind": None if single else h.kind,
        "sender_name": sender.username,
        "sender_device": device,
        "sender_identity": identity,
    }
    if options.ask is not None and not await options.ask(asked):
        declined = said(N_("declined"))
        await decline(rt, transfer_id, declined, last)
        return failed(declined, declined=True)
    if layout.final_dir is not None:
        layout.root.mkdir(mode=0o700, exist_ok=True)
    ours = journal.receiving(signed.hash, layout.root)
    cipher = RecordCipher(file_key, hdr.record_binding(signed.hash))
    try:
        writer = TreeWriter(layout.root)
        try:
            checking = Throttle(report, label, size, "checking")
            if ours:
                # Off the event loop: it keeps answering the daemon's pings meanwhile.
                hashes, index, within = await reported_in_thread(
                    lambda report: splitter.resume_point(writer, layout, entries, report),
                    checking.update,
                )
            else:  # .part files of another transfer (or none): never a verified prefix
                hashes, index, within = [], 0, 0
            offset = sum(e["size"] for e in entries[:index]) + within
            if free_bytes(options.out_dir) < size - offset + FREE_SPACE_MARGIN:
                reason = said(
                    N_("not enough free space in {path} for {name} ({size} bytes)"),
                    path=str(options.out_dir),
                    name=label,
                    size=size,
                )
                await decline(rt, transfer_id, reason, False)
                return failed(reason, skipped=True)
            changed = states.watch(transfer_id)
            changed.clear()
            # The accept and the first bytes at once (a round trip fewer before the first byte):
            # the accept's answer is awaited before anything more is said to the daemon, and a
            # refused accept stops the download (what arrived stays for a resume).
            accepting = asyncio.ensure_future(
                rt.call(protocol.EV_TRANSFER_ACCEPT, {"transfer_id": transfer_id})
            )
            event: dict[str, Any] = {
                "event": "offer",
                "name": label,
                "bytes": size,
                "sender": who,
                "device": device,
                "identity": identity,
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
                received = await _while_accepting(
                    accepting,
                    splitter.download(
                        api.transfers, transfer_id, offset, size, split, throttle, cipher
                    ),
                )
                gave_up = ""
                if received < size:
                    received, gave_up = await _until_complete(
                        api, rt, changed, room_id, transfer_id, received, size, split, throttle,
                        cipher, report, label, who,
                    )  # fmt: skip
            except IntegrityError as exc:
                if isinstance(exc, TamperedError) and not single:
                    files = splitter.files_in_record(exc.index, entries, layout.shown)
                    exc = TamperedError(exc.index, files)
                reason = said(N_("{reason}; nothing was kept"), reason=exc)
                writer.close()
                splitter.discard(layout)
                await decline(rt, transfer_id, reason, last)
                return failed(reason, offset)
            moving = time.monotonic() - began
            throttle.update(received, force=True)
        finally:
            writer.close()
    except UnsafeTarget as exc:  # a link, fifo or file planted in the way: nothing followed
        await decline(rt, transfer_id, reason_of(exc), last)
        return failed(reason_of(exc))
    if received < size:
        where: str = f".{label}.part/" if layout.final_dir else said(N_("the .part files"))
        if single:
            where = layout.parts[0]
        again = options.again_line(room_name)
        return failed(
            said(
                N_(
                    "incomplete: {received} of {size} bytes arrived{why} (kept in {where}; "
                    "run {command} again to resume)"
                ),
                received=received,
                size=size,
                why=gave_up,
                where=where,
                command=again,
            ),
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
    raw_seal = protocol.e2e_decode(reply.get("seal"), b64_size(reply.get("seal")))
    try:
        if raw_seal is None:
            raise hdr.HeaderError(said(N_("the sender's seal did not come with the verdict")))
        expected = hdr.open_seal(
            raw_seal,
            signed,
            file_key,
            lambda lb, m, sig: trust.verify_signature(sender, lb, m, sig),
        )
    except hdr.HeaderError as exc:
        splitter.discard(layout)
        journal.received(signed.hash)
        return failed(said(N_("{reason}; the received bytes were discarded"), reason=exc), offset)
    bad = [
        name for name, got, want in zip(layout.shown, digests, expected, strict=True) if got != want
    ]
    if bad:
        splitter.discard(layout)
        journal.received(signed.hash)
        names = ", ".join(bad[:5])
        mismatch = (
            said(
                N_(
                    "SHA-256 mismatch in {names} and {more} more; the received bytes were discarded"
                ),
                names=names,
                more=len(bad) - 5,
            )
            if len(bad) > 5
            else said(
                N_("SHA-256 mismatch in {names}; the received bytes were discarded"), names=names
            )
        )
        return failed(mismatch, offset)
    problem = splitter.clash(layout, options.overwrite)
    if problem:  # appeared while we were downloading
        return failed(said(N_("{reason}; kept the .part files"), reason=problem), offset)
    splitter.land(layout)
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
            device=device,
            identity=identity,
        )
        for entry, final, shown, digest, done, share in zip(
            entries, layout.finals, layout.shown, hexes, resumed, shares, strict=True
        )
    ]


# Short streams in a row without a byte, while the daemon says the upload goes on, before the
# receiver stops asking (a daemon that keeps cutting the stream).
_FRUITLESS_TRIES = 3


async def _while_accepting(accepting: asyncio.Future[Any], download: Awaitable[int]) -> int:
    """``download`` while the accept is on its way; the accept settled before this returns or
    raises. A refused accept cancels the download and is what is raised."""
    task = asyncio.ensure_future(download)
    try:
        await asyncio.wait({accepting, task}, return_when=asyncio.FIRST_EXCEPTION)
        if accepting.done() and accepting.exception() is not None:
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # read: the accept's refusal is the one said
            await accepting  # raises the refusal
        try:
            received = await task
        except BaseException:
            await asyncio.wait({accepting})  # settled before the caller declines
            if not accepting.cancelled():
                accepting.exception()
            raise
        await accepting
        return received
    finally:
        for pending in (task, accepting):
            pending.cancel()  # only when this coroutine itself was cancelled (Ctrl-C)


async def _until_complete(
    api: Api,
    rt: SocketClient,
    changed: asyncio.Event,
    room_id: str,
    transfer_id: str,
    received: int,
    size: int,
    split: splitter.Splitter,
    throttle: Throttle,
    cipher: RecordCipher,
    report: Reporter,
    label: str,
    who: str,
) -> tuple[int, str]:
    """After a short stream: while the sender is interrupted, wait for it to resume (up to
    `resume_wait()` seconds each time it stops), then download the rest. Returns the bytes
    held and, when it gives up, why (for the incomplete line)."""
    wait = resume_wait()
    fruitless = 0
    while received < size:
        try:
            state = await current_state(rt, room_id, transfer_id)
        except CliError as exc:
            return received, said(" ({reason})", reason=reason_of(exc))
        if state is None or state == protocol.TransferState.ABORTED:
            return received, said(N_("; {user} aborted the send"), user=who)
        if state == protocol.TransferState.INTERRUPTED:
            fruitless = 0
            report(
                {
                    "event": "sender_stopped",
                    "name": label,
                    "sender": who,
                    "received": received,
                    "bytes": size,
                    "wait": wait,
                }
            )
            try:
                state = await sender_back(rt, changed, room_id, transfer_id, wait)
            except CliError as exc:
                return received, said(" ({reason})", reason=reason_of(exc))
            if state == protocol.TransferState.INTERRUPTED:
                return received, said(
                    N_("; {user} did not resume the send within {wait}"),
                    user=who,
                    wait=shown_wait(wait),
                )
            if state is None or state == protocol.TransferState.ABORTED:
                return received, said(N_("; {user} aborted the send"), user=who)
            report({"event": "sender_resumed", "name": label, "sender": who, "received": received})
        elif fruitless >= _FRUITLESS_TRIES:
            return received, ""
        changed.clear()
        before = received
        received = await splitter.download(
            api.transfers, transfer_id, received, size, split, throttle, cipher
        )
        fruitless = 0 if received > before else fruitless + 1
    return received, ""
