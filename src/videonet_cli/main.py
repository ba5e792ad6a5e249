"""The ``videonet`` command: global options, the command groups, and the one error dispatcher."""

from __future__ import annotations

import copy
import gc
import os
import re
import sys
from dataclasses import dataclass

from videonet_cli import config, i18n
from videonet_cli.i18n import _

# Before typer and the commands are imported: they look their words up when imported.
i18n.settle(saved=config.saved_language())

import typer

from videonet_cli import __version__
from videonet_cli.commands import (
    analyze,
    auth,
    call,
    chat,
    config_cmd,
    devices,
    invites,
    join,
    keys,
    rooms,
    transfer,
)
from videonet_cli.config import ENV_INSECURE, ENV_SERVER, debug_enabled
from videonet_cli.errors import CliError, ExitCode
from videonet_cli.render.console import error_line
from videonet_protocol.adapters.typer import Command, plain_help, quick_coercion
from videonet_protocol.command_line import exit_without_teardown, run_click

app = typer.Typer(
    name="videonet",
    help=_("VideoNet: rooms, chat, verified file transfer, calls and video analysis."),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SERVER_HELP = _("Daemon URL (default: the saved `server`, then http://127.0.0.1:7701).")
INSECURE_HELP = _("Allow plain http:// to a host that is not this machine.")


@dataclass
class State:
    """What the global options decide, handed to every command through ``ctx.obj``."""

    server_option: str | None = None
    insecure: bool = False


# The program's name and a number: the same in every language (scripts read it).
VERSION_LINE = "videonet {version}"


def _version(value: bool) -> None:
    if value:
        typer.echo(VERSION_LINE.format(version=__version__))
        raise typer.Exit()


@app.callback(help=_("VideoNet: rooms, chat, verified file transfer, calls and video analysis."))
def root(
    ctx: typer.Context,
    server: str | None = typer.Option(
        None,
        "--server",
        envvar=ENV_SERVER,
        show_envvar=True,
        help=SERVER_HELP,
        metavar="URL",
    ),
    insecure: bool = typer.Option(
        False, "--insecure", envvar=ENV_INSECURE, show_envvar=True, help=INSECURE_HELP
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help=_("Print the version and exit.")
    ),
) -> None:
    """The global options, for every command through ``ctx.obj``.

    --server and --insecure may also follow the command: videonet rooms list --server URL
    (`hoist_global_options`).
    """
    ctx.obj = State(server_option=server, insecure=insecure)


auth.register_commands(app)
app.add_typer(invites.app, name="invite")
join.register_commands(app)
app.add_typer(rooms.app, name="rooms")
app.add_typer(keys.app, name="keys")
app.add_typer(devices.app, name="devices")
transfer.register_commands(app)
analyze.register_commands(app)
chat.register_commands(app)
call.register_commands(app)
app.add_typer(config_cmd.app, name="config")


GLOBAL_FLAGS = ("--insecure",)
GLOBAL_VALUED = ("--server",)


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move --server/--insecure given after the command in front of it, as gh accepts them.

    Scanning stops at ``--``; a global option's name as another option's value (``--send
    --server``) would be taken for the option, a price worth the familiar command line.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in GLOBAL_FLAGS or any(arg.startswith(f"{name}=") for name in GLOBAL_VALUED):
            front.append(arg)
        elif arg in GLOBAL_VALUED and i + 1 < len(argv):
            front.extend(argv[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


# `send … --code` with no code makes one up. Typer has no option with an optional value, so a
# `--code` not followed by something shaped like a code (digits, then "-") gets an empty one.
OPTIONAL_VALUED = ("--code",)
_CODE_SHAPED = re.compile(r"^[0-9]+-")


def give_optional_values(argv: list[str]) -> list[str]:
    """``--code`` alone (last, or before another option, a file or a room) as ``--code=``."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return out + argv[i:]
        following = argv[i + 1] if i + 1 < len(argv) else ""
        if arg in OPTIONAL_VALUED and not _CODE_SHAPED.match(following.strip()):
            out.append(f"{arg}=")
        else:
            out.append(arg)
    return out


def _json_default() -> bool:
    from videonet_cli.config import json_by_default

    return json_by_default()


def _json_from_config(command: Command) -> None:
    """`videonet config set output json` makes --json the default of every command."""
    sub = getattr(command, "commands", None)
    for child in (sub or {}).values():
        _json_from_config(child)
    for param in command.params:
        if param.name == "json_out":
            param.default = _json_default


def named_command(argv: list[str]) -> str | None:
    """The command or group that ``argv`` (global options in front) runs, if it names one.

    "" for ``--version`` (the root alone answers it). None for anything that needs the whole
    tree: no command, ``--help``, a misspelt name (its error suggests the close ones), shell
    completion.
    """
    if any(key.endswith("_COMPLETE") and key.startswith("_") for key in os.environ):
        return None  # typer's completion: the words come from the environment, not argv
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in GLOBAL_VALUED:
            i += 2
        elif arg in GLOBAL_FLAGS or any(arg.startswith(f"{name}=") for name in GLOBAL_VALUED):
            i += 1
        elif arg == "--version":
            return ""
        elif arg.startswith("-"):
            return None
        else:
            return arg if arg in _command_names() else None
    return None


def _command_name(info: typer.models.CommandInfo) -> str:
    """The name typer gives a command (its own rule: the function's name, `_` as `-`)."""
    if info.name:
        return info.name
    return typer.main.get_command_name(getattr(info.callback, "__name__", ""))


def _command_names() -> set[str]:
    names = {group.name for group in app.registered_groups if group.name}
    return names | {_command_name(info) for info in app.registered_commands}


def _only(name: str) -> typer.Typer:
    """``app`` with one command or group: the same root, options and words."""
    narrowed = copy.copy(app)
    narrowed.registered_commands = [
        info for info in app.registered_commands if _command_name(info) == name
    ]
    narrowed.registered_groups = [group for group in app.registered_groups if group.name == name]
    return narrowed


def build_command(argv: list[str] | None = None) -> Command:
    """The click command tree of ``videonet``, as run, completed and documented.

    With ``argv`` that names one command, only that command's branch: building the tree's
    ~60 commands and their options took each run 15-30 ms of CPU, a tenth of a send's start
    (docs/performance.md, "Start-up"); what the command does and says is the same.
    """
    name = named_command(argv) if argv is not None else None
    command = typer.main.get_command(app if name is None else _only(name))
    _json_from_config(command)
    return quick_coercion(plain_help(command))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turn every error into one red line and an exit code."""
    process = argv is None  # the `videonet` process itself, not a caller importing this module
    if process:
        # No cycle collection while the command's modules are imported (they make no garbage
        # worth it); commands.common.run freezes what was imported and turns it back on.
        gc.disable()
    args = give_optional_values(hoist_global_options(sys.argv[1:] if argv is None else argv))
    code = run_click(
        build_command(args),
        "videonet",
        args,
        on_error=_cli_error,
        print_error=error_line,
    )
    if process:
        exit_without_teardown(code)
    sys.exit(code)


def _cli_error(exc: BaseException) -> int | None:
    """The exit code for the CLI's own errors (None: not one of ours)."""
    if isinstance(exc, CliError):
        if debug_enabled():
            raise exc
        error_line(exc.message)
        return int(exc.exit_code)
    return None


__all__ = ["ExitCode", "app", "build_command", "main"]
