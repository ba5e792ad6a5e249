"""The database as a feature: migrated and given its first invite when the daemon starts, closed
when it stops (the last feature to stop but the bus)."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from videonet_daemon import invites
from videonet_daemon.auth.tokens import write_private_file
from videonet_daemon.db.engine import Database
from videonet_daemon.db.migrations import migrate

log = logging.getLogger(__name__)

BOOTSTRAP_INVITE_FILE = "bootstrap-invite"


class DatabaseFeature:
    def __init__(self, db: Database, data_dir: Path) -> None:
        self._db = db
        self._data_dir = data_dir
        # The first invite while nobody has used it (shown at every start until then).
        self.bootstrap_invite: str | None = None

    def install(self, router: web.UrlDispatcher, hub: object) -> None:
        """No routes or events of its own."""

    async def start(self) -> None:
        """Migrate the database and make the first invite (the database is closed again if
        either fails)."""
        try:
            applied = await migrate(self._db)
            if applied:
                log.info("applied migrations %s", applied)
            code = await invites.create_bootstrap(self._db)
            if code is not None:
                write_private_file(self._data_dir / BOOTSTRAP_INVITE_FILE, code + "\n")
                self.bootstrap_invite = code
            else:
                self.bootstrap_invite = await invites.pending_bootstrap(self._db)
                if self.bootstrap_invite is None:  # someone registered: the file is stale
                    (self._data_dir / BOOTSTRAP_INVITE_FILE).unlink(missing_ok=True)
        except BaseException:
            await self._db.close()
            raise

    async def stop(self) -> None:
        await self._db.close()
