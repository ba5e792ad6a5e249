"""typer's internals, used here and nowhere else (both commands, so in the contract package).

- typer >= 0.29 vendors click as `typer._click`: the command tree's classes and its usage errors
  are imported from there (`Command`, `Context`, `NoArgsIsHelpError`, `UsageError`).
- `plain_help` rewrites how typer 0.29 labels values in help: it calls each parameter's
  `display_type(ctx)` and shadows the methods `_usage_display_name` and `display_type_rich`.
- typer's vendored click has its words hard-coded in English ("Usage: ", "Missing argument",
  the help option's "Show this message and exit."); only typer's own ("Options", "[default:
  …]") go through the stdlib's gettext. `plain_help` gives every command a context whose help
  formatter says them through gettext too (`WordsContext`), and `usage_message` says click's
  usage errors the same way. They use the process's gettext domain, as typer does: the
  ``videonet`` CLI binds it to its ``videonet_click`` catalogue (videonet_cli.i18n.settle);
  ``videonet-daemon`` binds nothing and stays English.
- The help formatter wraps and pads by terminal cells (`rich.cells`), not characters: click
  counts a Korean or Japanese character as one column where a terminal draws two.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from gettext import gettext

import typer
from typer._click import Command, Context, HelpFormatter
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer._click.formatting import wrap_text

from videonet_protocol.adapters.check import installed

__all__ = [
    "Command",
    "Context",
    "NoArgsIsHelpError",
    "UsageError",
    "WordsContext",
    "plain_help",
    "problems",
    "usage_message",
]

DISTRIBUTION = "typer"


# typer 0.29 labels values with Python types (``<str>``, ``<list[Path]>``, ``<float range>``);
# people read the click convention instead.
_TYPE_LABELS = {
    "str": "TEXT",
    "int": "N",
    "int range": "N",
    "float": "NUMBER",
    "float range": "NUMBER",
    "path": "PATH",
    "Path": "PATH",
    "datetime": "TIME",
}


def _label(python_label: str) -> str | None:
    """A Python type label as people read it; a choice ``<a|b>`` as ``a|b``; None for flags."""
    inner = python_label.strip("<>")
    if inner == "bool":
        return None
    if inner.startswith("list[") and inner.endswith("]"):
        item = _label(f"<{inner[5:-1]}>")
        return f"{item}..." if item else None
    return _TYPE_LABELS.get(inner, inner)


def plain_help(command: Command) -> Command:
    """Make every option's help show a readable value label, every argument its name alone,
    and no "(dynamic)" default, throughout the tree under ``command``; help and usage lines
    in the process's language (`WordsContext`)."""
    for child in (getattr(command, "commands", None) or {}).values():
        plain_help(child)
    command.context_class = WordsContext
    ctx = Context(command)
    for param in command.params:
        is_option = param.param_type_name == "option"
        if callable(param.default):
            param.show_default = False  # type: ignore[attr-defined]
        if getattr(param, "is_flag", False) or param.name == "help":
            continue
        display = getattr(param, "display_type", None)
        if is_option and param.metavar is None and display is not None:
            try:
                label = _label(str(display(ctx)))
            except Exception:  # a label is cosmetic: never let it stop the command
                label = None
            if label:
                param.metavar = label
        elif not is_option:
            name = param.metavar = param.metavar or (param.name or "").upper()
            if param.nargs != 1 and not name.endswith("..."):
                name += "..."
            shown = name if param.required else f"[{name}]"
            # Instance attributes shadow typer's methods: the usage line reads "ROOM FILE...",
            # the argument list "ROOM" (no type after it).
            param._usage_display_name = lambda shown=shown: shown  # type: ignore[attr-defined]
            param.display_type_rich = lambda ctx: None  # type: ignore[attr-defined]
    return command


def _typer_help(english: str) -> str:
    """The help line of an option typer or click made (their text is hard-coded English)."""
    words = {
        "Show this message and exit.": gettext("Show this message and exit."),
        "Install completion for the current shell.": gettext(
            "Install completion for the current shell."
        ),
        "Show completion for the current shell, to copy it or customize the installation.": (
            gettext(
                "Show completion for the current shell, to copy it or customize the installation."
            )
        ),
    }
    for source, translated in words.items():
        if english.startswith(source):
            return translated + english[len(source) :]
    return english


