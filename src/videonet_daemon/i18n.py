"""The language of the person behind a request, and the daemon's messages in it.

The daemon answers many people at once, so nothing here is global: each error is translated
where it is answered (errors.py's middleware, the hub's refusals), in the language of that
request: the account's saved language when the request is authenticated and one is saved,
else the best of ``Accept-Language``, else English. Log lines and `videonet-daemon`'s own
output stay English (docs/i18n.md).

Messages are English templates marked with `N_` (their ``{fields}`` filled after
translation), in the ``videonet_daemon`` catalogue under ``locale/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from videonet_protocol.i18n import LANGUAGES, N_, from_accept_language, pick, translations

if TYPE_CHECKING:  # a request's type only: the offline commands translate without aiohttp
    from aiohttp import web

__all__ = [
    "DOMAIN",
    "LOCALEDIR",
    "N_",
    "Phrase",
    "fill",
    "language_of",
    "request_language",
    "translate",
]

DOMAIN = "videonet_daemon"
LOCALEDIR = str(Path(__file__).resolve().parent / "locale")
# The request key where RequestAuth leaves the authenticated account's saved language.
ACCOUNT_LANGUAGE = "videonet.language"


class Phrase(str):
    """A parameter that is itself a message of the catalogue (marked with N_ where it is
    written): translated too before it is filled in."""

    __slots__ = ()


def fill(template: str, params: Mapping[str, object]) -> str:
    """``template`` with its fields filled; a template without params is taken as it is (a
    foreign text may hold braces)."""
    if not params:
        return template
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):  # a translation with a broken field: English
        return template


def translate(template: str, language: str, params: Mapping[str, object] | None = None) -> str:
    """``template`` in ``language`` with its fields filled (English when it is not in the
    catalogue, or the translation's fields do not fit)."""
    catalogue = translations(LOCALEDIR, DOMAIN, language)
    text = catalogue.gettext(template)
    if not params:
        return text
    params = {k: catalogue.gettext(v) if isinstance(v, Phrase) else v for k, v in params.items()}
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):  # a translation with a broken field: English
        return fill(template, params)


def language_of(saved: str | None, accept_language: str | None) -> str:
    """The account's saved language, else the best of ``Accept-Language``, else English."""
    return pick((saved or None, from_accept_language(accept_language)))


def request_language(request: web.BaseRequest) -> str:
    """The language to answer ``request`` in."""
    saved = request.get(ACCOUNT_LANGUAGE)
    return language_of(
        saved if isinstance(saved, str) else None, request.headers.get("Accept-Language")
    )


def saved_language(value: str | None) -> str | None:
    """A language an account may save (one of `LANGUAGES`), else None."""
    return value if value in LANGUAGES else None
