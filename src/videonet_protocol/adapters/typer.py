"""typer's internals, used here and nowhere else (both commands, so in the contract package).

- typer >= 0.29 vendors click as `typer._click`: the command tree's classes and its usage errors
  are imported from there (`Command`, `Context`, `NoArgsIsHelpError`, `UsageError`).
- `plain_help` rewrites how typer 0.29 labels values in help: it calls each parameter's
  `display_type(ctx)` and shadows the methods `_usage_display_name` and `display_type_rich`.
"""

from __future__ import annotations

import typer
from typer._click import Command, Context
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from videonet_protocol.adapters.check import installed

__all__ = ["Command", "Context", "NoArgsIsHelpError", "UsageError", "plain_help", "problems"]

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
    and no "(dynamic)" default, throughout the tree under ``command``."""
    for child in (getattr(command, "commands", None) or {}).values():
        plain_help(child)
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
    return found
