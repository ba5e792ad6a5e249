"""`send`: one road for everything named: each transfer is a manifest of one or more files.

Loose files named together go as one transfer (a single file is a manifest of one), each
directory as one more. For each: the offer with its signed header (transfer/offering.py), one
upload of the files' bytes read once and hashed as they go (transfer/upload.py), the signed
seal with each file's SHA-256, then each receiver's verdict, which counts only with a MAC made
under the file key (the daemon cannot forge a "verified").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import stat
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from videonet_cli.api import Api, SocketClient
from videonet_cli.api.socket import retrieved
from videonet_cli.crypto import header as hdr
from videonet_cli.crypto.stream import RecordCipher, StreamLayout
from videonet_cli.errors import CliError, UsageError
from videonet_cli.i18n import N_, _
from videonet_cli.identity import trust
from videonet_cli.reporting import Reporter
from videonet_cli.transfer import journal, room_session
from videonet_cli.transfer.e2e_keys import LateKeys
from videonet_cli.transfer.e2e_stream import Resume
from videonet_cli.transfer.files import local_clock
from videonet_cli.transfer.offering import Offered, offer, recipients_ahead
from videonet_cli.transfer.outcomes import (
    Inbox,
    ReceiverVerdict,
    SendOptions,
    SendOutcome,
    moving_shares,
)
from videonet_cli.transfer.said import heard, said
from videonet_cli.transfer.throttle import Throttle
from videonet_cli.transfer.tree import BatchSource, directory, loose_files
from videonet_cli.transfer.upload import Reader, upload
from videonet_protocol import protocol
from videonet_protocol.protocol import BatchKind

if TYPE_CHECKING:  # imported when --code is used: SPAKE2 costs start-up time otherwise
    from videonet_cli.transfer.code_exchange import CodeSender

T = TypeVar("T")


async def send_files(api: Api, options: SendOptions, report: Reporter) -> list[SendOutcome]:
    """Send what was named; return each file's verdicts."""
    found = [_stat(p) for p in options.paths]  # one stat a path: 1,000 files named, 1,000 stats
    is_dir = [st is not None and stat.S_ISDIR(st.st_mode) for st in found]
    files = [p for p, d in zip(options.paths, is_dir, strict=True) if not d]
    # loose_files checks every file (sendable) before anything is sent
    stats = [st for st, d in zip(found, is_dir, strict=True) if not d]
    batches = [loose_files(files, stats)] if files else []
    batches += [directory(p) for p, d in zip(options.paths, is_dir, strict=True) if d]
    names = [p.name for p in files] + [b.name for b in batches if b.kind == BatchKind.DIRECTORY]
    if len(set(names)) != len(names):
        raise UsageError(
            _("two of the files or directories have the same name; send them separately")
        )
    if options.code is not None and (len(files) != 1 or len(batches) != 1):
        raise UsageError(_("--code sends one file (not several, not a directory)"))
    if options.code is not None and not options.wait:
        raise UsageError(_("--code needs the sender to wait: the key goes through this run"))
    for batch in batches:
        for path, why in batch.skipped:
            report({"event": "skipped", "name": f"{batch.name}/{path}", "reason": why})
    inbox = Inbox()
    # The first round trips do not depend on each other: at once.
    async with room_session.opened(api, options.room) as (me, room, rt):
        rt.on(protocol.EV_TRANSFER_ACCEPTED, inbox.on_accepted)
        rt.on(protocol.EV_TRANSFER_RESULT, inbox.on_result)
        # The recipients and their keys are listed while the room is joined (the first offer
        # checks them as it would a fresh listing); later transfers list them again.
        ahead = asyncio.ensure_future(recipients_ahead(api, me, room["id"], options))
        ahead.add_done_callback(retrieved)  # nobody awaits it if the join fails first
        try:
            await rt.join(room["id"])
            late = LateKeys(api, rt, me, room["id"], report)
            report({"event": "joined", "room": room["name"]})
            outcomes = []
            for i, batch in enumerate(batches):
                listing = await ahead if i == 0 else None
                outcomes += await _send(
                    api, rt, inbox, late, me, room["id"], batch, options, report, room["name"],
                    listing,
                )  # fmt: skip
            return outcomes
        finally:
            ahead.cancel()  # a join or a send that failed first: not waited for


def _stat(path: Path) -> os.stat_result | None:
    """The stat of a named path (followed, as is_dir does), None where it fails: `sendable`
    says why."""
    try:
        return path.stat()
    except OSError:
        return None


