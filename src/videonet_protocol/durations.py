"""Durations as people type them ('90', '30m', '12h', '7d', '2w'); shared by both CLIs."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """Seconds in ``text``; ValueError with a readable message if it is not a duration."""
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 12h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
