"""What a send was asked, what it learns back (each receiver's verdict) and its outcome.

Control events may arrive before the ack of the offer that caused them, so they are kept per
transfer id until the sender asks for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from videonet_cli.api import SocketClient
from videonet_cli.api.client import TransfersApi
from videonet_cli.errors import CliError, IncompleteError
from videonet_daemon import protocol


@dataclass(frozen=True)
class SendOptions:
    """What `videonet send` was asked: the room, the files, to whom, how long, how fast."""

    room: str
    paths: list[Path]
    to: str | None = None
    timeout: float = 600.0  # seconds to wait for the receivers' verdicts after the upload
    rate_limit: int | None = None  # bytes a second


@dataclass
class ReceiverVerdict:
    username: str
    ok: bool
    reason: str


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
    batch: str | None = None  # the batch (directory or first file) this file was sent in

    @property
    def ok(self) -> bool:
        return bool(self.verdicts) and all(v.ok for v in self.verdicts) and not self.missing

    def as_dict(self) -> dict[str, Any]:
        mb_s = self.size / 1e6 / self.seconds if self.seconds > 0 else None
        return {
            "event": "result",
            "path": self.path,
            "name": self.name,
            "bytes": self.size,
            "sha256": self.sha256,
            "transfer_id": self.transfer_id,
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(mb_s, 1) if mb_s else None,
            "resumed_from": self.resumed_from,
            "ok": self.ok,
            "receivers": [v.__dict__ for v in self.verdicts],
            "missing": self.missing,
            "batch": self.batch,
        }


class Inbox:
    """Control events for this sender, kept per transfer id (they may arrive before the ack)."""

    def __init__(self) -> None:
        self.accepted: dict[str, set[str]] = {}
        self.results: dict[str, dict[str, ReceiverVerdict]] = {}
        self.changed = asyncio.Event()

    async def on_accepted(self, data: Any) -> None:
        if isinstance(data, dict):
            self.accepted.setdefault(str(data.get("transfer_id")), set()).add(
                str(data.get("username"))
            )
            self.changed.set()

    async def on_result(self, data: Any) -> None:
        if isinstance(data, dict):
            verdict = ReceiverVerdict(
                str(data.get("username")), bool(data.get("ok")), str(data.get("reason", ""))
            )
            self.results.setdefault(str(data.get("transfer_id")), {})[verdict.username] = verdict
            self.changed.set()

    async def verdicts(
        self, transfer_id: str, expected: set[str], timeout: float
    ) -> tuple[list[ReceiverVerdict], list[str]]:
        """Wait until every expected or accepting receiver answered (at least one), or timeout.

        Returns the verdicts by username and the receivers that did not answer.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.changed.clear()  # before looking, so an event that lands after it wakes us
            got = self.results.get(transfer_id, {})
            waiting_for = (expected | self.accepted.get(transfer_id, set())) - set(got)
            if got and not waiting_for:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        got = self.results.get(transfer_id, {})
        missing = sorted((expected | self.accepted.get(transfer_id, set())) - set(got))
        return sorted(got.values(), key=lambda v: v.username), missing


def upload_failed(transfers: TransfersApi, exc: BaseException) -> CliError:
    """The one line for an upload that broke: unreachable, or incomplete (run again to resume)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return transfers.unreachable(exc)
    return IncompleteError(
        f"the connection to {transfers.server} broke during the upload ({exc.__class__.__name__}); "
        "run the same command again to resume"
    )


@dataclass(frozen=True)
class ReceiveOptions:
    """What `videonet receive` was asked: the room, where to, how many, how long to wait."""

    room: str
    out_dir: Path
    count: int = 1
    timeout: float = 600.0  # seconds to wait for an offer
    overwrite: bool = False


@dataclass
class ReceiveOutcome:
    name: str
    path: str
    size: int
    sha256: str
    sender: str
    ok: bool
    reason: str
    seconds: float
    resumed_from: int
    batch: str | None = None  # the batch (directory or first file) this file came in

    def as_dict(self) -> dict[str, Any]:
        mb_s = self.size / 1e6 / self.seconds if self.seconds > 0 and self.ok else None
        return {
            "event": "result",
            "name": self.name,
            "path": self.path,
            "bytes": self.size,
            "sha256": self.sha256,
            "sender": self.sender,
            "ok": self.ok,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(mb_s, 1) if mb_s else None,
            "resumed_from": self.resumed_from,
            "batch": self.batch,
        }


async def decline(rt: SocketClient, transfer_id: str, reason: str, last: bool) -> None:
    """Tell the daemon (and through it the sender) why this receiver will not take an offer."""
    with contextlib.suppress(CliError):
        await rt.call(
            protocol.EV_TRANSFER_DECLINE,
            {"transfer_id": transfer_id, "reason": reason, "done": last},
        )
