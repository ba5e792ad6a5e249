"""Keep clients' malformed Socket.IO traffic from flooding the daemon's log.

engine.io and python-socketio log every packet they cannot decode with a full traceback, so any
client can write 25 lines to the log per request. Their error records become one line each (the
exception's type and text, no traceback), and at most one such line per interval is written; the
next one says how many were left out.
"""

from __future__ import annotations

import logging
import time

# The loggers engine.io and python-socketio use when given logger=False.
LIBRARY_LOGGERS = ("engineio.server", "socketio.server")
ONE_LINE_EVERY_SECONDS = 10.0
MESSAGE_MAX_CHARS = 300


class OneLinePerInterval(logging.Filter):
    """At most one error line per interval; tracebacks folded into the line."""

    def __init__(self, interval: float = ONE_LINE_EVERY_SECONDS) -> None:
        super().__init__()
        self._interval = interval
        self._last = -interval
        self._left_out = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        now = time.monotonic()
        if now - self._last < self._interval:
            self._left_out += 1
            return False
        line = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            line = f"{line}: {type(exc).__name__}: {exc}"
        if self._left_out:
            line += f" ({self._left_out} more like it left out)"
        record.msg, record.args = line[:MESSAGE_MAX_CHARS], ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        self._last, self._left_out = now, 0
        return True


def quiet_library_loggers() -> None:
    """Install the filter once on each library logger (several daemons may share a process)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLinePerInterval) for f in logger.filters):
            logger.addFilter(OneLinePerInterval())