def cell_len(text: str) -> int:
    from rich.cells import cell_len as measure

    return measure(text)


# Closing punctuation that Japanese and Korean never put at the start of a line.
_NO_LINE_START = frozenset("。、，．）)」』】〕・ー！？!?.,:;")


def wrap_cells(text: str, width: int, indent: str = "", subsequent: str = "") -> list[str]:
    """``text`` in lines of at most ``width`` terminal cells (indents included).

    Words break at spaces; a word wider than a line (a Japanese sentence has no spaces) is cut
    between characters, filling the line it starts on.
    """
    from rich.cells import get_character_cell_size

    lines: list[str] = []
    line = indent
    fresh = True  # nothing but the indent on `line` yet
    for word in text.split():
        joined = word if fresh else " " + word
        if cell_len(line) + cell_len(joined) <= width:
            line += joined
            fresh = False
            continue
        if cell_len(word) + cell_len(subsequent) > width:
            # Too wide for any line: cut it, starting in the space left on this one.
            if not fresh:
                if cell_len(line) + 1 + cell_len(word[0]) <= width:
                    line += " "
                else:
                    lines.append(line)
                    line, fresh = subsequent, True
            for char in word:
                if cell_len(line) + get_character_cell_size(char) > width and not fresh:
                    carried = ""
                    if char in _NO_LINE_START and len(line) > len(subsequent) + 1:
                        # 。、) never start a line: the character before goes down with them.
                        line, carried = line[:-1], line[-1]
                    lines.append(line)
                    line = subsequent + carried
                line += char
                fresh = False
            continue
        if not fresh:
            lines.append(line)
        line = subsequent + word
        fresh = False
    if not fresh:
        lines.append(line)
    return lines


def _wrap(text: str, width: int, indent: str = "", subsequent: str = "") -> str:
    """click's wrapping for text as wide as it is long (English: unchanged), cells otherwise."""
    if cell_len(text) == len(text):
        return wrap_text(text, width, initial_indent=indent, subsequent_indent=subsequent)
    return "\n".join(wrap_cells(text, width, indent, subsequent))


