"""A downloading receiver whose sender stopped (Ctrl-C, a lost connection): it waits for the
same send to resume, for `VIDEONET_RESUME_WAIT` seconds (default `RESUME_WAIT_SECONDS`), and
goes on from the verified plaintext it holds.

The daemon's word on the transfer's state (`transfer:state`, a resumed `transfer:offer`, the
state `transfer:listen` reports) only decides when to ask for the bytes again; what arrives is
checked record by record as ever.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from videonet_cli.config import ENV_RESUME_WAIT, seconds_from_env
from videonet_protocol import protocol

if TYPE_CHECKING:
    from videonet_cli.api import SocketClient

# How long a receiver waits for an interrupted sender to resume (VIDEONET_RESUME_WAIT changes it).
RESUME_WAIT_SECONDS = 600.0

S = protocol.TransferState


def resume_wait() -> float:
    return seconds_from_env(ENV_RESUME_WAIT, RESUME_WAIT_SECONDS)


class TransferStates:
    """The states the daemon announces for transfers, and an event per transfer that is set
    whenever one of them changes."""

    def __init__(self) -> None:
        self._changed: dict[str, asyncio.Event] = {}

    def heard(self, data: Any) -> None:
        if isinstance(data, dict):
            event = self._changed.get(str(data.get("transfer_id")))
            if event is not None:
                event.set()

    async def on_state(self, data: Any) -> None:
        self.heard(data)

    def watch(self, transfer_id: str) -> asyncio.Event:
        return self._changed.setdefault(transfer_id, asyncio.Event())


async def current_state(rt: SocketClient, room_id: str, transfer_id: str) -> str | None:
    """The transfer's state as the daemon says now; None once it is gone (aborted, cleaned up)."""
    reply = await rt.call(protocol.EV_TRANSFER_LISTEN, {"room_id": room_id, "declined": True})
    for offer in reply.get("offers", []):
        if isinstance(offer, dict) and offer.get("transfer_id") == transfer_id:
            return str(offer.get("state"))
    return None


async def sender_back(
    rt: SocketClient, changed: asyncio.Event, room_id: str, transfer_id: str, wait: float
) -> str | None:
    """Wait up to ``wait`` seconds while the transfer is interrupted; its state then (still
    ``interrupted`` on a timeout, None if it is gone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        changed.clear()  # before asking: a change after the answer wakes the wait below
        state = await current_state(rt, room_id, transfer_id)
        remaining = deadline - loop.time()
        if state != S.INTERRUPTED or remaining <= 0:
            return state
        try:
            await rt.unless_lost(changed.wait(), remaining)  # a broken connection: at once
        except TimeoutError:
            return await current_state(rt, room_id, transfer_id)


def plain_bytes(ciphertext: int, plain_size: int) -> int:
    """About how much plaintext ``ciphertext`` bytes of records hold (for people)."""
    full = protocol.E2E_RECORD_BYTES + protocol.E2E_TAG_BYTES
    records = -(-ciphertext // full)
    return max(0, min(plain_size, ciphertext - records * protocol.E2E_TAG_BYTES))
