"""A Socket.IO connection to the daemon, authenticated with the token, with errors mapped.

The connection says the CLI's language (``Accept-Language``), as every HTTP request does.

Every client event is sent with `call` and answered by an `Ack`; a refused ack becomes the
same DaemonRefused as an HTTP error body, so cores handle socket and HTTP failures the same way.
"""

from __future__ import annotations

import asyncio
import inspect
import ssl
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from videonet_cli.api.http import language_headers, unreachable_error
from videonet_cli.api.sio import Client, Refused, SocketError
from videonet_cli.errors import CliError, DaemonRefused, UnreachableError
from videonet_cli.i18n import _
from videonet_protocol import protocol

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 15.0
CALL_TIMEOUT_SECONDS = 30.0


def retrieved(task: asyncio.Future[Any]) -> None:
    """A done callback: the task's error is read, so asyncio never logs it as never retrieved
    (for work whose failure is said some other way, or not wanted)."""
    if not task.cancelled():
        task.exception()


def connection_lost() -> UnreachableError:
    """The one line for a connection to the daemon that broke while the command needed it."""
    return UnreachableError(_("the connection to the daemon was lost"))


def error_for(error: Any) -> CliError:
    """The CliError for an error body from the daemon (ack or refused connection)."""
    if not isinstance(error, dict):
        return CliError(str(error))
    return DaemonRefused(
        str(error.get("code", "")), str(error.get("message") or _("refused by the daemon"))
    )


class SocketClient:
    """One Socket.IO connection, authenticated with the token; open it with `async with`."""

    def __init__(self, server: str, token: str) -> None:
        self.server = server
        self.token = token
        self.sio = Client()  # no reconnection: a broken connection ends the waits
        # One handler an event: ours runs the commands' after its own.
        self._on_lost: list[Callable[..., Any]] = []
        self._lost = asyncio.Event()  # set for good when the connection breaks
        self.sio.on("disconnect", self._on_disconnect)

    async def _on_disconnect(self, *args: Any) -> None:
        # A call or a wait for an event would wait out its whole timeout for what cannot come
        # any more: each ends now (`unless_lost`; the daemon killed, the network gone).
        self._lost.set()
        for handler in self._on_lost:
            result = handler(*args)
            if inspect.isawaitable(result):
                await result

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        try:
            await self.sio.connect(
                self.server,
                protocol.SOCKET_PATH,
                language_headers(),
                {"token": self.token},
                CONNECT_TIMEOUT_SECONDS,
            )
        except Refused as exc:
            await self.sio.disconnect()
            # The daemon's refusal arrives as {"message": ..., "data": ErrorBody}.
            refusal = exc.data.get("data", exc.data) if isinstance(exc.data, dict) else exc.data
            if isinstance(refusal, dict) and "code" in refusal:
                raise error_for(refusal) from exc
            raise UnreachableError(
                _("cannot reach the daemon at {server} ({error})").format(
                    server=self.server, error=exc
                )
            ) from exc
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            await self.sio.disconnect()
            if isinstance(exc, SocketError):
                raise UnreachableError(
                    _("cannot reach the daemon at {server} ({error})").format(
                        server=self.server, error=exc
                    )
                ) from exc
            raise unreachable_error(self.server, exc) from exc

    async def close(self) -> None:
        await self.sio.disconnect()

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        if event == "disconnect":
            self._on_lost.append(handler)
        else:
            self.sio.on(event, handler)

    async def call(
        self, event: str, data: dict[str, Any], timeout: float = CALL_TIMEOUT_SECONDS
    ) -> dict[str, Any]:
        """Send one event and wait for its ack; a refusal raises the mapped CliError, and a
        connection that breaks meanwhile ends the wait at once."""
        try:
            ack = await self.unless_lost(self.sio.call(event, data, timeout=timeout))
        except TimeoutError as exc:
            raise UnreachableError(
                _("the daemon did not answer {event} in time").format(event=repr(event))
            ) from exc
        except SocketError as exc:
            raise connection_lost() from exc
        if not isinstance(ack, dict):
            raise CliError(_("unexpected reply to {event}").format(event=repr(event)))
        if not ack.get("ok"):
            raise error_for(ack.get("error"))
        return ack

    async def unless_lost(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        """``awaitable`` (an event from the daemon, say), within ``timeout`` seconds when one is
        given (`TimeoutError` after); a connection that breaks meanwhile ends the wait at once
        with `connection_lost`, as it does a call's."""
        work = asyncio.ensure_future(awaitable)
        # Its error is raised below, or (the connection broke, this wait was cancelled) it is
        # not what is said: either way never reported by asyncio as "never retrieved".
        work.add_done_callback(retrieved)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _pending = await asyncio.wait(
                (work, lost), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if work in done:
            return work.result()
        if lost in done:
            raise connection_lost()
        raise TimeoutError

    async def join(self, room_id: str, listen: bool | None = None) -> dict[str, Any]:
        """Join the room's channel; with ``listen`` set, also listen for its offers (taking
        those declined before when it is True): the ack carries them."""
        request: protocol.JoinRequest = {"room_id": room_id}
        if listen is not None:
            request |= {"listen": True, "declined": listen}
        return await self.call(protocol.EV_ROOM_JOIN, dict(request))
