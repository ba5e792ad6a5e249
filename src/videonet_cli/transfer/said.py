"""Sentences shown in the user's language that remember their English.

A refusal's reason is read by a person on this terminal, and also goes out as data: in
``--json`` (the same bytes in every language) and to the sender through the daemon (who may
read another language). `said` builds the sentence once: the `str` is the translation, shown
here; `english` is what JSON and the wire carry.
"""

from __future__ import annotations

from typing import Any

from videonet_cli.i18n import _


class Said(str):
    """A translated sentence; ``english`` holds the same sentence in English."""

    english: str


def said(message: str, **fields: object) -> Said:
    """``message`` (marked with ``N_``) in the user's language, its ``{fields}`` filled in.

    A field that is itself `Said` (or an error carrying one) goes into each language's
    sentence in that language."""
    shown = {k: _shown(v) for k, v in fields.items()}
    plain = {k: english(v) if isinstance(v, str | BaseException) else v for k, v in fields.items()}
    text = Said(_(message).format(**shown))
    text.english = message.format(**plain)
    return text


def _shown(value: object) -> object:
    if isinstance(value, BaseException):
        return str(value.args[0]) if value.args else str(value)
    return value


def english(value: object) -> str:
    """The English of a `Said` (or of the message an error was raised with), else ``str``."""
    if isinstance(value, BaseException):
        default = getattr(value, "default", None)
        value = value.args[0] if value.args else str(value)
        if isinstance(default, str) and value == _(default):
            return default  # raised with its class's own (translated) message
    text = getattr(value, "english", None)
    return text if isinstance(text, str) else str(value)


def reason_of(exc: BaseException) -> Said:
    """An error's message as a `Said`: shown translated, its English kept for JSON."""
    first = exc.args[0] if exc.args else None
    if isinstance(first, Said):
        return first
    text = Said(str(first) if first is not None else str(exc))
    text.english = english(exc)
    return text


def plain(event: dict[str, Any]) -> dict[str, Any]:
    """An event as JSON carries it: every `Said` value in English."""
    return {k: english(v) if isinstance(v, Said) else v for k, v in event.items()}


def heard(text: str) -> Said:
    """A reason another party sent (in English): shown in the user's language when it is one
    of our sentences without fields ("declined"), else as it came."""
    shown = Said(_(text) if text else text)
    shown.english = text
    return shown
