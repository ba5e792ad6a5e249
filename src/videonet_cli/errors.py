"""The CLI's errors, and the one place that turns them into an exit code and one red line.

Hierarchy::

    CliError (exit 1)               a failure the user can read about in one line
    ├── MismatchError (exit 1)      hashes or sizes differ
    ├── IncompleteError (exit 1)    a transfer stopped early; running again resumes it
    ├── UsageError (exit 2)         the command line or an input file is wrong
    ├── AuthError (exit 3)          not logged in, bad credentials, forbidden
    ├── NotFoundError (exit 4)      a room, user, file or endpoint does not exist
    └── UnreachableError (exit 5)   the daemon (or model endpoint) cannot be reached

Each class's docstring is its default message. Commands raise these; `main.main` catches them.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in docs/exit-codes.md."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    UNREACHABLE = 5
    INTERRUPTED = 130


class CliError(Exception):
    """The command failed."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "error").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class MismatchError(CliError):
    """The files differ."""


class IncompleteError(CliError):
    """The transfer stopped before the end; run the same command again to resume."""


class UsageError(CliError):
    """The command line is not valid."""

    exit_code = ExitCode.USAGE


class AuthError(CliError):
    """Not logged in: run `videonet login` first (or set VIDEONET_TOKEN)."""

    exit_code = ExitCode.AUTH


class NotFoundError(CliError):
    """Not found."""

    exit_code = ExitCode.NOT_FOUND


class UnreachableError(CliError):
    """The daemon cannot be reached."""

    exit_code = ExitCode.UNREACHABLE


class ApiError(CliError):
    """The daemon refused the request."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.exit_code = exit_code_for_status(status)


def exit_code_for_status(status: int) -> ExitCode:
    """Map an HTTP status from the daemon to the CLI's exit code."""
    if status in (401, 403):
        return ExitCode.AUTH
    if status == 404:
        return ExitCode.NOT_FOUND
    return ExitCode.FAILURE
