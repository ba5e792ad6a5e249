"""Which language a person reads, and the message catalogues that speak it (both sides).

The languages are `LANGUAGES`: English is the source (the msgids), Korean and Japanese have
catalogues. A catalogue is a gettext ``.mo`` compiled from the ``.po`` beside it (Babel: the
build hook, ``make catalogues``, scripts/i18n.py); a missing ``.mo`` means English, never an
error. What is never translated (``--json`` output, exit codes, error codes, operators' log
lines) is listed in docs/i18n.md.

How a language is picked:

- the CLI: ``VIDEONET_LANG``, then ``videonet config set language``, then ``LC_ALL`` /
  ``LC_MESSAGES`` / ``LANG`` (POSIX order: the first one set wins);
- the daemon and the web page: the account's setting, then ``Accept-Language``.

Anything unknown (``fr_FR.UTF-8``, ``C``, ``POSIX``, garbage) is English, silently.
"""

from __future__ import annotations

import gettext
import re
import struct
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

SOURCE_LANGUAGE = "en"
LANGUAGES: tuple[str, ...] = ("en", "ko", "ja")
# Each language's own name, for a language switch.
LANGUAGE_NAMES: Mapping[str, str] = {"en": "English", "ko": "한국어", "ja": "日本語"}

# POSIX: LC_ALL overrides everything, then LC_MESSAGES, then LANG.
POSIX_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")

_TAG = re.compile(r"^\s*([A-Za-z]{1,8})(?:[-_][A-Za-z0-9]{1,8})*(?:\.[A-Za-z0-9_-]+)?(?:@\w+)?\s*$")


def normalize(tag: str | None) -> str | None:
    """The language of a POSIX locale or a BCP 47 tag, if it is one of `LANGUAGES`.

    ``ko_KR.UTF-8`` → ``ko``, ``ja-JP`` → ``ja``, ``en_GB`` → ``en``; ``C``, ``POSIX``, an
    empty or unknown tag → None.
    """
    if not tag:
        return None
    match = _TAG.match(tag)
    if match is None:
        return None
    language = match.group(1).lower()
    return language if language in LANGUAGES else None


def from_posix(environ: Mapping[str, str]) -> str | None:
    """The language the POSIX locale variables ask for: the first one set decides."""
    for name in POSIX_VARIABLES:
        value = environ.get(name, "")
        if value:
            return normalize(value)
    return None


def from_accept_language(header: str | None) -> str | None:
    """The best of `LANGUAGES` an ``Accept-Language`` header asks for (by q, then order)."""
    if not header or len(header) > 1000:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = normalize(tag)
        if language is not None and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


def pick(candidates: Iterable[str | None]) -> str:
    """The first candidate that is a known language, else English."""
    for candidate in candidates:
        language = normalize(candidate)
        if language is not None:
            return language
    return SOURCE_LANGUAGE


@lru_cache(maxsize=32)
def translations(localedir: str, domain: str, language: str) -> gettext.NullTranslations:
    """The catalogue of ``domain`` in ``language`` under ``localedir`` (English: none)."""
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    path = Path(localedir) / language / "LC_MESSAGES" / f"{domain}.mo"
    try:
        with path.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    except (OSError, ValueError, struct.error):  # missing, or not a catalogue: English
        return gettext.NullTranslations()


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it here (module-level tables)."""
    return message
