"""Ending the live connections of disabled users.

`videonet-daemon users disable` runs in another process and writes only the database (there is
no bus between it and the daemons without Redis), so each daemon looks every few seconds for
disabled users among those connected to it and disconnects their sockets. Their HTTP requests
are refused at once already: the command deletes their sessions.
"""

from __future__ import annotations

import asyncio
import logging

from videonet_daemon.db.engine import Database, columns
from videonet_daemon.realtime.hub import Hub

log = logging.getLogger(__name__)

# How long a disabled user's open socket may live on: short, and one indexed query per period.
SWEEP_EVERY_SECONDS = 2.0


class DisabledSweeper:
    def __init__(self, db: Database, hub: Hub, every: float = SWEEP_EVERY_SECONDS) -> None:
        self._db = db
        self._hub = hub
        self._every = every

    async def sweep(self) -> int:
        """Disconnect the sockets of connected users who are disabled; return how many."""
        sockets: dict[int, list[str]] = {}
        for sid, user in list(self._hub.users.items()):
            sockets.setdefault(user.user_id, []).append(sid)
        if not sockets:
            return 0
        params = {f"u{i}": user_id for i, user_id in enumerate(sockets)}
        rows = await self._db.fetch_all(
            "SELECT id FROM users WHERE disabled_at IS NOT NULL AND id IN ("
            + ", ".join(f":{name}" for name in params)
            + ")",
            **params,
        )
        dropped = 0
        for row in rows:
            for sid in sockets.get(int(columns(row)["id"]), []):
                await self._hub.sio.disconnect(sid)
                dropped += 1
        return dropped

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                dropped = await self.sweep()
                if dropped:
                    log.info("disconnected %d socket(s) of disabled users", dropped)
            except Exception:
                log.exception("the sweep for disabled users failed")
