"""File keys for devices that appear after the offer, and the receiver's own copy.

Sender (`LateKeys`): while `send` runs, a device that asks for a key it lacks (through the
daemon's `key-wanted`) gets one only if the identity layer accepts it as a device of that user
now, with no first-use pinning in answer to the daemon (`choose_recipients` without
`trust_new`); the daemon's word on who asks is only where to look. A `--code` transfer serves
nobody this way: its key goes through the code alone.

Receiver (`receiver_file_key`): this device's wrapped key, unwrapped; when there is none, the
sender's running CLI is asked (through the daemon) and the receiver waits a little; otherwise
`KeyUnavailableError` says to ask the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from videonet_cli.api import Api, SocketClient
from videonet_cli.config import ENV_KEY_WAIT, seconds_from_env
from videonet_cli.crypto.wrap import unwrap_file_key
from videonet_cli.errors import CliError, KeyUnavailableError
from videonet_cli.i18n import N_
from videonet_cli.identity import trust
from videonet_cli.reporting import Reporter
from videonet_cli.transfer.said import said
from videonet_protocol import protocol
from videonet_protocol.names import name_key

if TYPE_CHECKING:
    from videonet_cli.transfer.offering import Offered

# How long a receiver waits for the sender's CLI to wrap a late key (VIDEONET_KEY_WAIT changes it).
KEY_WAIT_SECONDS = 15.0


class LateKeys:
    """The sender's answer to `key-wanted` for the transfers this command offered."""

    def __init__(
        self, api: Api, rt: SocketClient, me: trust.ThisDevice, room_id: str, report: Reporter
    ) -> None:
        self._api = api
        self._rt = rt
        self._me = me
        self._room_id = room_id
        self._report = report
        self._offered: dict[str, Offered] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        rt.on(protocol.EV_TRANSFER_KEY_WANTED, self._on_key_wanted)

    def serve(self, offered: Offered) -> None:
        self._offered[offered.transfer_id] = offered

    async def _on_key_wanted(self, data: Any) -> None:
        if isinstance(data, dict) and str(data.get("transfer_id")) in self._offered:
            task = asyncio.create_task(self._wrap_late(data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _wrap_late(self, data: dict[str, Any]) -> None:
        from videonet_cli.transfer.offering import wrapped_keys

        offered = self._offered[str(data.get("transfer_id"))]
        to_user_id = offered.reply["transfer"].get("to_user_id")
        user_id, username = data.get("user_id"), str(data.get("username"))
        device_id = str(data.get("device_id"))
        if not isinstance(user_id, int) or to_user_id not in (None, user_id):
            return
        own = name_key(username) == name_key(self._me.username)
        with contextlib.suppress(CliError):
            chosen = await trust.choose_recipients(
                self._api,
                self._me,
                room_id=self._room_id,
                usernames=None if own else [username],
                only_me=own,
            )
            devices = [
                d for d in chosen.devices if d.user_id == user_id and d.device_id == device_id
            ]
            if not devices:
                line = said(
                    N_(
                        "Not sending the file key to a device of {user} the daemon asked for: "
                        "it is not certified by their identity"
                    ),
                    user=username,
                )
                self._report({"event": "trust_notice", "line": line})
                return
            stream_id = offered.signed.header.stream_id
            keys = wrapped_keys(offered.file_key, stream_id, devices, self._report)
            if keys:
                await self._rt.call(
                    protocol.EV_TRANSFER_WRAP, {"transfer_id": offered.transfer_id, "keys": keys}
                )
                self._report(
                    {"event": "key_sent", "transfer_id": offered.transfer_id, "user": username}
                )


async def receiver_file_key(
    rt: SocketClient, me: trust.ThisDevice, offer: dict[str, Any], wait: float | None = None
) -> bytes:
    """This device's file key for an offer, waiting a little for a late wrap (``wait``
    seconds; default VIDEONET_KEY_WAIT, else `KEY_WAIT_SECONDS`)."""
    if wait is None:
        wait = seconds_from_env(ENV_KEY_WAIT, KEY_WAIT_SECONDS)
    transfer_id = str(offer["transfer_id"])
    stream_id = str(offer["e2e"]["stream_id"])
    added = asyncio.Event()

    async def on_added(data: Any) -> None:
        if isinstance(data, dict) and data.get("transfer_id") == transfer_id:
            added.set()

    rt.on(protocol.EV_TRANSFER_KEY_ADDED, on_added)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        added.clear()
        reply = await rt.call(
            protocol.EV_TRANSFER_KEY, {"transfer_id": transfer_id, "device_id": me.device_id}
        )
        raw = protocol.e2e_decode(reply.get("wrapped"), protocol.E2E_WRAPPED_KEY_BYTES)
        if reply.get("wrapped") is not None and raw is None:
            raise CliError(said(N_("the daemon sent a malformed wrapped key")))
        if raw is not None:
            return unwrap_file_key(raw, me.x25519, stream_id, me.device_id)
        remaining = deadline - loop.time()
        if not reply.get("sender_online") or remaining <= 0:
            sender = offer.get("sender_name")
            fingerprint = protocol.key_fingerprint(me.x25519.public_key().public_bytes_raw())
            fields = {"name": offer.get("name"), "fingerprint": fingerprint, "user": sender}
            raise KeyUnavailableError(
                said(
                    N_(
                        "{name} was not encrypted for this device ({fingerprint}): ask {user} to "
                        "run the same `videonet send` again while you are receiving"
                    ),
                    **fields,
                )
                if sender
                else said(
                    N_(
                        "{name} was not encrypted for this device ({fingerprint}): ask the sender "
                        "to run the same `videonet send` again while you are receiving"
                    ),
                    **fields,
                )
            )
        with contextlib.suppress(TimeoutError):
            await rt.unless_lost(added.wait(), remaining)
