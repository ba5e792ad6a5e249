"""Verdicts that wait for the seal: woken by the transfer's state changes, never polling.

A receiver may send ``transfer:verdict`` before the sender has sealed the transfer (it hashed
the bytes as they came); the verdict then waits until the seal, an abort or
`SEAL_WAIT_SECONDS`. Every state change of a transfer goes through `TransferEvents.state_changed`,
which publishes it on the daemon bus (every daemon hears it, Redis or not); each waiter sleeps on
an event that message sets and reads the database only then. Waiters are capped per socket and
per transfer (settings), so a socket cannot park hundreds of them on one transfer, and an abort
ends them at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from videonet_daemon.cluster import Bus
from videonet_daemon.errors import Conflict, TransferStateError, Unavailable
from videonet_daemon.i18n import N_
from videonet_protocol import protocol

log = logging.getLogger(__name__)

S = protocol.TransferState
# A daemon bus message: {"transfer_id", "state"} after any state change of a transfer.
TRANSFER_STATE_CHANGED = "transfer:state"
SEAL_WAIT_SECONDS = 60.0
# Once a transfer's state can no longer become sealed, waiting for it is over.
_FINAL = frozenset({S.SEALED, S.ABORTED})


class VerdictWaiters:
    """Who waits for which transfer's seal on this daemon, and the event that wakes them."""

    def __init__(self, bus: Bus, per_socket: int, per_transfer: int) -> None:
        self._bus = bus
        self._per_socket = per_socket
        self._per_transfer = per_transfer
        # transfer id -> the waiters of its seal on this daemon
        self._transfers: dict[str, _Waiting] = {}
        self._sockets: dict[str, int] = {}  # sid -> waiting verdicts
        bus.on(TRANSFER_STATE_CHANGED, self._changed)

    async def changed(self, transfer_id: str, state: str) -> None:
        """Tell every daemon's waiters that the transfer's state changed."""
        try:
            await self._bus.publish(TRANSFER_STATE_CHANGED, transfer_id=transfer_id, state=state)
        except Unavailable:  # waiters elsewhere end at their deadline; the change itself stands
            log.warning("cannot tell other daemons that transfer %s is %s", transfer_id, state)

    async def _changed(self, message: dict[str, Any]) -> None:
        entry = self._transfers.get(str(message.get("transfer_id")))
        if entry is not None:
            # Wake everyone waiting now; a waiter that is reading the state takes the new one.
            woken, entry.event = entry.event, asyncio.Event()
            woken.set()

    async def until_sealed(
        self,
        sid: str,
        transfer_id: str,
        state: Callable[[], Awaitable[str]],
        timeout: float = SEAL_WAIT_SECONDS,
    ) -> None:
        """Return once `state()` says sealed; TransferStateError when it is aborted or the wait
        is over, Conflict when this socket or this transfer has too many waiting already."""
        if await state() == S.SEALED:
            return
        if self._sockets.get(sid, 0) >= self._per_socket:
            raise Conflict(
                N_(
                    "{per_socket} verdicts already wait on this connection; send the verdict once "
                    "the sender has sealed the transfer"
                ),
                per_socket=self._per_socket,
            )
        entry = self._transfers.get(transfer_id)
        if entry is not None and entry.count >= self._per_transfer:
            raise Conflict(
                N_("{per_transfer} verdicts already wait for this transfer"),
                per_transfer=self._per_transfer,
            )
        if entry is None:
            entry = self._transfers[transfer_id] = _Waiting()
        entry.count += 1
        self._sockets[sid] = self._sockets.get(sid, 0) + 1
        deadline = time.monotonic() + timeout
        try:
            while True:
                event = entry.event  # taken before the read: a change after it sets this one
                current = await state()
                left = deadline - time.monotonic()
                if current in _FINAL or left <= 0:
                    break
                try:
                    await asyncio.wait_for(event.wait(), left)
                except TimeoutError:
                    current = await state()
                    break
        finally:
            entry.count -= 1
            if entry.count == 0:
                del self._transfers[transfer_id]
            self._sockets[sid] -= 1
            if self._sockets[sid] == 0:
                del self._sockets[sid]
        if current == S.ABORTED:
            raise TransferStateError(N_("the sender aborted this transfer"))
        if current != S.SEALED:
            raise TransferStateError(N_("the sender has not finished this transfer"))

    def waiting(self) -> int:
        """How many verdicts wait on this daemon (for tests and metrics)."""
        return sum(entry.count for entry in self._transfers.values())


class _Waiting:
    def __init__(self) -> None:
        self.event = asyncio.Event()  # set (and replaced) at the transfer's next state change
        self.count = 0
