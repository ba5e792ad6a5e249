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
- `quick_coercion` gives each parameter of a plain type its `_runtime_param` (typer's
  `RuntimeParam`) before typer builds one: typer 0.29 turns every value given on the command line
  into its type with a pydantic `TypeAdapter`, built when the command runs, and importing pydantic
  and building the adapters cost a command 0.05 s of CPU before its first line of work (issue 26).
  Values of the usual shapes are converted here as pydantic converts them; anything else (an
  error to report, an unusual spelling) goes to typer's own adapter, so messages are typer's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from gettext import gettext
from pathlib import Path
from typing import Any, cast

import typer
from typer._click import Command, Context, HelpFormatter
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer._click.formatting import wrap_text
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer._param_types import coerce_cli_path

from videonet_protocol.adapters.check import installed, method_problems

__all__ = [
    "Command",
    "Context",
    "NoArgsIsHelpError",
    "UsageError",
    "WordsContext",
    "plain_help",
    "problems",
    "quick_coercion",
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


def first_sentence(help_text: str) -> str | None:
    """A command's line in its group's list, when its help is Japanese: the first sentence,
    whole. Click shortens the help word by word, at spaces, to "...": Japanese puts none
    between words, so a command's line came out as "..." alone or cut at the space inside a
    parenthesis. None (click's own shortening) for help whose sentences end in ".", English
    and Korean."""
    paragraph = help_text.strip().split("\n\n", 1)[0]
    end = paragraph.find("。")
    if end == -1:
        return None
    return " ".join(paragraph[: end + 1].split())


def plain_help(command: Command) -> Command:
    """Make every option's help show a readable value label, every argument its name alone,
    and no "(dynamic)" default, throughout the tree under ``command``; help and usage lines
    in the process's language (`WordsContext`)."""
    for child in (getattr(command, "commands", None) or {}).values():
        plain_help(child)
    command.context_class = WordsContext
    if command.short_help is None and command.help:
        command.short_help = first_sentence(command.help)
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


# What pydantic's lax mode turns into the same int or float as Python does: plain digits only
# (pydantic also takes "1_000", " 7 ", "7.0" for an int; those go to typer's adapter).
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_NOT_QUICK = object()


def _plain(annotation: Any) -> bool:
    return annotation in (str, int, float, bool) or (
        isinstance(annotation, type) and issubclass(annotation, Path)
    )


def _number(annotation: Any, value: Any) -> int | float | None:
    kind = type(value)
    if annotation is int:
        if kind is int:
            return value  # type: ignore[no-any-return]
        return int(value) if kind is str and _INT.fullmatch(value) else None
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int or (kind is str and _FLOAT.fullmatch(value)):
        return float(value)
    return None


def _quick_value(annotation: Any, value: Any, param: Any, ctx: Context) -> Any:
    """``value`` as typer's adapter would make it, or _NOT_QUICK for that adapter to decide."""
    kind = type(value)
    if annotation is str:
        return value if kind is str else _NOT_QUICK
    if annotation is bool:  # a flag's value is a bool; a string from the environment is not
        return value if kind is bool else _NOT_QUICK
    if annotation in (int, float):
        number = _number(annotation, value)
        info = param.type_descriptor.parameter_info
        if number is None or (info.min is not None and number < info.min):
            return _NOT_QUICK  # out of range: typer's adapter says why
        return number if info.max is None or number <= info.max else _NOT_QUICK
    # A path: typer's own checks (exists, readable…), given the Path pydantic would make.
    if kind is str and value and "\0" not in value:
        value = annotation(value)
    if not isinstance(value, annotation):
        return _NOT_QUICK
    info = param.type_descriptor.parameter_info
    if _unchecked(info):  # typer would only stat it (1,000 files to send: 1,000 stats)
        return value
    return coerce_cli_path(value, info, path_type=annotation, param=param, ctx=ctx)


def _unchecked(info: Any) -> bool:
    """Whether typer's path checks have nothing to check for a parameter: its value is the
    path as given (a command that checks its paths itself asks for none)."""
    return not (
        info.exists
        or not info.file_okay
        or not info.dir_okay
        or info.readable
        or info.writable
        or info.resolve_path
    )


@dataclass(frozen=True)
class _QuickParam(RuntimeParam):
    """Plain values converted here; the rest by the RuntimeParam typer builds (pydantic)."""

    item: Any  # the annotation of one value (of the list's items, when ``listed``)
    listed: bool

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        if self.listed:
            if isinstance(value, (list, tuple)):
                items = [_quick_value(self.item, v, param, ctx) for v in value]
                if all(item is not _NOT_QUICK for item in items):
                    return items
        else:
            done = _quick_value(self.item, value, param, ctx)
            if done is not _NOT_QUICK:
                return done
        full = build_runtime_param(param.type_descriptor)
        return full._coerce_value(value, param=param, ctx=ctx)


def _quick_param(descriptor: TypeDescriptor) -> _QuickParam | None:
    info = descriptor.parameter_info
    if descriptor.file_annotation is not None or info.parser is not None or info.clamp:
        return None
    annotation = descriptor.annotation
    listed = getattr(annotation, "__origin__", None) is list
    item = annotation.__args__[0] if listed else annotation
    if not _plain(item):
        return None
    if isinstance(item, type) and issubclass(item, Path) and info.path_type is not None:
        return None
    return _QuickParam(info, annotation, item, listed)


def quick_coercion(command: Command, parent: Context | None = None, name: str = "") -> Command:
    """Give every parameter of a plain type (str, int, float, bool, a Path, a list of one) in
    the tree under ``command`` the converter above, --help included; typer keeps the others."""
    # The context a run makes for this command (its settings, its parent's help option names):
    # --help is made once per command from it, and cached.
    ctx = Context(command, info_name=name, parent=parent, **command.context_settings)
    for child_name, child in (getattr(command, "commands", None) or {}).items():
        quick_coercion(child, ctx, child_name)
    for param in [*command.params, command.get_help_option(ctx)]:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", True) is not None:
            continue
        quick = _quick_param(descriptor)
        if quick is not None:
            param._runtime_param = quick  # type: ignore[union-attr]
    return command


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
    for name in ("_runtime_param", "type_descriptor"):
        if not hasattr(option, name):
            found.append(f"{where}: a parameter's {name} is gone")
    fields = tuple(getattr(RuntimeParam, "__dataclass_fields__", {}))
    if fields != ("parameter_info", "annotation"):
        found.append(f"{where}: RuntimeParam's fields are {fields}, not the two used here")
    found += method_problems(DISTRIBUTION, RuntimeParam, "_coerce_value", ("value", "param", "ctx"))
    quick = _quick_param(option.type_descriptor) if hasattr(option, "type_descriptor") else None
    if quick is None or quick.coerce("3", param=cast(Any, option), ctx=ctx) != 3:
        found.append(f"{where}: an int option is not converted by quick_coercion")
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
