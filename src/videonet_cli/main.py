"""The ``videonet`` command: global options, the command groups, and the one error dispatcher."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import typer

from videonet_cli import __version__
from videonet_cli.commands import analyze, auth, call, chat, invites, keys, rooms, transfer
from videonet_cli.config import ENV_SERVER, debug_enabled
from videonet_cli.errors import CliError, ExitCode
from videonet_cli.render.console import error_line

app = typer.Typer(
    name="videonet",
    help="VideoNet: rooms, chat, verified file transfer, calls and video analysis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class State:
    """What the global options decide, handed to every command through ``ctx.obj``."""

    server_option: str | None = None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"videonet {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    server: str | None = typer.Option(
        None,
        "--server",
        envvar=ENV_SERVER,
        help="Daemon URL (default: saved config, then http://127.0.0.1:7701).",
        metavar="URL",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """VideoNet: rooms, chat, verified file transfer, calls and video analysis."""
    ctx.obj = State(server_option=server)


auth.register_commands(app)
app.add_typer(invites.app, name="invite")
app.add_typer(rooms.app, name="rooms")
app.add_typer(keys.app, name="keys")
transfer.register_commands(app)
analyze.register_commands(app)
chat.register_commands(app)
call.register_commands(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turn every error into one red line and an exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="videonet", standalone_mode=False)
    except CliError as exc:
        if debug_enabled():
            raise
        error_line(exc.message)
        sys.exit(int(exc.exit_code))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: bad options, missing arguments (exit 2)
        show = getattr(exc, "show", None)  # typer's usage errors print usage + hint themselves
        if callable(show):
            show()
        else:
            error_line(exc.format_message())
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        error_line("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
    except Exception as exc:
        if debug_enabled():
            raise
        error_line(
            f"unexpected error: {exc.__class__.__name__}: {exc} (VIDEONET_DEBUG=1 for details)"
        )
        sys.exit(int(ExitCode.FAILURE))
    # Without standalone mode click returns the exit code of --help and friends.
    sys.exit(result if isinstance(result, int) else 0)