async def _send(
    api: Api,
    rt: SocketClient,
    inbox: Inbox,
    late: LateKeys,
    me: trust.ThisDevice,
    room_id: str,
    batch: BatchSource,
    options: SendOptions,
    report: Reporter,
    room_name: str = "",
    listing: trust.Listing | None = None,
) -> list[SendOutcome]:
    """Offer, upload and seal one transfer; one outcome per file, all with its verdicts."""
    started = time.monotonic()
    offered = await offer(api, rt, me, room_id, batch, options, report, listing)
    transfer_id = offered.transfer_id
    if options.code is None:
        late.serve(offered)
    layout = StreamLayout(batch.size)
    offset = Resume.for_upload(layout, offered.daemon_has).plain_offset
    listeners, expected = inbox.expected(offered.reply, options.to)
    single = batch.kind == BatchKind.FILES and len(batch.entries) == 1
    event: dict[str, Any] = {
        "event": "offer",
        "name": batch.name,
        "bytes": batch.size,
        "transfer_id": transfer_id,
        "resumed_from": offset,
        "listeners": listeners,
    }
    if not single:
        event |= {"files": len(batch.entries), "kind": str(batch.kind)}
    report(event)
    code_sender = None
    if options.code is not None:
        # The file key goes to the receiver only through the code (it is wrapped for this
        # device alone, so a resumed send gets it back from its journal).
        from videonet_cli.transfer.code_exchange import CodeSender

        code_sender = CodeSender(
            rt,
            options.code,
            room_id,
            transfer_id,
            offered.file_key,
            report,
            to=options.to,
            room_name=room_name,
        )
        await code_sender.open()
        report({"event": "code", "name": batch.name, "code": options.code.text})
        listeners, expected = [], set()  # the one who finishes the exchange, nobody else
    state = offered.reply["transfer"].get("state")
    needed = offered.daemon_has < layout.ciphertext_size or state != protocol.TransferState.UPLOADED
    throttle = Throttle(report, batch.name, batch.size)
    checking = Throttle(report, batch.name, batch.size, "checking")
    reader = Reader(batch, offset if needed else batch.size, throttle)
    await reader.hash_before_offset(checking)
    cipher = RecordCipher(offered.file_key, hdr.record_binding(offered.signed.hash))
    began = time.monotonic()
    if needed:
        uploading = upload(
            api.transfers,
            transfer_id,
            reader,
            cipher,
            layout,
            offered.daemon_has,
            options.rate_limit,
        )
        await (
            uploading if code_sender is None else _or_abort(rt, transfer_id, code_sender, uploading)
        )
    moving = time.monotonic() - began
    throttle.update(batch.size, force=True)
    digests = reader.digests()
    hexes = [d.hex() for d in digests]
    sha256 = protocol.batch_digest(hexes)
    seal = hdr.make_seal(
        offered.signed.hash, digests, offered.file_key, lambda lb, m: trust.sign(me, lb, m)
    )
    sealed = await rt.call(
        protocol.EV_TRANSFER_SEAL,
        {"transfer_id": transfer_id, "sha256": sha256, "seal": protocol.e2e_encode(seal)},
    )
    journal.forget_send(offered.source)  # sealed: a later send of these files is a new one
    until = str(sealed.get("available_until", ""))
    report(
        {
            "event": "uploaded",
            "name": batch.name,
            "sha256": sha256,
            "listeners": listeners,
            "available_until": until,
            "wait": options.wait,
        }
    )
    judge = _judge(offered, sha256)
    if code_sender is None:
        wait = options.timeout if options.wait else 0
        got, missing = await inbox.verdicts(rt, transfer_id, expected, wait, judge)
    else:
        expected = {await _code_receiver(rt, code_sender, transfer_id, options.timeout)}
        verdicts = inbox.verdicts(rt, transfer_id, expected, options.timeout, judge, only=True)
        got, missing = await _or_abort(rt, transfer_id, code_sender, verdicts)
    seconds = time.monotonic() - started
    prefix = batch.name + "/" if batch.kind == BatchKind.DIRECTORY else ""
    resumed = []
    start = 0
    for entry in batch.entries:
        resumed.append(min(max(offset - start, 0), entry["size"]))
        start += entry["size"]
    shares = moving_shares(
        moving, [e["size"] - r for e, r in zip(batch.entries, resumed, strict=True)]
    )
    return [
        SendOutcome(
            path=str(path),
            name=prefix + entry["path"],
            size=entry["size"],
            sha256=digest,
            transfer_id=transfer_id,
            seconds=seconds,
            resumed_from=done,
            verdicts=got,
            missing=missing if options.wait else [],
            moving_seconds=share,
            available_until=until,
            waited=options.wait,
            batch=None if single else batch.name,
        )
        for path, entry, digest, done, share in zip(
            batch.paths, batch.entries, hexes, resumed, shares, strict=True
        )
    ]


