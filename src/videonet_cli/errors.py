"""The CLI's errors, and the one place that turns them into an exit code and one red line.

Hierarchy::

    CliError (exit 1)               a failure the user can read about in one line
    ├── MismatchError (exit 1)      hashes or sizes differ
    ├── IncompleteError (exit 1)    a transfer stopped early; running again resumes it
    ├── IncompleteRecording (exit 1) (calls.recording) a recording lacks media its peer announced
    ├── UsageError (exit 2)         the command line or an input file is wrong
    │   └── NotAVideoError (exit 2) (analysis.video) the clip is not a readable video
    ├── AuthError (exit 3)          not logged in, bad credentials, forbidden
    ├── NotFoundError (exit 4)      a room, user, file or endpoint does not exist
    │   └── RoomDeleted (exit 4)    (chat_events) the room was deleted while you were in it
    ├── UnreachableError (exit 5)   the daemon (or model endpoint) cannot be reached
    ├── Interrupted (exit 130)      Ctrl-C; the message says how to go on
    ├── KeyChangedError (exit 6)    a user's identity is not the one pinned here
    ├── UntrustedSenderError (exit 6) a sender's device is not certified by their identity
    ├── NotLinkedError (exit 1)     (identity) this device is not linked to its account's identity
    ├── KeyUnavailableError (exit 7) an encrypted file has no key for this device
    ├── BadCodeError (exit 8)       (crypto.pake) a one-off code exchange did not verify
    ├── IntegrityError (exit 1)     (crypto) encrypted data or a wrapped key does not verify
    │   ├── TamperedError (exit 1)  a record was changed, moved, dropped or added
    │   ├── TruncatedError (exit 1) the stream ends before its final record
    │   └── UnwrapError (exit 1)    a wrapped file key is not for this device, or was changed
    └── DaemonRefused (exit 1/3/4)  the daemon refused (its error body, HTTP or Socket.IO); the
                                    exit code comes from `EXIT_CODES`, keyed by the error code

Each class's `default` is its message (marked for the catalogue, translated when raised).
Cores raise these; `main.main` catches them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

from videonet_cli.i18n import N_, _
from videonet_protocol.protocol import ErrorCode


class ExitCode(IntEnum):
    """Process exit codes, documented in docs/exit-codes.md."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    UNREACHABLE = 5
    KEY_CHANGED = 6
    KEY_UNAVAILABLE = 7
    BAD_CODE = 8
    INTERRUPTED = 130


class CliError(Exception):
    """A failure the user reads in one line (`default` unless a message is given)."""

    default = N_("The command failed.")

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _(self.default))

    @property
    def message(self) -> str:
        return str(self.args[0])


class MismatchError(CliError):
    default = N_("The files differ.")


class IncompleteError(CliError):
    default = N_("The transfer stopped before the end; run the same command again to resume.")


class UsageError(CliError):
    default = N_("The command line is not valid.")

    exit_code = ExitCode.USAGE


class AuthError(CliError):
    default = N_("Not logged in: run `videonet login` first (or set VIDEONET_TOKEN).")

    exit_code = ExitCode.AUTH


class NotFoundError(CliError):
    default = N_("Not found.")

    exit_code = ExitCode.NOT_FOUND


class UnreachableError(CliError):
    default = N_("The daemon cannot be reached.")

    exit_code = ExitCode.UNREACHABLE


class Interrupted(CliError):
    default = N_("interrupted")

    exit_code = ExitCode.INTERRUPTED


class KeyChangedError(CliError):
    default = N_(
        "A user's identity is not the one pinned here: compare safety numbers with them "
        "(`videonet keys verify USER`), then run `videonet keys trust USER NUMBER`."
    )

    exit_code = ExitCode.KEY_CHANGED


class UntrustedSenderError(CliError):
    default = N_(
        "The sending device is not certified by the sender's pinned identity (or was "
        "revoked): nothing from it is accepted."
    )

    exit_code = ExitCode.KEY_CHANGED


class NotLinkedError(CliError):
    default = N_(
        "This device is not linked to your account's identity: run `videonet devices link` "
        "here and `videonet devices link CODE` on a device you already use, or `videonet "
        "devices restore` with your recovery key."
    )


class KeyUnavailableError(CliError):
    default = N_(
        "This file was not encrypted for this device: ask the sender to send it again while "
        "you are receiving."
    )

    exit_code = ExitCode.KEY_UNAVAILABLE


class BadCodeError(CliError):
    default = N_(
        "The code exchange failed: the code was wrong, or someone changed the messages on the"
        " way (the daemon included). Nothing was received; the code cannot be used again: the"
        " sender sends again for a new one."
    )

    exit_code = ExitCode.BAD_CODE


class IntegrityError(CliError):
    default = N_("The encrypted data does not verify: it was changed, reordered or cut short.")


class TamperedError(IntegrityError):
    default = N_("An encrypted record does not verify: it was changed, moved, dropped or added.")

    def __init__(self, index: int, where: str = "") -> None:
        if where:
            message = _(
                "encrypted record {index} ({where}) does not verify: the data was changed, "
                "reordered, cut or added to"
            ).format(index=index, where=where)
        else:
            message = _(
                "encrypted record {index} does not verify: the data was changed, reordered, "
                "cut or added to"
            ).format(index=index)
        super().__init__(message)
        self.index = index


class TruncatedError(IntegrityError):
    default = N_("The encrypted data ends before its final record: it was cut short.")


class UnwrapError(IntegrityError):
    default = N_("The file key cannot be unwrapped: it is not for this device, or it was changed.")


class DaemonRefused(CliError):
    default = N_("The daemon refused the request.")

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message or None)
        self.code = code
        self.status = status
        self.exit_code = EXIT_CODES.get(code, ExitCode.FAILURE)


# The one table from the daemon's error codes (protocol.ErrorCode) to exit codes; every code not
# listed is a plain failure (exit 1).
EXIT_CODES: Mapping[str, ExitCode] = {
    ErrorCode.UNAUTHENTICATED: ExitCode.AUTH,
    ErrorCode.INVALID_CREDENTIALS: ExitCode.AUTH,
    ErrorCode.FORBIDDEN: ExitCode.AUTH,
    ErrorCode.NOT_FOUND: ExitCode.NOT_FOUND,
}
