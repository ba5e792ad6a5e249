"""What a send or receive was asked, what it learns back (each receiver's verdict) and its outcome.

Control events may arrive before the ack of the offer that caused them, so they are kept per
transfer id until the sender asks for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videonet_cli.api import SocketClient
from videonet_cli.api.client import TransfersApi
from videonet_cli.api.wire import ConnectError
from videonet_cli.errors import CliError, IncompleteError
from videonet_cli.i18n import _
from videonet_cli.transfer.said import english
from videonet_protocol import protocol

if TYPE_CHECKING:
    from videonet_cli.crypto.pake import Code
    from videonet_cli.identity.trust import Confirm

# Asked before each offer (a file, a batch or a directory) is taken, on a terminal: take it?
Ask = Callable[[dict[str, Any]], Awaitable[bool]]
# Supplies the file key of an encrypted offer (None in ReceiveOptions: this device's wrapped key,
# transfer/e2e_keys.receiver_file_key). A one-off code exchange plugs in here.
KeySource = Callable[[dict[str, Any]], Awaitable[bytes]]


@dataclass(frozen=True)
class SendOptions:
    """What `videonet send` was asked: the room, the files, to whom, how long, how fast."""

    room: str
    paths: list[Path]
    to: str | None = None
    timeout: float = 600.0  # seconds to wait for the receivers' verdicts after the upload
    rate_limit: int | None = None  # bytes a second
    wait: bool = True  # False (--no-wait): done once uploaded; receivers take it later
    code: Code | None = None  # --code: the file key goes to one receiver through this code
    # First-seen identities accepted without asking: all (--trust-new) or those named (--to);
    # the rest are put to ``confirm`` (a person at a terminal), or stop the send (exit 2).
    trust_new: bool | Collection[str] = False
    confirm: Confirm | None = None


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
    batch: str | None = None  # the batch (directory or first file) this file was sent in

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
            "receivers": [{**v.__dict__, "reason": english(v.reason)} for v in self.verdicts],
            "missing": self.missing,
            "available_until": self.available_until,
            "batch": self.batch,
        }


class Inbox:
    """Control events for this sender, kept per transfer id (they may arrive before the ack).

    Receivers are tracked by user id, never by name: a display name is not an identity, and
    one receiver must not stand in for another's verdict.
    """

    def __init__(self) -> None:
        self.accepted: dict[str, set[int]] = {}
        self.results: dict[str, dict[int, dict[str, Any]]] = {}
        self.names: dict[int, str] = {}
        self.changed = asyncio.Event()

    async def on_accepted(self, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("user_id"), int):
            self.names[data["user_id"]] = str(data.get("username"))
            self.accepted.setdefault(str(data.get("transfer_id")), set()).add(data["user_id"])
            self.changed.set()

    async def on_result(self, data: Any) -> None:
        # Kept as it came: what a verdict means is decided by `verdicts`' judge (its MAC).
        if isinstance(data, dict) and isinstance(data.get("user_id"), int):
            user_id = data["user_id"]
            self.names[user_id] = str(data.get("username"))
            self.results.setdefault(str(data.get("transfer_id")), {})[user_id] = data
            self.changed.set()

    def expected(self, reply: dict[str, Any], to: str | None) -> tuple[list[str], set[int]]:
        """From an offer's reply: the listeners' names, and the ids of everyone whose verdict
        the sender waits for (the listeners, and the one it is addressed to)."""
        listeners = [str(n) for n in reply.get("listeners", [])]
        ids = set()
        for listener in reply.get("listener_users", []):
            self.names[int(listener["user_id"])] = str(listener["username"])
            ids.add(int(listener["user_id"]))
        to_user_id = reply["transfer"].get("to_user_id")
        if to_user_id is not None:
            if to:
                self.names.setdefault(int(to_user_id), to)
            ids.add(int(to_user_id))
        return listeners, ids

    def shown(self, user_ids: set[int]) -> list[str]:
        """Names for people; the id too where two of them share a display name."""
        names = [self.names.get(i, f"#{i}") for i in user_ids]
        return sorted(
            f"{n} (#{i})" if names.count(n) > 1 else n for i, n in zip(user_ids, names, strict=True)
        )

    async def verdicts(
        self,
        rt: SocketClient,
        transfer_id: str,
        expected: set[int],
        timeout: float,
        judge: Callable[[dict[str, Any]], ReceiverVerdict],
        *,
        only: bool = False,
    ) -> tuple[list[ReceiverVerdict], list[str]]:
        """Wait until every expected or accepting receiver answered (at least one), or timeout
        (0: only look at what already came). With ``only``, the expected receivers alone count
        (a code's transfer: the one who used the code). A connection to the daemon (``rt``) that
        breaks meanwhile ends the wait at once (`connection_lost`).

        Returns the verdicts by username and the receivers that did not answer.
        """

        def wanted() -> set[int]:
            return expected if only else expected | self.accepted.get(transfer_id, set())

        def got() -> dict[int, ReceiverVerdict]:
            results = self.results.get(transfer_id, {})
            return {u: judge(v) for u, v in results.items() if u in expected or not only}

        deadline = time.monotonic() + timeout
        while True:
            self.changed.clear()  # before looking, so an event that lands after it wakes us
            if got() and not wanted() - set(got()):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):  # a broken connection: at once
                await rt.unless_lost(self.changed.wait(), remaining)
        missing = self.shown(wanted() - set(got()))
        return sorted(got().values(), key=lambda v: v.username), missing


def upload_failed(transfers: TransfersApi, exc: BaseException) -> CliError:
    """The one line for an upload that broke: unreachable, or incomplete (run again to resume)."""
    if isinstance(exc, ConnectError):
        return transfers.unreachable(exc)
    return IncompleteError(
        _(
            "the connection to {server} broke during the upload ({error}); run the same command "
            "again to resume"
        ).format(server=transfers.server, error=exc.__class__.__name__)
    )


@dataclass(frozen=True)
class ReceiveOptions:
    """What `videonet receive` was asked: the room, where to, how many, how long to wait, from
    whom, and whom to ask before taking an offer (None: take every offer, as with --yes)."""

    room: str | None  # None: every room this account is in (offers addressed to it)
    out_dir: Path
    count: int = 1
    timeout: float = 600.0  # seconds to wait for an offer
    overwrite: bool = False
    from_user: str | None = None
    ask: Ask | None = None
    file_key: KeySource | None = None
    code: Code | None = None  # --code: take the one transfer whose sender has this code
    again: tuple[str, ...] = ()  # the options a `receive` that resumes this one needs

    def again_line(self, room_name: str | None) -> str:
        """The `videonet receive` that resumes this one, quoted as a person pastes it."""
        room = [room_name] if self.room is not None and room_name else []
        return "`" + shlex.join(["videonet", "receive", *room, *self.again]) + "`"


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
    moving_seconds: float = 0.0  # time spent downloading in this run, not waiting or hashing
    declined: bool = False  # the user said no at the prompt: not a failure
    batch: str | None = None  # the batch (directory or first file) this file came in
    # Which device of the sender signed it (its certified label) and how far the sender's
    # identity is trusted here: "pinned", "verified" or "own" (identity.model.signer)
    device: str = ""
    identity: str = ""
    skipped: bool = False  # it could not land here (its name exists...): the run went on
    not_for_me: bool = False  # its header names no device of this account (room-less receive)

    def as_dict(self) -> dict[str, Any]:
        # Bytes moved in this run over the time spent moving them: a resume neither counts
        # the bytes already here nor the time spent re-hashing them.
        moved = self.size - self.resumed_from
        mb_s = moved / 1e6 / self.moving_seconds if self.moving_seconds > 0 and self.ok else None
        return {
            "event": "result",
            "name": self.name,
            "path": self.path,
            "bytes": self.size,
            "sha256": self.sha256,
            "sender": self.sender,
            "device": self.device,
            "identity": self.identity,
            "ok": self.ok,
            "reason": english(self.reason),
            "seconds": round(self.seconds, 3),
            "moving_seconds": round(self.moving_seconds, 3),
            "mb_per_s": round(mb_s, 1) if mb_s else None,
            "resumed_from": self.resumed_from,
            "declined": self.declined,
            "batch": self.batch,
        }


def moving_shares(moving: float, moved: list[int]) -> list[float]:
    """A batch's moving time split over its files by the bytes each moved in this run, so each
    file's rate is the batch's and the shares add up to the batch's time."""
    total = sum(moved)
    return [moving * m / total if total else 0.0 for m in moved]


async def decline(rt: SocketClient, transfer_id: str, reason: str, last: bool) -> None:
    """Tell the daemon (and through it the sender) why this receiver will not take an offer."""
    with contextlib.suppress(CliError):
        await rt.call(
            protocol.EV_TRANSFER_DECLINE,
            {"transfer_id": transfer_id, "reason": english(reason), "done": last},
        )