class WordsFormatter(HelpFormatter):
    """click's help formatter with its own words translated and widths measured in cells."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, gettext("Usage: ") if prefix is None else prefix)

    def write_text(self, text: str) -> None:
        if cell_len(text) == len(text):
            super().write_text(text)
            return
        indent = " " * self.current_indent
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip())]
        self.write("\n\n".join(_wrap(p, self.width, indent, indent) for p in paragraphs if p))
        self.write("\n")

    def write_dl(
        self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        rows = [(first, _typer_help(second)) for first, second in rows]
        if all(cell_len(a) == len(a) and cell_len(b) == len(b) for a, b in rows):
            super().write_dl(rows, col_max, col_spacing)
            return
        first_col = min(max((cell_len(first) for first, _ in rows), default=0), col_max)
        first_col += col_spacing
        margin = " " * self.current_indent
        for first, second in rows:
            self.write(f"{margin}{first}")
            if not second:
                self.write("\n")
                continue
            if cell_len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - cell_len(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            text_width = max(self.width - first_col - 2 - self.current_indent, 10)
            hanging = " " * (first_col + self.current_indent)
            lines = wrap_cells(" ".join(second.split()), text_width) or [""]
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(f"{hanging}{line}\n")


class WordsContext(Context):
    """A click context whose help says click's words in the process's language."""

    formatter_class = WordsFormatter


def _usage_forms() -> list[tuple[re.Pattern[str], Callable[[], str]]]:
    """click's (and pydantic's, through typer) usage messages: an English regular expression
    with named parts, and the message with those {fields} (the msgid is click's English, so
    English reads as before)."""
    forms: list[tuple[str, Callable[[], str]]] = [
        (r"Missing argument (?P<name>.+?)\.?", lambda: gettext("Missing argument {name}.")),
        (r"Missing option (?P<name>.+?)\.?", lambda: gettext("Missing option {name}.")),
        (
            r"No such option: (?P<name>\S+) \(Possible options: (?P<options>.+)\)",
            lambda: gettext("No such option: {name} (Possible options: {options})"),
        ),
        (r"No such option: (?P<name>\S+)", lambda: gettext("No such option: {name}")),
        (
            r"Got unexpected extra argument\(s\) \((?P<args>.*)\)",
            lambda: gettext("Got unexpected extra argument(s) ({args})"),
        ),
        (
            r"Option (?P<name>\S+) requires an argument\.?",
            lambda: gettext("Option {name} requires an argument."),
        ),
        (
            r"Option (?P<name>\S+) requires (?P<count>\d+) arguments\.?",
            lambda: gettext("Option {name} requires {count} arguments."),
        ),
        (
            r"Option (?P<name>\S+) does not take a value\.?",
            lambda: gettext("Option {name} does not take a value."),
        ),
        (
            r"Invalid value for (?P<name>.+?): (?P<reason>.*)",
            lambda: gettext("Invalid value for {name}: {reason}"),
        ),
        (
            r"Input should be a valid integer, unable to parse string as an integer",
            lambda: gettext(
                "Input should be a valid integer, unable to parse string as an integer"
            ),
        ),
        (
            r"Input should be a valid number, unable to parse string as a number",
            lambda: gettext("Input should be a valid number, unable to parse string as a number"),
        ),
        (
            r"Input should be greater than or equal to (?P<limit>\S+)",
            lambda: gettext("Input should be greater than or equal to {limit}"),
        ),
        (
            r"Input should be less than or equal to (?P<limit>\S+)",
            lambda: gettext("Input should be less than or equal to {limit}"),
        ),
    ]
    return [(re.compile(f"^{regex}$", re.DOTALL), words) for regex, words in forms]


def usage_message(message: str) -> str:
    """click's English usage message in the process's language (unknown forms unchanged)."""
    text = message.strip()
    for regex, words in _usage_forms():
        match = regex.match(text)
        if match is not None:
            fields = {
                k: usage_message(v) if k == "reason" else v for k, v in match.groupdict().items()
            }
            return words().format(**fields)
    return text


def problems() -> list[str]:
    """What of the above no longer holds in the installed typer (empty: all holds)."""
    where = installed(DISTRIBUTION)
    found: list[str] = []
    app = typer.Typer()

    @app.command()
    def probe(name: str, count: int = 1) -> None:
        """A command with an argument and an option, as ours have."""

    command = typer.main.get_command(app)
    if not isinstance(command, Command):
        found.append(f"{where}: typer.main.get_command no longer makes a typer._click.Command")
    ctx = Context(command)
    by_name = {param.name: param for param in command.params}
    option, argument = by_name.get("count"), by_name.get("name")
    if option is None or argument is None:
        return [*found, f"{where}: a command's params are no longer options and arguments"]
    display = getattr(option, "display_type", None)
    if display is None:
        found.append(f"{where}: an option's display_type(ctx) is gone")
    elif str(display(ctx)) not in ("<int>", "<int range>"):
        found.append(f"{where}: display_type(ctx) labels an int option {display(ctx)!r}, not <int>")
    for name in ("_usage_display_name", "display_type_rich"):
        if not callable(getattr(argument, name, None)):
            found.append(f"{where}: an argument's method {name} is gone")
    if not issubclass(NoArgsIsHelpError, UsageError):
        found.append(f"{where}: NoArgsIsHelpError is no longer a UsageError")
    if getattr(Context, "formatter_class", None) is not HelpFormatter:
        found.append(f"{where}: Context.formatter_class no longer names click's HelpFormatter")
    from typer._click.exceptions import MissingParameter, NoSuchOption

    forms = [regex for regex, _words in _usage_forms()]
    for exc in (
        MissingParameter(param_hint="'ROOM'", param_type="argument"),
        NoSuchOption("--nope", possibilities=["--json"]),
    ):
        said = exc.format_message()
        if not any(regex.match(said) for regex in forms):
            found.append(f"{where}: click's usage error {said!r} is not a form usage_message knows")
    return found
