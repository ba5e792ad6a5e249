"""`send`: offer each file to the room, upload it into the daemon's spool, collect verdicts.

Every file is end-to-end encrypted (transfer/e2e_keys.py, transfer/e2e_stream.py): the daemon
gets records and wrapped keys, never the plaintext or its key. The file is hashed while it is
encrypted and uploaded (one read); a resumed upload first hashes the plaintext of the records
the daemon already holds. The sender is done with a file when it is sealed and every receiver
that listened or accepted has reported its SHA-256 (at least one must). Several files, or a
directory, go as one batch (transfer/batch_sender.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from videonet_cli.api import Api, SocketClient
from videonet_cli.api.client import TransfersApi
from videonet_cli.crypto.stream import RecordCipher, StreamLayout
from videonet_cli.errors import CliError, UsageError
from videonet_cli.identity import core as identity
from videonet_cli.reporting import Reporter
from videonet_cli.transfer.batch_sender import send_batch
from videonet_cli.transfer.e2e_keys import SenderKeys
from videonet_cli.transfer.e2e_stream import Resume, seal_stream, source_id
from videonet_cli.transfer.files import CHUNK_BYTES, check_sendable, hash_prefix, local_clock
from videonet_cli.transfer.outcomes import Inbox, SendOptions, SendOutcome, upload_failed
from videonet_cli.transfer.throttle import Throttle
from videonet_cli.transfer.tree import directory, loose_files
from videonet_protocol import protocol
from videonet_protocol.protocol import BatchKind

if TYPE_CHECKING:  # imported when --code is used: SPAKE2 costs start-up time otherwise
    from videonet_cli.transfer.code_exchange import CodeSender

T = TypeVar("T")


async def send_files(api: Api, options: SendOptions, report: Reporter) -> list[SendOutcome]:
    """Send what was named; return each file's verdicts.

    One file alone is one transfer; several files go as one batch (one offer, one upload), and
    each directory as a batch of its tree.
    """
    files = [p for p in options.paths if not p.is_dir()]
    sizes = [check_sendable(p) for p in files]  # every file checked before anything is sent
    batches = [loose_files(files)] if len(files) > 1 else []
    batches += [directory(p) for p in options.paths if p.is_dir()]
    names = [p.name for p in files] + [b.name for b in batches if b.kind == BatchKind.DIRECTORY]
    if len(set(names)) != len(names):
        raise UsageError("two of the files or directories have the same name; send them separately")
    if options.code is not None and (len(files) != 1 or batches):
        raise UsageError("--code sends one file (not several, not a directory)")
    if options.code is not None and not options.wait:
        raise UsageError("--code needs the sender to wait: the key goes through this run")
    for batch in batches:
        for path, why in batch.skipped:
            report({"event": "skipped", "name": f"{batch.name}/{path}", "reason": why})
    inbox = Inbox()
    # The first round trips do not depend on each other: at once (each one costs a network
    # round trip before the first byte moves).
    (device, _), room, me = await asyncio.gather(
        identity.publish_this_device(api), api.rooms.resolve(options.room), api.me()
    )
    async with api.socket() as rt:
        rt.on(protocol.EV_TRANSFER_ACCEPTED, inbox.on_accepted)
        rt.on(protocol.EV_TRANSFER_RESULT, inbox.on_result)
        await rt.join(room["id"])
        keys = SenderKeys(api, rt, device, report, only_mine=options.code is not None)
        keys.start(room["id"], me["username"])
        report({"event": "joined", "room": room["name"]})
        outcomes = []
        if len(files) == 1:
            outcomes.append(
                await _send_one(
                    api.transfers, rt, inbox, keys, room["id"], files[0], sizes[0], options, report
                )
            )
        for batch in batches:
            outcomes += await send_batch(
                api.transfers, rt, inbox, keys, room["id"], batch, options, report
            )
        return outcomes


async def _send_one(
    transfers: TransfersApi,
    rt: SocketClient,
    inbox: Inbox,
    keys: SenderKeys,
    room_id: str,
    path: Path,
    size: int,
    options: SendOptions,
    report: Reporter,
) -> SendOutcome:
    to = options.to
    started = time.monotonic()
    body: dict[str, Any] = {"room_id": room_id, "name": path.name}
    if to:
        body["to"] = to
    source = source_id(keys.device, [path])
    reply, file_key = await keys.offer(body, size, source, to)
    offer = reply["transfer"]
    transfer_id = str(offer["transfer_id"])
    layout = StreamLayout(size)
    resume = Resume.for_upload(layout, int(reply["offset"]))
    offset = resume.plain_offset
    listeners, expected = inbox.expected(reply, to)
    report(
        {
            "event": "offer",
            "name": path.name,
            "bytes": size,
            "transfer_id": transfer_id,
            "resumed_from": offset,
            "listeners": listeners,
        }
    )
    code_sender = None
    if options.code is not None:
        # The file key goes to the receiver only through the code (SenderKeys wrapped it for
        # this account's own devices alone, so a resumed send gets it back).
        from videonet_cli.transfer.code_exchange import CodeSender

        code_sender = CodeSender(rt, options.code, room_id, transfer_id, file_key.key, report)
        code_sender.install()
        report({"event": "code", "name": path.name, "code": options.code.text})
        listeners, expected = [], set()  # the one who finishes the exchange, nobody else
    throttle = Throttle(report, path.name, size)
    upload = int(reply["offset"]) < layout.ciphertext_size or (
        offer["state"] != protocol.TransferState.UPLOADED
    )
    checking = Throttle(report, path.name, size, "checking")
    digest = hash_prefix(path, offset if upload else size, checking.update)
    began = time.monotonic()
    if upload:
        plaintext = _read(path, offset, size, digest, throttle, options.rate_limit)
        cipher = RecordCipher(file_key.key, file_key.stream_id)
        skip = int(reply["offset"]) - resume.cipher_offset
        body_bytes = seal_stream(plaintext, cipher, layout, resume, skip)
        uploading = _upload(transfers, transfer_id, int(reply["offset"]), layout, body_bytes)
        if code_sender is None:
            await uploading
        else:
            await _or_abort(rt, transfer_id, code_sender, uploading)
    moving = time.monotonic() - began
    throttle.update(size, force=True)
    sha256 = digest.hexdigest()
    seal_reply = await rt.call(
        protocol.EV_TRANSFER_SEAL, {"transfer_id": transfer_id, "sha256": sha256}
    )
    until = str(seal_reply.get("available_until", ""))
    report(
        {
            "event": "uploaded",
            "name": path.name,
            "sha256": sha256,
            "listeners": listeners,
            "available_until": until,
            "wait": options.wait,
        }
    )
    if code_sender is None:
        got, missing = await inbox.verdicts(
            transfer_id, expected, options.timeout if options.wait else 0
        )
    else:
        expected = {await _code_receiver(rt, code_sender, transfer_id, options.timeout)}
        verdicts = inbox.verdicts(transfer_id, expected, options.timeout, only=True)
        got, missing = await _or_abort(rt, transfer_id, code_sender, verdicts)
    return SendOutcome(
        path=str(path),
        name=path.name,
        size=size,
        sha256=sha256,
        transfer_id=transfer_id,
        seconds=time.monotonic() - started,
        resumed_from=offset,
        verdicts=got,
        missing=missing if options.wait else [],
        moving_seconds=moving,
        available_until=until,
        waited=options.wait,
    )


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


async def _read(
    path: Path, offset: int, size: int, digest: Any, throttle: Throttle, rate_limit: int | None
) -> AsyncIterator[memoryview]:
    """The file's plaintext from ``offset`` on, hashed as it is read, at most ``rate_limit``.

    Each piece is a view of one reused buffer, valid until the next is asked for: the record
    encryptor seals it (or copies a partial record) at once, and a buffer read into again costs
    less than fresh memory for every MiB."""
    # With a rate limit, smaller chunks keep the pace smooth.
    chunk_bytes = min(CHUNK_BYTES, max(16 << 10, rate_limit // 8)) if rate_limit else CHUNK_BYTES
    buffer = memoryview(bytearray(chunk_bytes))
    sent = offset
    began = time.monotonic()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        while sent < size:
            chunk = buffer[: os.readv(fd, [buffer[: min(chunk_bytes, size - sent)]])]
            if not chunk:
                raise CliError(f"{path} shrank while it was being sent")
            digest.update(chunk)
            sent += len(chunk)
            throttle.update(sent)
            yield chunk
            if rate_limit:
                ahead = (sent - offset) / rate_limit - (time.monotonic() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    finally:
        os.close(fd)


async def _upload(
    transfers: TransfersApi,
    transfer_id: str,
    cipher_offset: int,
    layout: StreamLayout,
    body: AsyncIterator[bytes],
) -> None:
    try:
        await transfers.upload(
            transfer_id, cipher_offset, layout.ciphertext_size - cipher_offset, body
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise upload_failed(transfers, exc) from exc


def unverified(outcomes: list[SendOutcome], timeout: float, room: str) -> list[str]:
    """For each file not verified by every receiver: its name and what went wrong (with
    --no-wait only the verdicts that came before the upload ended count). The files of a batch
    share one verdict, so a batch is named once."""
    failures = []
    reported: set[str] = set()
    for outcome in outcomes:
        if not outcome.waited and all(v.ok for v in outcome.verdicts):
            continue
        problems = [f"{v.username}: {v.reason}" for v in outcome.verdicts if not v.ok]
        problems += [f"{name}: no verdict within {timeout:g} s" for name in outcome.missing]
        if not outcome.verdicts and not outcome.missing:
            problems.append(
                f"nobody took it within {timeout:g} s; the daemon keeps it until "
                f"{local_clock(outcome.available_until)}: run `videonet receive {room}` "
                "on the receiving side"
            )
        if not problems:
            continue
        name = outcome.name
        if outcome.batch is not None:
            if outcome.transfer_id in reported:
                continue
            reported.add(outcome.transfer_id)
            name = _batch_label(outcome, outcomes)
        failures.append(f"{name} ({'; '.join(problems)})")
    return failures


def _batch_label(first: SendOutcome, outcomes: list[SendOutcome]) -> str:
    """'clips/' for a directory; 'a.txt and 2 more files' for loose files sent together."""
    count = sum(1 for o in outcomes if o.transfer_id == first.transfer_id)
    if first.name.startswith(f"{first.batch}/"):
        return f"{first.batch}/"
    return first.name if count == 1 else f"{first.name} and {count - 1} more files"
