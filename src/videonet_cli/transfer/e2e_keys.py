"""Who gets a transfer's file key, and how each side holds it.

Sender (`SenderKeys`): a new random file key per transfer, wrapped for every device of every
recipient (the `--to` user, or every member of the room at offer time) and of the sender's own
account, chosen by `identity.trust` (a changed identity stops the send: exit 6; a device its
user's identity did not certify is skipped and named). A resumed transfer keeps its first key:
the sender unwraps its own copy from the daemon. While the command runs, a device that asks for
a key it lacks (it appeared after the offer) gets one, if its identity certified it.

Receiver (`receiver_file_key`): this device's wrapped key, unwrapped; when there is none, the
sender's running CLI is asked (through the daemon) and the receiver waits a little; otherwise
`KeyUnavailableError` says to ask the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

from videonet_cli.api import Api, SocketClient
from videonet_cli.config import ENV_KEY_WAIT, seconds_from_env
from videonet_cli.crypto.wrap import new_file_key, unwrap_file_key, wrap_file_key
from videonet_cli.errors import CliError, KeyUnavailableError
from videonet_cli.identity import trust
from videonet_cli.identity.device import DeviceKey
from videonet_cli.reporting import Reporter
from videonet_protocol import protocol
from videonet_protocol.names import name_key

# How long a receiver waits for the sender's CLI to wrap a late key (VIDEONET_KEY_WAIT changes it).
KEY_WAIT_SECONDS = 15.0
PEER_KEY_REQUESTS = 8  # members whose device keys are asked for at once


@dataclass(frozen=True)
class Recipient:
    user_id: int
    username: str
    device_id: str
    public_key: bytes


@dataclass
class FileKey:
    """The key a transfer's records are sealed under, and what it is bound to."""

    key: bytes
    stream_id: str
    to_user_id: int | None = None


