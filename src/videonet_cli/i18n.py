"""The CLI's language: settled once, before typer is imported, then `_` and `ngettext` speak it.

``settle()`` runs first thing in `videonet_cli.main` (typer and click look their own words up
when they are imported, and our commands' help strings are evaluated when theirs are). The
choice, highest first: ``VIDEONET_LANG``, the saved ``language`` (``videonet config set language
ko``), ``LC_ALL`` / ``LC_MESSAGES`` / ``LANG``; anything unknown is English.

Two catalogues, both under ``videonet_cli/locale``: ``videonet_cli`` (our words) and
``videonet_click`` (click's and typer's own: "Usage", "Options", "Missing argument", which they
look up through the process's gettext domain, so `settle` binds that domain to ours).

Strings in module-level tables are marked with `N_` and translated where they are shown.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

from videonet_protocol.i18n import (
    LANGUAGES,
    N_,
    SOURCE_LANGUAGE,
    from_posix,
    normalize,
    translations,
)

ENV_LANG = "VIDEONET_LANG"
DOMAIN = "videonet_cli"
CLICK_DOMAIN = "videonet_click"
LOCALEDIR = str(Path(__file__).parent / "locale")

__all__ = ["LANGUAGES", "N_", "_", "current", "ngettext", "settle"]

_catalogue: gettext.NullTranslations = gettext.NullTranslations()
_language = SOURCE_LANGUAGE


def choose(
    environ: os._Environ[str] | dict[str, str] | None = None, saved: str | None = None
) -> str:
    """The language this process speaks (see the module's docstring for the order); ``saved``
    is config.json's ``language`` (`videonet_cli.config.saved_language`)."""
    env = os.environ if environ is None else environ
    explicit = normalize(env.get(ENV_LANG))
    if explicit is not None:
        return explicit
    return normalize(saved) or from_posix(env) or SOURCE_LANGUAGE


def settle(language: str | None = None, *, saved: str | None = None) -> str:
    """Pick the language and load its catalogues; returns it. Call before importing typer."""
    global _catalogue, _language
    _language = normalize(language) or choose(saved=saved)
    _catalogue = translations(LOCALEDIR, DOMAIN, _language)
    # click and typer call the stdlib's gettext.gettext: the process's domain, in the language
    # LANGUAGE names (GNU gettext's own override, which both gettext and subprocesses honour).
    gettext.bindtextdomain(CLICK_DOMAIN, LOCALEDIR)
    gettext.textdomain(CLICK_DOMAIN)
    os.environ["LANGUAGE"] = _language
    return _language


def current() -> str:
    """The settled language (``en`` until `settle` runs)."""
    return _language


def _(message: str) -> str:
    """``message`` in the settled language."""
    return _catalogue.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of ``singular``/``plural`` for ``count`` in the settled language."""
    return _catalogue.ngettext(singular, plural, count)
