"""How both commands (``videonet`` and ``videonet-daemon``) run their click tree.

One place decides what a user sees when the command line is wrong or the output goes away:

- a usage error (unknown option, missing argument, bad value) is ONE line,
  ``Error: <what> (see `<command> --help`)``, and exit 2, as docs/exit-codes.md says;
- Ctrl-C is ``Error: interrupted`` and exit 130;
- a closed standard output (``… | head``) ends the command quietly with exit 1 (as typer does
  for its own writes), never with a BrokenPipeError traceback;
- anything unexpected is one line and exit 1 (the traceback only with ``VIDEONET_DEBUG=1``).

Standard library and typer only: the daemon's CLI and the user's CLI both import it.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable

import typer

# typer >= 0.29 vendors click as typer._click: its commands and usage errors are these classes.
from typer._click import Command, Context
from typer._click.exceptions import NoArgsIsHelpError, UsageError

USAGE_EXIT = 2
INTERRUPTED_EXIT = 130
CLOSED_OUTPUT_EXIT = 1
DEBUG_ENV = "VIDEONET_DEBUG"


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0", "false", "no")


def plain_error(message: str) -> None:
    """``Error: …`` on standard error, red on a terminal."""
    typer.secho(f"Error: {message}", fg="red", err=True)


def usage_line(exc: UsageError) -> str:
    """A click usage error as one line naming the help to read."""
    message = exc.format_message().strip().replace("\n", " ").rstrip(".")
    path = exc.ctx.command_path if exc.ctx is not None else ""
    return f"{message} (see `{path} --help`)" if path else message


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


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


def run_click(
    command: Command,
    prog_name: str,
    argv: list[str] | None = None,
    *,
    on_error: Callable[[BaseException], int | None] | None = None,
    print_error: Callable[[str], None] = plain_error,
) -> int:
    """Run ``command``; return the exit code. ``on_error`` maps the caller's own errors."""
    try:
        result = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except NoArgsIsHelpError as exc:
        if exc.ctx is not None:
            typer.echo(exc.ctx.get_help())
        return USAGE_EXIT
    except UsageError as exc:
        print_error(usage_line(exc))
        return USAGE_EXIT
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print_error("interrupted")
        return INTERRUPTED_EXIT
    except BrokenPipeError:
        _silence_stdout()
        return CLOSED_OUTPUT_EXIT
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
            _silence_stdout()
            return CLOSED_OUTPUT_EXIT
        code = on_error(exc) if on_error is not None else None
        if code is not None:
            return code
        if debug_enabled():
            raise
        print_error(
            f"unexpected error: {exc.__class__.__name__}: {exc} ({DEBUG_ENV}=1 for details)"
        )
        return 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return CLOSED_OUTPUT_EXIT
    if result == INTERRUPTED_EXIT:
        # Typer turns a KeyboardInterrupt that no command handled into a bare 130: still say it.
        print_error("interrupted")
    # Without standalone mode click returns the exit code of --help and friends.
    return result if isinstance(result, int) else 0