def new_stream_id() -> str:
    return secrets.token_hex(protocol.E2E_STREAM_ID_CHARS // 2)


def wrapped_for(file_key: FileKey, recipients: list[Recipient]) -> list[protocol.WrappedKey]:
    return [
        {
            "user_id": r.user_id,
            "device_id": r.device_id,
            "wrapped": protocol.e2e_encode(
                wrap_file_key(file_key.key, r.public_key, file_key.stream_id, r.device_id)
            ),
        }
        for r in recipients
    ]


async def unwrap_mine(
    rt: SocketClient, device: DeviceKey, transfer_id: str, stream_id: str
) -> bytes | None:
    """This device's copy of a transfer's file key, or None if the daemon holds none."""
    reply = await rt.call(
        protocol.EV_TRANSFER_KEY, {"transfer_id": transfer_id, "device_id": device.device_id}
    )
    raw = protocol.e2e_decode(reply.get("wrapped"), protocol.E2E_WRAPPED_KEY_BYTES)
    if reply.get("wrapped") is not None and raw is None:
        raise CliError("the daemon sent a malformed wrapped key")
    if raw is None:
        return None
    return unwrap_file_key(raw, device.private_key, stream_id, device.device_id)


class SenderKeys:
    """The sender's side: recipients checked against the pins, keys made, wrapped, handed out."""

    def __init__(
        self,
        api: Api,
        rt: SocketClient,
        device: DeviceKey,
        report: Reporter,
        *,
        only_mine: bool = False,
    ) -> None:
        # only_mine (`send --code`): the key is wrapped for this account's own devices alone;
        # the receiver gets it through the code, never from the daemon.
        self._only_mine = only_mine
        self._api = api
        self._rt = rt
        self.device = device
        self._me_device: trust.ThisDevice | None = None
        self._report = report
        self._room_id = ""
        self._me = ""
        self._keys: dict[str, FileKey] = {}  # transfer id -> its key, for late devices
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, room_id: str, me: str) -> None:
        """Serve late devices of the room; ``me`` is this account's username."""
        self._room_id = room_id
        self._me = me
        self._rt.on(protocol.EV_TRANSFER_KEY_WANTED, self._on_key_wanted)

    async def recipients(self, to: str | None) -> list[Recipient]:
        """Every device that gets the key, as `identity.trust.choose_recipients` decides: the
        addressee's (or every member's) and our own, each certified by its user's identity.

        Until the transfer pipeline asks a person (issue 21), identities seen for the first
        time are accepted by the send itself; skipped devices and new ones are reported."""
        if self._me_device is None:
            self._me_device = await trust.this_device(self._api)
        chosen = await trust.choose_recipients(
            self._api,
            self._me_device,
            room_id=self._room_id,
            usernames=[to] if to else None,
            only_me=self._only_mine,
            trust_new=True,
        )
        self._report_choice(chosen)
        return [
            Recipient(d.user_id, d.username, d.device_id, d.x25519_public) for d in chosen.devices
        ]

    def _report_choice(self, chosen: trust.Recipients) -> None:
        for line in chosen.notices:
            self._report({"event": "trust_notice", "line": line})
        for s in chosen.skipped:
            whom = (
                f"{s.username}'s device {trust.device_name(s.label, s.device_id)}"
                if s.device_id
                else s.username
            )
            self._report({"event": "trust_notice", "line": f"Not encrypting to {whom}: {s.reason}"})

    async def new_key(self, to: str | None) -> tuple[FileKey, protocol.E2eRequest]:
        """A fresh file key and the offer's `e2e` field (source and size filled by the caller)."""
        file_key = FileKey(new_file_key(), new_stream_id())
        keys = wrapped_for(file_key, await self.recipients(to))
        request: protocol.E2eRequest = {
            "stream_id": file_key.stream_id,
            "plain_size": 0,
            "source": "",
            "keys": keys,
        }
        return file_key, request

    async def offer(
        self, body: dict[str, Any], plain_size: int, source: str, to: str | None
    ) -> tuple[dict[str, Any], FileKey]:
        """Offer with a new file key wrapped for every recipient; return the daemon's reply and
        the transfer's key. A resumed transfer keeps its first key; when this device holds no
        copy of it (it was offered from another device), that transfer is aborted and offered
        anew."""
        for _ in range(2):
            made, e2e = await self.new_key(to)
            e2e["plain_size"] = plain_size
            e2e["source"] = source
            request = {**body, "size": protocol.e2e_ciphertext_size(plain_size), "e2e": e2e}
            reply = await self._rt.call(protocol.EV_TRANSFER_OFFER, request)
            file_key = await self.adopt(reply["transfer"], made, bool(reply.get("resumed")))
            if file_key is not None:
                return reply, file_key
            await self._rt.call(
                protocol.EV_TRANSFER_ABORT, {"transfer_id": str(reply["transfer"]["transfer_id"])}
            )
        raise CliError("the daemon kept resuming a transfer this device holds no key for")

    async def adopt(self, offer: dict[str, Any], made: FileKey, resumed: bool) -> FileKey | None:
        """The key of the transfer the daemon answered with: ours if new; if resumed, the
        first offer's key (our own wrapped copy), or None when this device has none."""
        e2e = offer.get("e2e")
        if not isinstance(e2e, dict):
            raise CliError("the daemon dropped the encryption of this transfer")
        transfer_id = str(offer["transfer_id"])
        if not resumed:
            if e2e.get("stream_id") != made.stream_id:
                raise CliError("the daemon changed the transfer's stream id")
            file_key = made
        else:
            stream_id = str(e2e.get("stream_id"))
            key = await unwrap_mine(self._rt, self.device, transfer_id, stream_id)
            if key is None:
                return None
            file_key = FileKey(key, stream_id)
        file_key.to_user_id = offer.get("to_user_id")
        self._keys[transfer_id] = file_key
        return file_key

    def key_for(self, transfer_id: str) -> FileKey | None:
        """The key of a transfer this command offered (e.g. to hand over by a one-off code)."""
        return self._keys.get(transfer_id)

    async def _on_key_wanted(self, data: Any) -> None:
        if isinstance(data, dict) and str(data.get("transfer_id")) in self._keys:
            task = asyncio.create_task(self._wrap_late(data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _wrap_late(self, data: dict[str, Any]) -> None:
        transfer_id = str(data.get("transfer_id"))
        file_key = self._keys[transfer_id]
        username, device_id = str(data.get("username")), str(data.get("device_id"))
        if file_key.to_user_id not in (None, data.get("user_id")):
            return
        if self._only_mine and name_key(username) != name_key(self._me):
            return  # a code's key goes to others only through the code
        with contextlib.suppress(CliError):
            if self._me_device is None:
                self._me_device = await trust.this_device(self._api)
            chosen = await trust.choose_recipients(
                self._api,
                self._me_device,
                room_id=self._room_id,
                usernames=None if name_key(username) == name_key(self._me) else [username],
                only_me=name_key(username) == name_key(self._me),
            )
            for device in chosen.devices:
                if device.device_id != device_id or device.user_id != data.get("user_id"):
                    continue
                recipient = Recipient(
                    device.user_id, device.username, device_id, device.x25519_public
                )
                await self._rt.call(
                    protocol.EV_TRANSFER_WRAP,
                    {"transfer_id": transfer_id, "keys": wrapped_for(file_key, [recipient])},
                )
                self._report(
                    {"event": "key_sent", "transfer_id": transfer_id, "user": device.username}
                )
                return
            self._report(
                {
                    "event": "trust_notice",
                    "line": f"Not sending the file key to a device of {username} the daemon "
                    "asked for: it is not certified by their identity",
                }
            )


async def receiver_file_key(
    rt: SocketClient, device: DeviceKey, offer: dict[str, Any], wait: float | None = None
) -> bytes:
    """This device's file key for an encrypted offer, waiting a little for a late wrap
    (``wait`` seconds; default VIDEONET_KEY_WAIT, else `KEY_WAIT_SECONDS`)."""
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
            protocol.EV_TRANSFER_KEY, {"transfer_id": transfer_id, "device_id": device.device_id}
        )
        raw = protocol.e2e_decode(reply.get("wrapped"), protocol.E2E_WRAPPED_KEY_BYTES)
        if raw is not None:
            return unwrap_file_key(raw, device.private_key, stream_id, device.device_id)
        remaining = deadline - loop.time()
        if not reply.get("sender_online") or remaining <= 0:
            sender = offer.get("sender_name", "the sender")
            raise KeyUnavailableError(
                f"{offer.get('name')} was not encrypted for this device "
                f"({device.fingerprint}): ask {sender} to run the same `videonet send` again "
                "while you are receiving"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(added.wait(), remaining)
