"""`videonet send`, `videonet receive` and `videonet verify`."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from videonet_cli.commands import common
from videonet_cli.commands.completion import complete_member, complete_room
from videonet_cli.config import ENV_CODE, ENV_TRUST_NEW
from videonet_cli.errors import CliError, Interrupted, MismatchError, UsageError
from videonet_cli.i18n import N_, _, ngettext
from videonet_cli.render import transfer_view
from videonet_cli.render.console import info
from videonet_cli.render.transfer_view import TransferView, choose_mode
from videonet_protocol.protocol import DIRECT_ROOM_PREFIX

if TYPE_CHECKING:
    from videonet_cli.identity.trust import Confirm, FirstSeen

JsonOption = typer.Option(False, "--json", help=_("Print JSON lines: events, then one result."))
NoProgressOption = typer.Option(False, "--no-progress", help=_("No progress bars."))
RoomArgument = typer.Argument(
    ...,
    help=_("Room id or unique name; @USER: the direct room of you and USER."),
    metavar="ROOM",
    autocompletion=complete_room,
)
# The commands' help (typer shows it in the user's language).
SEND_HELP = N_(
    "Send files end-to-end encrypted to a room (or one member); exit 0 only when every\n"
    "receiver's SHA-256 matched, 6 if a recipient's identity is not the one pinned here.\n"
    "\n"
    "A member whose identity this device has not seen is shown and asked about on a terminal;\n"
    "`--to USER` accepts that member, `--trust-new` everyone; with neither and no terminal the\n"
    "send stops (exit 2) saying which to pass."
)
RECEIVE_HELP = N_(
    "Receive offered files into --out, the newest offer first; each is renamed into place\n"
    "only once its hash matched.\n"
    "\n"
    "On a terminal it shows who offers which file (or batch, or directory) and how big, and asks\n"
    "before taking it (y or yes takes it). An offer that cannot land (its name exists) is\n"
    "skipped with one line."
)
VERIFY_HELP = N_("Compare two files by size and SHA-256; exit 0 if they are the same, 1 if not.")
# readable=False: each path is checked once, by the send itself (transfer/files.check_sendable
# and the directory walk), with the command's own one-line errors; typer would stat and
# access() every one of them first.
FilesArgument = typer.Argument(
    ..., help=_("Files or directories to send."), metavar="FILE|DIR...", readable=False
)
DEFAULT_SEND_TIMEOUT = 600.0
DEFAULT_RECEIVE_TIMEOUT = 600.0


_RATE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_rate(text: str) -> int:
    """'500K', '20M', '1G' or plain bytes, per second (K/M/G are 1024-based, as in curl)."""
    value = text.strip().upper().removesuffix("B").removesuffix("/S")
    unit = value[-1:] if value[-1:] in _RATE_UNITS else ""
    number = value[: len(value) - len(unit)]
    try:
        rate = int(float(number) * _RATE_UNITS[unit])
    except ValueError as exc:
        raise UsageError(
            _("--limit-rate: {text} is not a rate like 500K or 20M").format(text=repr(text))
        ) from exc
    if rate < 1024:
        raise UsageError(_("--limit-rate must be at least 1K"))
    return rate


@contextmanager
def _ctrl_c(hint: Callable[[], str]) -> Iterator[None]:
    """Ctrl-C ends the command with one line saying how to go on (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(hint()) from None


def send(
    ctx: typer.Context,
    room: str = RoomArgument,
    files: list[Path] = FilesArgument,
    to: str | None = typer.Option(
        None,
        "--to",
        metavar="USER",
        help=_("Offer only to this member (username)."),
        autocompletion=complete_member,
    ),
    timeout: float = typer.Option(
        DEFAULT_SEND_TIMEOUT,
        "--timeout",
        min=1,
        help=_("Seconds to wait for the receivers' verdicts after the upload."),
    ),
    limit_rate: str | None = typer.Option(
        None, "--limit-rate", help=_("Upload at most this many bytes a second (e.g. 500K, 20M).")
    ),
    no_wait: bool = typer.Option(
        False,
        "--no-wait",
        help=_(
            "Exit 0 once uploaded; receivers take it later (the daemon keeps it for a while; "
            "a device that had no key at the offer then cannot decrypt it)."
        ),
    ),
    code: str | None = typer.Option(
        None,
        "--code",
        metavar="[CODE]",
        help=_(
            "Give the file key to one receiver through a one-off code (from VIDEONET_CODE, "
            "else made up), safe even from the daemon; with --to, only that member can use it. "
            "The receiver runs `receive ROOM --code`."
        ),
    ),
    trust_new: bool = typer.Option(
        False,
        "--trust-new",
        help=_(
            "Accept members whose identity this device sees for the first time without asking "
            "(also {env}=1); a changed identity still stops the send."
        ).format(env=ENV_TRUST_NEW),
    ),
    json_out: bool = JsonOption,
    no_progress: bool = NoProgressOption,
) -> None:
    """`videonet send` (its help: SEND_HELP)."""
    from videonet_cli.transfer.outcomes import SendOptions
    from videonet_cli.transfer.sender import send_files, unverified

    rate = parse_rate(limit_rate) if limit_rate else None
    if room.startswith(DIRECT_ROOM_PREFIX) and to is None:
        # `send @ben`: the direct room of you and ben, the offer addressed to ben, whom you
        # named as `--to` names a member (a first-seen identity of his is accepted).
        to = room.removeprefix(DIRECT_ROOM_PREFIX)
    one_off = None
    if code is not None:  # SPAKE2 is imported only for --code (start-up time)
        from videonet_cli.crypto.pake import new_code, parse_code

        chosen = code or os.environ.get(ENV_CODE, "")
        one_off = parse_code(chosen) if chosen else new_code()
    accepted: bool | list[str] = (
        True if trust_new or os.environ.get(ENV_TRUST_NEW) == "1" else ([to] if to else False)
    )
    options = SendOptions(
        room,
        files,
        to,
        timeout,
        rate,
        wait=not no_wait,
        code=one_off,
        trust_new=accepted,
        confirm=None if json_out else ask_about_new_identities(),
    )
    with TransferView(choose_mode(json_out, no_progress)) as view:
        with _ctrl_c(lambda: view.interrupted_hint("send")):
            outcomes = common.call(ctx, lambda api: send_files(api, options, view))
        view.results([outcome.as_dict() for outcome in outcomes])
    if not json_out:
        transfer_view.show_sent(outcomes, view.room or room)
    failures = unverified(outcomes, timeout, view.room or room)
    if failures:
        raise MismatchError(_("not verified: {failures}").format(failures="; ".join(failures)))


EveryRoomArgument = typer.Argument(
    None,
    help=_(
        "Room id or unique name, or @USER: your direct room with USER (default: every room "
        "you are in, taking only what is addressed to you)."
    ),
    metavar="ROOM",
    autocompletion=complete_room,
    show_default=False,
)


def receive(
    ctx: typer.Context,
    room: str | None = EveryRoomArgument,
    out: Path = typer.Option(Path("."), "--out", "-o", help=_("Directory to write files into.")),
    count: int = typer.Option(
        1,
        "--count",
        "-n",
        min=1,
        help=_("Files to receive before exiting (a directory counts as one)."),
    ),
    timeout: float = typer.Option(
        DEFAULT_RECEIVE_TIMEOUT, "--timeout", min=1, help=_("Seconds to wait for an offer.")
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help=_("Replace existing files (and take files declined before).")
    ),
    yes: bool = typer.Option(
        False,
        "--yes",
        "-y",
        help=_("Accept every offer without asking (needed without a terminal)."),
    ),
    from_user: str | None = typer.Option(
        None, "--from", help=_("Only take files from this member (username)."), metavar="USER"
    ),
    code: str | None = typer.Option(
        None,
        "--code",
        metavar="[CODE]",
        help=_(
            "Take the one file whose sender gave you this code (its key comes through it); "
            "without a value it is asked for without echo, or read from VIDEONET_CODE."
        ),
    ),
    list_only: bool = typer.Option(
        False, "--list", help=_("List the offers waiting for you, newest first; take none.")
    ),
    json_out: bool = JsonOption,
    no_progress: bool = NoProgressOption,
) -> None:
    """`videonet receive` (its help: RECEIVE_HELP)."""
    from videonet_cli.transfer.outcomes import ReceiveOptions
    from videonet_cli.transfer.receiver import list_offers, receive_files

    if list_only:
        listed = common.call(ctx, lambda api: list_offers(api, room, overwrite))
        transfer_view.show_pending(listed, json_out)
        return

    one_off = None
    if code is not None:
        from videonet_cli.crypto.pake import parse_code

        one_off = parse_code(code or _code_from_env_or_prompt())

    if not yes and not sys.stdin.isatty():
        raise UsageError(
            _(
                "receive asks before taking a file and there is no terminal to ask on: "
                "pass --yes to accept offers (with --from USER to take only that member's)"
            )
        )
    with TransferView(choose_mode(json_out, no_progress)) as view:
        ask = None if yes else view.ask
        view.again_args = _receive_again(out, overwrite)
        options = ReceiveOptions(
            room,
            out,
            count,
            timeout,
            overwrite,
            from_user,
            ask,
            code=one_off,
            again=view.again_args,
        )
        with _ctrl_c(lambda: view.interrupted_hint("receive")):
            outcomes = common.call(ctx, lambda api: receive_files(api, options, view))
        view.results([outcome.as_dict() for outcome in outcomes])
    if not json_out:
        transfer_view.show_received(outcomes)
    failed = [o for o in outcomes if not o.ok and not o.declined]
    if failed:
        raise CliError(
            "; ".join(_("{name}: {reason}").format(name=o.name, reason=o.reason) for o in failed)
        )


def _receive_again(out: Path, overwrite: bool) -> tuple[str, ...]:
    """The options a `videonet receive` that resumes this one needs (after ROOM)."""
    words = ("--out", str(out)) if out != Path(".") else ()
    return words + (("--overwrite",) if overwrite else ())


def _code_from_env_or_prompt() -> str:
    """`receive --code` with no value: VIDEONET_CODE, else typed without echo (a code on the
    command line is visible to every local user in `ps`)."""
    from_env = os.environ.get(ENV_CODE, "")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise UsageError(
            _("--code needs the code: set VIDEONET_CODE, or run on a terminal to type it")
        )
    import getpass

    typed = getpass.getpass(_("Code: "))
    if not typed.strip():
        raise UsageError(_("no code was typed"))
    return typed


def verify(
    ctx: typer.Context,
    original: Path = typer.Argument(..., help=_("The original file.")),
    received: Path = typer.Argument(..., help=_("The file to compare with it.")),
    remote: bool = typer.Option(
        False,
        "--remote",
        help=_(
            "Upload both files in plaintext for the daemon to hash (POST /api/video/verify). "
            "The daemon reads them: use it only for files you mean to show it. Transfers are "
            "end-to-end encrypted, so the daemon cannot verify what it relayed."
        ),
    ),
    json_out: bool = typer.Option(False, "--json", help=_("Print JSON.")),
) -> None:
    """`videonet verify` (its help: VERIFY_HELP)."""
    from videonet_cli.transfer.verify import compare_local, compare_on_daemon

    if remote:
        result = common.call(ctx, lambda api: compare_on_daemon(api, original, received))
    else:
        result = compare_local(original, received)
    transfer_view.show_comparison(result, json_out)
    if not result["match"]:
        raise MismatchError(_("the files differ"))
    if not json_out:
        info(_("✓ identical"))


def register_commands(app: typer.Typer) -> None:
    app.command("send", help=_(SEND_HELP))(send)
    app.command("receive", help=_(RECEIVE_HELP))(receive)
    app.command("verify", help=_(VERIFY_HELP))(verify)


def ask_about_new_identities() -> Confirm | None:
    """On a terminal: show each member seen for the first time with their identity's
    fingerprint and ask before anything is encrypted to them (None without a terminal)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None

    async def confirm(first_seen: list[FirstSeen]) -> bool:
        for seen in first_seen:
            info(
                _(
                    "encrypting to: {user} — first use, identity {fingerprint} (compare it "
                    "with them: videonet keys verify {user})"
                ).format(user=seen.username, fingerprint=seen.identity_fingerprint)
            )
        n = len(first_seen)
        asked = ngettext(
            "Trust this identity and send?", "Trust these {n} identities and send?", n
        ).format(n=n)
        answer: bool = await asyncio.to_thread(common.confirm, asked)
        return answer

    return confirm
