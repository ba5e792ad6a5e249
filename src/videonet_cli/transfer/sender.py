"""`send`: offer each file to the room, upload it into the daemon's spool, collect verdicts.

The file is hashed while it is uploaded (one read); a resumed upload first hashes what the daemon
already holds. The sender is done with a file when it is sealed and every receiver that listened
or accepted has reported its SHA-256 (at least one must).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from videonet_cli.api import Api, SocketClient
from videonet_cli.api.client import TransfersApi
from videonet_cli.errors import CliError, IncompleteError, UsageError
from videonet_cli.reporting import Reporter
from videonet_cli.transfer.files import CHUNK_BYTES, check_sendable, hash_prefix, local_clock
from videonet_cli.transfer.throttle import Throttle
from videonet_daemon import protocol


@dataclass(frozen=True)
class SendOptions:
    """What `videonet send` was asked: the room, the files, to whom, how long, how fast."""

    room: str
    paths: list[Path]
    to: str | None = None
    timeout: float = 600.0  # seconds to wait for the receivers' verdicts after the upload
    rate_limit: int | None = None  # bytes a second
    wait: bool = True  # False (--no-wait): done once uploaded; receivers take it later


@dataclass
class ReceiverVerdict:
    username: str
    ok: bool
    reason: str
    user_id: int | None = None


@dataclass
class SendOutcome:
    path: str
    name: str
    size: int
    sha256: str
    transfer_id: str
    seconds: float
    resumed_from: int
    verdicts: list[ReceiverVerdict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    moving_seconds: float = 0.0  # time spent uploading in this run, not waiting for verdicts
    available_until: str = ""  # ISO time the daemon keeps it for late receivers
    waited: bool = True

    @property
    def ok(self) -> bool:
        return bool(self.verdicts) and all(v.ok for v in self.verdicts) and not self.missing

    def as_dict(self) -> dict[str, Any]:
        # Bytes uploaded in this run over the time spent uploading them (see the receiver).
        moved = self.size - self.resumed_from
        mb_s = moved / 1e6 / self.moving_seconds if self.moving_seconds > 0 else None
        return {
            "event": "result",
            "path": self.path,
            "name": self.name,
            "bytes": self.size,
            "sha256": self.sha256,
            "transfer_id": self.transfer_id,
            "seconds": round(self.seconds, 3),
            "moving_seconds": round(self.moving_seconds, 3),
            "mb_per_s": round(mb_s, 1) if mb_s else None,
            "resumed_from": self.resumed_from,
            "ok": self.ok,
            "receivers": [v.__dict__ for v in self.verdicts],
            "missing": self.missing,
            "available_until": self.available_until,
        }


class _Inbox:
    """Control events for this sender, kept per transfer id (they may arrive before the ack).

    Receivers are tracked by user id, never by name: a display name is not an identity, and
    one receiver must not stand in for another's verdict.
    """

    def __init__(self) -> None:
        self.accepted: dict[str, set[int]] = {}
        self.results: dict[str, dict[int, ReceiverVerdict]] = {}
        self.names: dict[int, str] = {}
        self.changed = asyncio.Event()

    async def on_accepted(self, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("user_id"), int):
            self.names[data["user_id"]] = str(data.get("username"))
            self.accepted.setdefault(str(data.get("transfer_id")), set()).add(data["user_id"])
            self.changed.set()

    async def on_result(self, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("user_id"), int):
            user_id = data["user_id"]
            verdict = ReceiverVerdict(
                str(data.get("username")),
                bool(data.get("ok")),
                str(data.get("reason", "")),
                user_id,
            )
            self.names[user_id] = verdict.username
            self.results.setdefault(str(data.get("transfer_id")), {})[user_id] = verdict
            self.changed.set()

    def shown(self, user_ids: set[int]) -> list[str]:
        """Names for people; the id too where two of them share a display name."""
        names = [self.names.get(i, f"#{i}") for i in user_ids]
        return sorted(
            f"{n} (#{i})" if names.count(n) > 1 else n for i, n in zip(user_ids, names, strict=True)
        )


async def send_files(api: Api, options: SendOptions, report: Reporter) -> list[SendOutcome]:
    """Offer, upload and seal each file in turn; return each file's verdicts."""
    paths = options.paths
    sizes = [check_sendable(p) for p in paths]  # every file checked before anything is sent
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise UsageError("two of the files have the same name; send them separately")
    inbox = _Inbox()
    async with api.socket() as rt:
        room = await api.rooms.resolve(options.room)
        rt.on(protocol.EV_TRANSFER_ACCEPTED, inbox.on_accepted)
        rt.on(protocol.EV_TRANSFER_RESULT, inbox.on_result)
        await rt.join(room["id"])
        report({"event": "joined", "room": room["name"]})
        outcomes = []
        for path, size in zip(paths, sizes, strict=True):
            outcomes.append(
                await _send_one(api.transfers, rt, inbox, room["id"], path, size, options, report)
            )
        return outcomes


