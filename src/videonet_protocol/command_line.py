"""How both commands (``videonet`` and ``videonet-daemon``) run their click tree.

One place decides what a user sees when the command line is wrong or the output goes away:

- a usage error (unknown option, missing argument, bad value) is ONE line,
  ``Error: <what> (see `<command> --help`)``, and exit 2, as docs/exit-codes.md says;
- Ctrl-C is ``Error: interrupted`` and exit 130;
- a closed standard output (``… | head``) ends the command quietly with exit 1 (as typer does
  for its own writes), never with a BrokenPipeError traceback;
- no standard output at all (``… >&-``) is one line and exit 1 before the command does
  anything, as coreutils say "write error" (Python starts with ``sys.stdout`` None then, and the
  command's output would vanish without a word);
- anything unexpected is one line and exit 1 (the traceback only with ``VIDEONET_DEBUG=1``).

Standard library and typer only: the daemon's CLI and the user's CLI both import it (typer's
internals through adapters/typer.py). Its words go through the stdlib's gettext, as typer's do:
the ``videonet`` CLI binds the process's domain to its catalogue, ``videonet-daemon`` speaks
English to operators.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from collections.abc import Callable
from gettext import gettext

import typer

from videonet_protocol.adapters.typer import (
    Command,
    NoArgsIsHelpError,
    UsageError,
    usage_message,
)

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
    message = usage_message(exc.format_message()).replace("\n", " ").rstrip(".。")
    path = exc.ctx.command_path if exc.ctx is not None else ""
    if not path:
        return message
    return gettext("{message} (see `{command} --help`)").format(message=message, command=path)


def exit_without_teardown(code: int) -> None:
    """End the process once its command is done, without the interpreter's teardown.

    Tearing down a few hundred imported modules and a last full collection cost a short
    ``videonet`` command 0.1-0.2 s of CPU after its last line, and ``videonet-daemon serve``
    0.22 s after its shutdown (docs/performance.md, "Transfers round two" and "The suite").
    Only when this thread is the last one (nothing else may still be writing) and no profiler
    or tracer runs; output flushed and exit handlers run first (logging's among them), as a
    normal exit would. Returns when it cannot: the caller exits the usual way.
    """
    if threading.active_count() != 1 or sys.getprofile() or sys.gettrace():
        return  # another thread, or a profiler or coverage that writes its data at the end
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is None:  # started with the stream closed (`>&-`)
                return
            stream.flush()
    except (OSError, ValueError):
        return  # a closed output: let the normal exit deal with it
    import atexit

    atexit._run_exitfuncs()
    os._exit(code)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run_click(
    command: Command,
    prog_name: str,
    argv: list[str] | None = None,
    *,
    on_error: Callable[[BaseException], int | None] | None = None,
    print_error: Callable[[str], None] = plain_error,
) -> int:
    """Run ``command``; return the exit code. ``on_error`` maps the caller's own errors."""
    if sys.stdout is None:
        print_error(gettext("standard output is closed: nothing was done"))
        return CLOSED_OUTPUT_EXIT
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
        print_error(gettext("interrupted"))
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
            gettext("unexpected error: {kind}: {error} ({variable}=1 for details)").format(
                kind=exc.__class__.__name__, error=exc, variable=DEBUG_ENV
            )
        )
        return 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return CLOSED_OUTPUT_EXIT
    if result == INTERRUPTED_EXIT:
        # Typer turns a KeyboardInterrupt that no command handled into a bare 130: still say it.
        print_error(gettext("interrupted"))
    # Without standalone mode click returns the exit code of --help and friends.
    return result if isinstance(result, int) else 0