def _judge(offered: Offered, sha256: str) -> Any:
    """A receiver's result as the sender believes it: "verified" only with the receiver's MAC
    over exactly our digest (made under the file key: the daemon cannot make one)."""

    def judge(data: dict[str, Any]) -> ReceiverVerdict:
        user_id = int(data["user_id"])
        name, reason = str(data.get("username")), str(data.get("reason", ""))
        if not data.get("ok"):
            return ReceiverVerdict(
                name, False, heard(reason) if reason else said(N_("not verified")), user_id
            )
        got = str(data.get("sha256", ""))
        authentic = hdr.verdict_ok(
            offered.file_key, offered.signed.hash, user_id, got, data.get("mac")
        )
        if not authentic:
            why = said(N_("its verdict is not authenticated (no MAC under the file key): ignored"))
            return ReceiverVerdict(name, False, why, user_id)
        if got != sha256:
            mismatch = said(N_("SHA-256 mismatch (got {sha256})"), sha256=got)
            return ReceiverVerdict(name, False, mismatch, user_id)
        return ReceiverVerdict(name, True, "", user_id)

    return judge


async def _code_receiver(
    rt: SocketClient, code_sender: CodeSender, transfer_id: str, timeout: float
) -> int:
    """Who took the key through the code; when nobody did, or an exchange failed (the code is
    spent), the transfer is aborted (its spool deleted) and the error raised."""
    try:
        user_id, _name = await code_sender.wait(timeout)
    except CliError:
        await _abort(rt, transfer_id)
        raise
    return user_id


async def _abort(rt: SocketClient, transfer_id: str) -> None:
    with contextlib.suppress(CliError):
        await rt.call(protocol.EV_TRANSFER_ABORT, {"transfer_id": transfer_id})


async def _or_abort(
    rt: SocketClient, transfer_id: str, code_sender: CodeSender, work: Awaitable[T]
) -> T:
    """``work``, cut short when the code exchange fails meanwhile: then the transfer is
    aborted (the code is spent) and the exchange's error raised."""
    try:
        return await code_sender.unless_failed(work)
    except CliError as exc:
        if exc is code_sender.failure:
            await _abort(rt, transfer_id)
        raise


def unverified(outcomes: list[SendOutcome], timeout: float, room: str) -> list[str]:
    """For each transfer not verified by every receiver: its name and what went wrong (with
    --no-wait only the verdicts that came before the upload ended count). The files of a
    transfer share its verdicts, so a transfer is named once."""
    failures = []
    reported: set[str] = set()
    for outcome in outcomes:
        if not outcome.waited and all(v.ok for v in outcome.verdicts):
            continue
        seconds = f"{timeout:g}"
        problems = [
            _("{user}: {reason}").format(user=v.username, reason=v.reason)
            for v in outcome.verdicts
            if not v.ok
        ]
        problems += [
            _("{user}: no verdict within {seconds} s").format(user=name, seconds=seconds)
            for name in outcome.missing
        ]
        if not outcome.verdicts and not outcome.missing:
            problems.append(
                _(
                    "nobody took it within {seconds} s; the daemon keeps it until {until}: run "
                    "{command} on the receiving side"
                ).format(
                    seconds=seconds,
                    until=local_clock(outcome.available_until),
                    command=f"`videonet receive {shlex.quote(room)}`",
                )
            )
        if not problems or outcome.transfer_id in reported:
            continue
        reported.add(outcome.transfer_id)
        name = outcome.name if outcome.batch is None else _batch_label(outcome, outcomes)
        failures.append(_("{name} ({problems})").format(name=name, problems="; ".join(problems)))
    return failures


def _batch_label(first: SendOutcome, outcomes: list[SendOutcome]) -> str:
    """'clips/' for a directory; 'a.txt and 2 more files' for loose files sent together."""
    count = sum(1 for o in outcomes if o.transfer_id == first.transfer_id)
    if first.name.startswith(f"{first.batch}/"):
        return f"{first.batch}/"
    if count == 1:
        return first.name
    return _("{name} and {more} more files").format(name=first.name, more=count - 1)