async def _send_one(
    transfers: TransfersApi,
    rt: SocketClient,
    inbox: _Inbox,
    room_id: str,
    path: Path,
    size: int,
    options: SendOptions,
    report: Reporter,
) -> SendOutcome:
    to, timeout = options.to, options.timeout
    started = time.monotonic()
    body: dict[str, Any] = {"room_id": room_id, "name": path.name, "size": size}
    if to:
        body["to"] = to
    reply = await rt.call(protocol.EV_TRANSFER_OFFER, body)
    offer = reply["transfer"]
    transfer_id = str(offer["transfer_id"])
    offset = int(reply["offset"])
    listeners = [str(n) for n in reply.get("listeners", [])]
    listener_ids = set()
    for listener in reply.get("listener_users", []):
        inbox.names[int(listener["user_id"])] = str(listener["username"])
        listener_ids.add(int(listener["user_id"]))
    to_user_id = offer.get("to_user_id")
    if to_user_id is not None and to:
        inbox.names.setdefault(int(to_user_id), to)
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
    throttle = Throttle(report, path.name, size)
    digest = hash_prefix(path, offset, Throttle(report, path.name, size, "checking").update)
    began = time.monotonic()
    if offset < size or offer["state"] != protocol.TransferState.UPLOADED:
        await _upload(
            transfers, transfer_id, path, offset, size, digest, throttle, options.rate_limit
        )
    moving = time.monotonic() - began
    throttle.update(size, force=True)
    sha256 = digest.hexdigest()
    sealed = await rt.call(
        protocol.EV_TRANSFER_SEAL, {"transfer_id": transfer_id, "sha256": sha256}
    )
    until = str(sealed.get("available_until", ""))
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

    expected = listener_ids | ({int(to_user_id)} if to_user_id is not None else set())
    deadline = time.monotonic() + (timeout if options.wait else 0)
    while True:
        inbox.changed.clear()  # before looking, so an event that lands after the look wakes us
        got = inbox.results.get(transfer_id, {})
        waiting_for = (expected | inbox.accepted.get(transfer_id, set())) - set(got)
        if got and not waiting_for:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(inbox.changed.wait(), remaining)
    got = inbox.results.get(transfer_id, {})
    missing = inbox.shown((expected | inbox.accepted.get(transfer_id, set())) - set(got))
    return SendOutcome(
        path=str(path),
        name=path.name,
        size=size,
        sha256=sha256,
        transfer_id=transfer_id,
        seconds=time.monotonic() - started,
        resumed_from=offset,
        verdicts=sorted(got.values(), key=lambda v: v.username),
        missing=missing if options.wait else [],
        moving_seconds=moving,
        available_until=until,
        waited=options.wait,
    )


async def _upload(
    transfers: TransfersApi,
    transfer_id: str,
    path: Path,
    offset: int,
    size: int,
    digest: Any,
    throttle: Throttle,
    rate_limit: int | None,
) -> None:
    # With a rate limit, smaller chunks keep the pace smooth.
    chunk_bytes = min(CHUNK_BYTES, max(16 << 10, rate_limit // 8)) if rate_limit else CHUNK_BYTES

    async def body() -> AsyncIterator[bytes]:
        sent = offset
        began = time.monotonic()
        fd = os.open(path, os.O_RDONLY)
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            while sent < size:
                chunk = os.read(fd, min(chunk_bytes, size - sent))
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

    try:
        await transfers.upload(transfer_id, offset, size - offset, body())
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _lost(transfers, exc) from exc


def _lost(transfers: TransfersApi, exc: BaseException) -> CliError:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return transfers.unreachable(exc)
    return IncompleteError(
        f"the connection to {transfers.server} broke during the upload ({exc.__class__.__name__}); "
        "run the same command again to resume"
    )


def unverified(outcomes: list[SendOutcome], timeout: float, room: str) -> list[str]:
    """For each file not verified by every receiver: its name and what went wrong (with
    --no-wait only the verdicts that came before the upload ended count)."""
    failures = []
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
        if problems:
            failures.append(f"{outcome.name} ({'; '.join(problems)})")
    return failures
