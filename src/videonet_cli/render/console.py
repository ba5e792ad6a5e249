"""The consoles and the basic shapes: JSON for scripts, Rich tables and lines for people.

Every string that came from the daemon (room names, descriptions, usernames, file names) is
shown as text, never parsed as Rich markup: a room named ``[/oops]`` must print, not raise, and
``[link=…]`` must not turn into a link. So lines go out with ``markup=False`` and cells as `Text`.

When standard output is not a terminal, tables become tab-separated rows with every value in
full (ids, codes, ISO times): ``videonet rooms list | cut -f2`` works at any width.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from videonet_cli.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from rich.console import Console


# Rich is imported when something is first shown to a person, not with the command: a command
# that prints only JSON lines never loads it (25-55 ms of CPU off each start, measured in
# docs/performance.md, "Start-up").
@cache
def console() -> Console:
    """The Rich console on standard output."""
    from rich.console import Console

    return Console()


@cache
def err_console() -> Console:
    """The Rich console on standard error."""
    from rich.console import Console

    return Console(stderr=True)


# Translators: the answers that mean yes at a [y/N] question (receive's offer, send's new
# identities, rooms delete), separated by "|"; keep y and yes (they always work) and add your
# language's own yes.
YES_ANSWERS = N_("y|yes")


def is_yes(answer: str) -> bool:
    """y or yes, or the language's own yes (a full-width ｙ typed with an input method too)."""
    typed = unicodedata.normalize("NFKC", answer).strip().lower()
    words = {"y", "yes", *(w.strip().lower() for w in _(YES_ANSWERS).split("|"))}
    return bool(typed) and typed in words


def print_json(data: Any) -> None:
    """One JSON document on stdout (no colour, so it stays machine-readable)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    """One JSON object per line, for streams of events (``--json`` on long-running commands)."""
    print_json_lines([data])


def print_json_lines(items: Iterable[Any]) -> None:
    """Several JSON lines written at once (a batch's results: one write, not one per file)."""
    sys.stdout.write(
        "".join(
            json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
            for data in items
        )
    )
    sys.stdout.flush()


def print_table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    title: str | None = None,
) -> None:
    """``rows`` with ``columns`` given as (key, header) pairs: a Rich table on a terminal,
    tab-separated full values (no header) when piped. Keys ending in ``_at`` are times."""
    if not console().is_terminal:
        for row in rows:
            cells = (_plain_cell(row.get(key)) for key, _header in columns)
            sys.stdout.write("\t".join(cells) + "\n")
        sys.stdout.flush()
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title) if title else None)
    for _key, header in columns:
        table.add_column(header)
    for row in rows:
        table.add_row(*(Text(_cell(key, row.get(key))) for key, _header in columns))
    console().print(table)


def _cell(key: str, value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if key.endswith("_at") and isinstance(value, str):
        return human_time(value)
    return str(value)


def _plain_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # piped: the value as scripts read it, in every language
        return "yes" if value else "no"
    # A tab or newline inside a value would split its row.
    return str(value).replace("\t", " ").replace("\n", " ")


def human_time(iso: str, now: datetime | None = None) -> str:
    """A time for people: "3 min ago" or "in 2 h" within a day, else the local date and minute."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    ahead = seconds < 0
    span = abs(seconds)
    if span < 60:
        return _("in under a minute") if ahead else _("just now")
    if span < 3600:
        minutes = int(span // 60)
        if ahead:
            return ngettext("in {n} min", "in {n} min", minutes).format(n=minutes)
        return ngettext("{n} min ago", "{n} min ago", minutes).format(n=minutes)
    if span < 24 * 3600:
        hours = int(span // 3600)
        if ahead:
            return ngettext("in {n} h", "in {n} h", hours).format(n=hours)
        return ngettext("{n} h ago", "{n} h ago", hours).format(n=hours)
    return local_time(iso)


def local_time(iso: str) -> str:
    """An ISO time from the daemon as this machine's date and minute."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def info(message: str) -> None:
    """One line for people; never parsed as markup (it may hold a room or file name)."""
    console().print(message, highlight=False, markup=False, soft_wrap=True)


def notice(message: str) -> None:
    """`info` on standard error: beside the output, never in it. Soft-wrapped, as every line here:
    a narrow terminal wraps it, but no newline lands inside a command the reader copies."""
    err_console().print(message, highlight=False, markup=False, soft_wrap=True)


def error_line(message: str) -> None:
    from rich.text import Text

    err_console().print(Text.assemble((_("Error: "), "bold red"), message), soft_wrap=True)


def warning(message: str) -> None:
    """A problem that did not stop the command, on standard error."""
    from rich.text import Text

    err_console().print(Text.assemble((_("Warning: "), "bold yellow"), message), soft_wrap=True)
