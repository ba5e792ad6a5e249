"""The one-off code on the wire: the sender's and the receiver's halves of the exchange.

crypto/pake.py does the cryptography; this module moves its messages through the daemon
(`code:open`, `code:seek`, `code:message`, see protocol.py) and enforces the rules that make a
16-bit code enough: the first exchange that fails spends the code (the sender stops, aborts the
transfer and says so), and the receiver makes one exchange per run.

Who may spend it, in magic-wormhole's spirit (a nameplate's mailbox takes two sides; a third is
"crowded"): the number is not shown to the room (the daemon passes a seek only to the sender
that opened the number), and the sender runs **one exchange at a time**. The first seeker holds
the code until its exchange ends; seeks from anyone else meanwhile are not answered, so a member
who learns the number once the receiver is in cannot spend the code or take its slot. A holder
that has not replied within `REPLY_WAIT_SECONDS` made no guess (a guess is a reply) and lets
the code go to the next seeker. Every message is checked against the exchange it belongs to,
so messages for other exchanges, transfers or people are ignored, not trusted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets
import shlex
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from videonet_cli.api import SocketClient
from videonet_cli.crypto.pake import Code, ReceiverExchange, SenderExchange
from videonet_cli.errors import BadCodeError, CliError
from videonet_cli.i18n import N_
from videonet_cli.reporting import Reporter
from videonet_cli.transfer.outcomes import KeySource
from videonet_cli.transfer.said import said
from videonet_protocol import protocol
from videonet_protocol.names import name_key
from videonet_protocol.protocol import CodeStep

T = TypeVar("T")

SEEK_INTERVAL_SECONDS = 2.0  # a receiver seeks again until a sender answers
KEY_WAIT_SECONDS = 60.0  # after its reply, how long the receiver waits for the sealed key
# How long the seeker that holds the code has to reply (a receiver replies within a round
# trip): one that did not was stopped or lost, and the code goes to the next seeker.
REPLY_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class CodeKey:
    """What a receiver's exchange brings: the transfer, its sender, and the file key."""

    transfer_id: str
    sender_id: int
    sender_name: str
    file_key: bytes

    def key_source(self) -> KeySource:
        """The receivers' hook (`ReceiveOptions.file_key`): this key, for this transfer only."""

        async def source(offer: dict[str, Any]) -> bytes:
            if str(offer.get("transfer_id")) != self.transfer_id:
                raise BadCodeError(said(N_("the code's key is for another transfer")))
            return self.file_key

        return source


def _encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _decode(text: Any) -> bytes:
    if not isinstance(text, str):
        raise BadCodeError()
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise BadCodeError() from exc


