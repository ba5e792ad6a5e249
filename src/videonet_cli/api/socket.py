"""A Socket.IO connection to the daemon, authenticated with the token, with errors mapped.

The connection says the CLI's language (``Accept-Language``), as every HTTP request does.

Every client event is sent with `call` and answered by an `Ack`; a refused ack becomes the
same DaemonRefused as an HTTP error body, so cores handle socket and HTTP failures the same way.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import socketio

from videonet_cli.adapters.engineio import close_session
from videonet_cli.api.http import language_headers
from videonet_cli.errors import CliError, DaemonRefused, UnreachableError
from videonet_cli.i18n import _
from videonet_protocol import protocol

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 15.0
CALL_TIMEOUT_SECONDS = 30.0

# python-engineio writes its own errors to stderr through a handler it adds to its default logger
# ("packet queue is empty, aborting" when the connection breaks); the command says what went
# wrong in its one line, so the library's lines go nowhere.
_ENGINEIO_LOG = logging.getLogger("videonet_cli.engineio")
_ENGINEIO_LOG.addHandler(logging.NullHandler())
_ENGINEIO_LOG.propagate = False


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
        # handle_sigint=False: python-socketio's own SIGINT handler cancels every task and stops
        # the loop; commands decide what Ctrl-C means (asyncio.run raises KeyboardInterrupt).
        self.sio = socketio.AsyncClient(
            reconnection=False,  # a broken connection ends the command's waits (`unless_lost`)
            logger=False,
            engineio_logger=_ENGINEIO_LOG,
            handle_sigint=False,
        )
        self._refusal: Any = None
        self.sio.on("connect_error", self._on_connect_error)
        # python-socketio keeps one handler per event: ours runs the commands' after its own.
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

    async def _on_connect_error(self, data: Any = None) -> None:
        # A refusal from the daemon arrives as {"message": ..., "data": ErrorBody}.
        self._refusal = data.get("data", data) if isinstance(data, dict) else data

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
                auth={"token": self.token},
                headers=language_headers(),
                socketio_path=protocol.SOCKET_PATH,
                transports=["websocket"],
                wait_timeout=CONNECT_TIMEOUT_SECONDS,
            )
        except socketio.exceptions.ConnectionError as exc:
            await self._close_transport()
            if isinstance(self._refusal, dict) and "code" in self._refusal:
                raise error_for(self._refusal) from exc
            raise UnreachableError(
                _("cannot reach the daemon at {server} ({error})").format(
                    server=self.server, error=exc
                )
            ) from exc

    async def _close_transport(self) -> None:
        await close_session(self.sio)

    async def close(self) -> None:
        if self.sio.connected:
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
        except socketio.exceptions.TimeoutError as exc:
            raise UnreachableError(
                _("the daemon did not answer {event} in time").format(event=repr(event))
            ) from exc
        except socketio.exceptions.BadNamespaceError as exc:
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
