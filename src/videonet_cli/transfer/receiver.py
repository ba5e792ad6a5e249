"""`receive`: take offers in a room, stream each into NAME.part while hashing, rename when verified.

An end-to-end encrypted offer (every one `videonet send` makes) is decrypted record by record as
it arrives; only verified plaintext is written to NAME.part (transfer/e2e_stream.py), and the
file key comes wrapped for this device (transfer/e2e_keys.py).

Resume: a NAME.part left by an earlier run is re-hashed and the download continues after it (for
an encrypted offer, from the start of the record its verified bytes end in).
Nothing is ever written outside the output directory, and nothing appears under its final name
before the daemon confirmed that its SHA-256 equals the sender's. A batch (several files, or a
directory) is taken by transfer/batch_receiver.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from videonet_cli.api import Api, SocketClient
from videonet_cli.api.client import TransfersApi
from videonet_cli.crypto.stream import RecordCipher, StreamLayout
from videonet_cli.errors import BadCodeError, CliError, IntegrityError, UsageError
from videonet_cli.identity import core as identity
from videonet_cli.identity.device import DeviceKey
from videonet_cli.reporting import Reporter
from videonet_cli.transfer.batch_receiver import receive_batch
from videonet_cli.transfer.e2e_keys import receiver_file_key
from videonet_cli.transfer.e2e_stream import Resume, open_stream
from videonet_cli.transfer.files import (
    FREE_SPACE_MARGIN,
    Gathered,
    ReleaseBehind,
    UnsafeTarget,
    existing_part_size,
    free_bytes,
    hash_prefix,
    open_part,
    part_path,
    safe_name,
)
from videonet_cli.transfer.outcomes import ReceiveOptions, ReceiveOutcome, decline
from videonet_cli.transfer.throttle import Throttle
from videonet_protocol import protocol


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

    (device, _), room = await asyncio.gather(
        identity.publish_this_device(api), api.rooms.resolve(options.room)
    )
    async with api.socket() as rt:
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
        # With --overwrite, files declined earlier (because they existed) are offered again.
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
            if coded is not None and not isinstance(offer.get("e2e"), dict):
                # The sender's CLI encrypts it; offered in plaintext, it is not the sender's.
                raise BadCodeError(
                    "the transfer the code names is offered unencrypted: refused (the daemon "
                    "changed it); nothing was written"
                )
            if state == protocol.TransferState.INTERRUPTED:
                # Its sender stopped half way; when it sends again, the offer comes back.
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
            last = taken >= count
            if kind is None:
                outcomes.append(
                    await _receive_one(api.transfers, rt, device, offer, options, last, report)
                )
            else:
                outcomes += await receive_batch(
                    api.transfers, rt, device, offer, options, last, report
                )
        return outcomes


async def _receive_one(
    transfers: TransfersApi,
    rt: SocketClient,
    device: DeviceKey,
    offer: dict[str, Any],
    options: ReceiveOptions,
    last: bool,
    report: Reporter,
) -> ReceiveOutcome:
    out_dir, overwrite = options.out_dir, options.overwrite
    started = time.monotonic()
    transfer_id = str(offer["transfer_id"])
    e2e = offer.get("e2e")
    size = int(e2e["plain_size"]) if isinstance(e2e, dict) else int(offer["size"])
    sender = str(offer.get("sender_name", "?"))
    safe = safe_name(str(offer["name"]))
    final = out_dir / safe.name
    part = part_path(out_dir, safe.name)

    moving = 0.0

    def outcome(
        ok: bool, reason: str, sha: str = "", offset: int = 0, declined: bool = False
    ) -> ReceiveOutcome:
        return ReceiveOutcome(
            name=safe.name,
            path=str(final),
            size=size,
            sha256=sha,
            sender=sender,
            ok=ok,
            reason=reason,
            seconds=time.monotonic() - started,
            resumed_from=offset,
            moving_seconds=moving,
            declined=declined,
        )

    if safe.changed:
        report({"event": "renamed", "offered": safe.original, "name": safe.name})
    if os.path.lexists(final) and not overwrite:
        reason = f"{final} exists (use --overwrite to replace it)"
        await decline(rt, transfer_id, reason, last)
        return outcome(False, reason)
    if options.ask is not None and not await options.ask(offer):
        await decline(rt, transfer_id, "declined", last)
        return outcome(False, "declined", declined=True)

    try:
        offset = existing_part_size(out_dir, part.name)
    except UnsafeTarget as exc:
        await decline(rt, transfer_id, str(exc), last)
        return outcome(False, str(exc))
    if offset > size:
        part.unlink()
        offset = 0
    cipher: RecordCipher | None = None
    if isinstance(e2e, dict):
        # Before accepting: without a key this device cannot take the file at all.
        if options.file_key is not None:
            file_key = await options.file_key(offer)
        else:
            file_key = await receiver_file_key(rt, device, offer)
        cipher = RecordCipher(file_key, str(e2e["stream_id"]))
        offset = Resume.for_download(StreamLayout(size), offset).plain_offset
    needed = size - offset + FREE_SPACE_MARGIN
    if free_bytes(out_dir) < needed:
        reason = f"not enough free space in {out_dir} for {safe.name} ({size} bytes)"
        await decline(rt, transfer_id, reason, last)
        return outcome(False, reason)

    await rt.call(protocol.EV_TRANSFER_ACCEPT, {"transfer_id": transfer_id})
    report(
        {
            "event": "offer",
            "name": safe.name,
            "bytes": size,
            "sender": sender,
            "transfer_id": transfer_id,
            "resumed_from": offset,
            "encrypted": cipher is not None,
        }
    )
    throttle = Throttle(report, safe.name, size)
    checking = Throttle(report, safe.name, size, "checking")  # re-hashing is not moving
    digest = hash_prefix(part, offset, checking.update) if offset else hashlib.sha256()
    began = time.monotonic()
    # A complete NAME.part needs no bytes (a Range from its end would be refused with 416);
    # an empty file is still fetched, which creates its NAME.part.
    try:
        if cipher is not None:
            received = await _download_sealed(
                transfers, transfer_id, part, offset, size, digest, throttle, cipher
            )
        elif offset < size or not size:
            received = await _download(transfers, transfer_id, part, offset, size, digest, throttle)
        else:
            received = offset
    except IntegrityError as exc:
        # Only verified records were written, but this copy cannot be completed: start over.
        part.unlink(missing_ok=True)
        reason = f"{exc.message}; nothing was kept"
        await decline(rt, transfer_id, reason, last)
        return outcome(False, reason, offset=offset)
    moving = time.monotonic() - began
    throttle.update(received, force=True)
    if received < size:
        return outcome(
            False,
            f"incomplete: {received} of {size} bytes arrived (kept in {part.name}; "
            "run receive again to resume)",
            offset=offset,
        )
    sha256 = digest.hexdigest()
    reply = await rt.call(
        protocol.EV_TRANSFER_VERDICT, {"transfer_id": transfer_id, "sha256": sha256, "done": last}
    )
    if not reply.get("match") or reply.get("expected") != sha256:
        part.unlink(missing_ok=True)
        return outcome(
            False,
            f"SHA-256 mismatch: got {sha256}, the sender has {reply.get('expected')}; "
            "the received bytes were discarded",
            sha256,
            offset,
        )
    if os.path.lexists(final) and not overwrite:  # appeared while we were downloading
        return outcome(False, f"{final} appeared meanwhile; kept {part.name}", sha256, offset)
    os.replace(part, final)
    return outcome(True, "", sha256, offset)


async def _download(
    transfers: TransfersApi,
    transfer_id: str,
    part: Path,
    offset: int,
    size: int,
    digest: Any,
    throttle: Throttle,
) -> int:
    """Append the rest of the file to `part`; return how many bytes it holds at the end."""
    received = offset
    try:
        fd = open_part(part.parent, part.name)
    except UnsafeTarget as exc:
        raise CliError(str(exc)) from exc
    pending = Gathered()
    release = ReleaseBehind(fd, offset)
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        async with transfers.download(transfer_id, offset) as chunks:
            # Gather socket reads into 1 MiB writes (small writes cost several times more).
            async for chunk in chunks:
                if received + pending.nbytes + len(chunk) > size:
                    raise CliError("the daemon sent more bytes than offered")
                digest.update(chunk)
                if pending.add(chunk):
                    received += pending.write_to(fd)
                    release.written_to(received)
                    throttle.update(received)
            received += pending.write_to(fd)
        os.fsync(fd)
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError):
        pass  # a short stream: the caller reports it as incomplete and keeps the .part
    except (aiohttp.ClientError, TimeoutError) as exc:
        if received == offset:
            raise transfers.unreachable(exc) from exc
    finally:
        if pending.nbytes:  # what arrived before a broken stream is kept for the resume
            received += pending.write_to(fd)
        os.close(fd)
    return received


async def _download_sealed(
    transfers: TransfersApi,
    transfer_id: str,
    part: Path,
    offset: int,
    size: int,
    digest: Any,
    throttle: Throttle,
    cipher: RecordCipher,
) -> int:
    """Decrypt the records from the one ``offset`` starts and append their verified plaintext
    to ``part``; return how many plaintext bytes it holds at the end. A record that does not
    verify raises `IntegrityError` (what was verified before it stays written)."""
    received = offset
    try:
        fd = open_part(part.parent, part.name)
    except UnsafeTarget as exc:
        raise CliError(str(exc)) from exc
    release = ReleaseBehind(fd, offset)
    try:
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        async with open_stream(transfers, transfer_id, cipher, size, offset) as records:
            async for record in records:
                if received + len(record) > size:
                    raise CliError("the daemon sent more bytes than offered")
                digest.update(record)
                view = memoryview(record)
                while view:
                    view = view[os.write(fd, view) :]
                received += len(record)
                release.written_to(received)
                throttle.update(received)
        os.fsync(fd)
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError):
        pass  # a short stream: the caller reports it as incomplete and keeps the .part
    except (aiohttp.ClientError, TimeoutError) as exc:
        if received == offset:
            raise transfers.unreachable(exc) from exc
    finally:
        os.close(fd)
    return received