class CodeSender:
    """Give one transfer's file key to the member whose exchange with this code verifies.

    `open` on the sender's socket once the transfer is offered, then `wait` for the outcome:
    the receiver's user id, or `BadCodeError` once an exchange failed (the code is spent).
    """

    def __init__(
        self,
        rt: SocketClient,
        code: Code,
        room_id: str,
        transfer_id: str,
        file_key: bytes,
        report: Reporter,
        to: str | None = None,
        room_name: str = "",
    ) -> None:
        # to (`send --to USER --code`): only that member's exchanges are answered, so nobody
        # else in the room can spend the code (the daemon relays only to the addressee too).
        self._to = to
        self._room_name = room_name or room_id
        self._rt = rt
        self._code = code
        self._room_id = room_id
        self._transfer_id = transfer_id
        self._file_key = file_key
        self._report = report
        # The one exchange under way: (exchange id, user, side A, reply deadline), or None.
        self._holder: tuple[str, int, SenderExchange, float] | None = None
        self._outcome: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._lock = asyncio.Lock()  # one message at a time: the first failure spends the code
        # After the key went out: the receiver's exchange (id, user), which may still report that
        # the key did not verify on its side (a message changed on the way to it).
        self._given: tuple[str, int] | None = None
        self._failure: CliError | None = None  # the exchange failed: why (the code is spent)
        self._failed = asyncio.Event()

    async def open(self) -> None:
        """Listen for the exchange's messages and ask the daemon for the seeks of this number."""
        self._rt.on(protocol.EV_CODE_SEEK, self._on_seek)
        self._rt.on(protocol.EV_CODE_MESSAGE, self._on_message)
        request: protocol.CodeOpen = {
            "transfer_id": self._transfer_id,
            "nameplate": self._code.nameplate,
        }
        await self._rt.call(protocol.EV_CODE_OPEN, dict(request))

    async def wait(self, timeout: float) -> tuple[int, str]:
        """The receiver (user id, name) once its exchange verified; `BadCodeError` when one
        failed; `CliError` when nobody finished one within ``timeout`` seconds."""
        try:
            return await self._rt.unless_lost(asyncio.shield(self._outcome), timeout)
        except TimeoutError:
            raise CliError(
                said(
                    N_(
                        "nobody used the code {code} within {seconds} s: the other side runs "
                        "{command} and types it"
                    ),
                    code=self._code.text,
                    seconds=f"{timeout:g}",
                    command=f"`videonet receive {shlex.quote(self._room_name)} --code`",
                )
            ) from None

    async def unless_failed(self, work: Awaitable[T]) -> T:
        """``work`` (the upload, waiting for the verdicts), cut short when an exchange fails
        meanwhile, or the receiver reports that the key did not verify on its side: then that
        error (`BadCodeError`)."""
        task = asyncio.ensure_future(work)
        failed = asyncio.ensure_future(self._failed.wait())
        both: set[asyncio.Future[Any]] = {task, failed}
        try:
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        finally:
            failed.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, CliError, OSError):
            await task
        assert self._failure is not None
        raise self._failure

    @property
    def failure(self) -> CliError | None:
        """Why the exchange failed (the code is spent), or None."""
        return self._failure

    def _fail(self, exc: CliError) -> None:
        """The code is spent: answer no more seeks; whoever waits hears ``exc``."""
        if self._failure is None:
            self._failure = exc
            self._failed.set()
        if not self._outcome.done():
            self._outcome.set_exception(exc)
            self._outcome.exception()  # retrieved: `wait` may never be called now

    async def _on_seek(self, data: Any) -> None:
        if not isinstance(data, dict) or self._outcome.done():
            return
        if data.get("room_id") != self._room_id or data.get("nameplate") != self._code.nameplate:
            return
        exchange, user_id = data.get("exchange"), data.get("user_id")
        if not isinstance(exchange, str) or not isinstance(user_id, int):
            return
        if self._to is not None and name_key(str(data.get("username"))) != name_key(self._to):
            return  # not the addressee: the code is not theirs to spend
        async with self._lock:
            if self._holder is not None and time.monotonic() < self._holder[3]:
                return  # crowded: the code is another seeker's until its exchange ends
            side = SenderExchange(self._code, self._transfer_id, exchange)
            self._holder = (exchange, user_id, side, time.monotonic() + REPLY_WAIT_SECONDS)
            message = side.start()
        await self._send(user_id, exchange, CodeStep.PAKE, message)

    async def _on_message(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("transfer_id") != self._transfer_id:
            return
        async with self._lock:
            if self._given == (data.get("exchange"), data.get("from_user_id")):
                if data.get("step") == CodeStep.FAIL:
                    self._fail(
                        BadCodeError(
                            said(
                                N_(
                                    "the receiver could not verify the code exchange (a message "
                                    "was changed on the way): the transfer is aborted"
                                )
                            )
                        )
                    )
                return
            if self._outcome.done():
                return
            held = self._holder
            if held is None or (held[0], held[1]) != (
                data.get("exchange"),
                data.get("from_user_id"),
            ):
                return  # not the exchange this sender has under way with that member
            exchange, user_id, side, _held = held
            self._holder = None
            try:
                if data.get("step") != CodeStep.REPLY:
                    raise BadCodeError()
                key_message = side.finish(_decode(data.get("body")), self._file_key)
            except BadCodeError:
                who = str(data.get("from_username", f"#{user_id}"))
                self._fail(
                    BadCodeError(
                        said(
                            N_(
                                "the code exchange with {user} failed: a mistyped code, or a "
                                "message changed on the way (the daemon included); the transfer "
                                "is aborted and the code spent: send again for a new one"
                            ),
                            user=who,
                        )
                    )
                )
                self._report({"event": "code_failed", "user_id": user_id})
                failed = True
            else:
                self._outcome.set_result((user_id, str(data.get("from_username", f"#{user_id}"))))
                self._given = (exchange, user_id)
                failed = False
        if failed:
            with contextlib.suppress(CliError):
                await self._send(user_id, exchange, CodeStep.FAIL, b"")
        else:
            await self._send(user_id, exchange, CodeStep.KEY, key_message)

    async def _send(self, to: int, exchange: str, step: CodeStep, body: bytes) -> None:
        message: protocol.CodeMessage = {
            "transfer_id": self._transfer_id,
            "to_user_id": to,
            "exchange": exchange,
            "step": step.value,
            "body": _encode(body),
        }
        try:
            await self._rt.call(protocol.EV_CODE_MESSAGE, dict(message))
        except CliError as exc:
            if step == CodeStep.FAIL:
                raise
            if step == CodeStep.PAKE:
                # The daemon would not pass it on (to someone the transfer is not for, or to
                # ourselves): that seeker is dropped, the code stays good for the others.
                async with self._lock:
                    if self._holder is not None and self._holder[0] == exchange:
                        self._holder = None
                return
            # The key could not go out: say why, rather than waiting for the timeout.
            self._fail(exc)


async def receive_key(
    rt: SocketClient,
    room_id: str,
    code: Code,
    timeout: float,
    report: Reporter,
    room_name: str = "",
) -> CodeKey:
    """Find the sender of ``code`` in the room (``room_name``, for people) and run one exchange
    with it: the file key.

    `BadCodeError` when the exchange does not verify (nothing has been accepted or written);
    `CliError` when no sender answers within ``timeout`` seconds.
    """
    exchange = secrets.token_hex(protocol.CODE_EXCHANGE_ID_CHARS // 2)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_message(data: Any) -> None:
        if isinstance(data, dict) and data.get("exchange") == exchange:
            await inbox.put(data)

    rt.on(protocol.EV_CODE_MESSAGE, on_message)
    seek: protocol.CodeSeek = {
        "room_id": room_id,
        "nameplate": code.nameplate,
        "exchange": exchange,
    }
    report({"event": "code_seek", "nameplate": code.nameplate, "room": room_name or room_id})
    deadline = time.monotonic() + timeout
    first: dict[str, Any] | None = None
    while first is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CliError(
                said(
                    N_(
                        "no sender with the code {code} answered within {seconds} s (is "
                        "{command} still running?)"
                    ),
                    code=code.text,
                    seconds=f"{timeout:g}",
                    command=f"`videonet send {room_name or room_id} … --code`",
                )
            )
        await rt.call(protocol.EV_CODE_SEEK, dict(seek))
        with contextlib.suppress(TimeoutError):
            data = await rt.unless_lost(inbox.get(), min(SEEK_INTERVAL_SECONDS, remaining))
            if data.get("step") == CodeStep.PAKE and isinstance(data.get("from_user_id"), int):
                first = data
    transfer_id = str(first.get("transfer_id"))
    sender_id = int(first["from_user_id"])
    sender_name = str(first.get("from_username", f"#{sender_id}"))
    side = ReceiverExchange(code, transfer_id, exchange)

    async def send(step: CodeStep, body: bytes) -> None:
        message: protocol.CodeMessage = {
            "transfer_id": transfer_id,
            "to_user_id": sender_id,
            "exchange": exchange,
            "step": step.value,
            "body": _encode(body),
        }
        await rt.call(protocol.EV_CODE_MESSAGE, dict(message))

    try:
        await send(CodeStep.REPLY, side.reply(_decode(first.get("body"))))
        while True:
            try:
                data = await rt.unless_lost(inbox.get(), KEY_WAIT_SECONDS)
            except TimeoutError:
                raise BadCodeError(
                    said(
                        N_(
                            "{user} did not finish the code exchange within {seconds} s; "
                            "nothing was received"
                        ),
                        user=sender_name,
                        seconds=f"{KEY_WAIT_SECONDS:g}",
                    )
                ) from None
            if data.get("transfer_id") != transfer_id or data.get("from_user_id") != sender_id:
                continue  # another sender with the same number: this run took the first
            if data.get("step") == CodeStep.FAIL:
                raise BadCodeError()
            if data.get("step") == CodeStep.KEY:
                file_key = side.open(_decode(data.get("body")))
                break
    except BadCodeError:
        with contextlib.suppress(CliError):
            await send(CodeStep.FAIL, b"")
        raise
    report({"event": "code_ok", "sender": sender_name, "transfer_id": transfer_id})
    return CodeKey(transfer_id, sender_id, sender_name, file_key)
