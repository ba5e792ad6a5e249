"""Showing transfers: Rich bars on a terminal, JSON lines for scripts, or nothing; the results."""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from videonet_cli.config import ENV_RESUME_WAIT
from videonet_cli.i18n import N_, _, ngettext
from videonet_cli.render.console import (
    err_console,
    info,
    is_yes,
    notice,
    print_json,
    print_json_line,
    print_json_lines,
)
from videonet_cli.transfer.files import local_clock, shown_wait
from videonet_cli.transfer.said import plain
from videonet_protocol.protocol import BatchKind

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from videonet_cli.transfer.inbox import Listed
    from videonet_cli.transfer.outcomes import ReceiveOutcome, SendOutcome

Mode = Literal["bars", "json", "quiet"]

# How far the sender's identity is trusted (identity.model.signer): English in --json, these
# words on the terminal.
IDENTITY_WORDS = {"pinned": N_("pinned"), "verified": N_("verified"), "own": N_("own")}


def trust_word(identity: object) -> str:
    """``pinned``/``verified``/``own`` in the user's language (anything else as it came)."""
    word = IDENTITY_WORDS.get(str(identity))
    return _(word) if word else str(identity)


def choose_mode(json_out: bool, no_progress: bool) -> Mode:
    if json_out:
        return "json"
    if no_progress or not sys.stderr.isatty():
        return "quiet"
    return "bars"


class TransferView:
    """The `Reporter` for the transfer cores; use as a context manager around the transfer."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self.room = ""
        # `receive`: the options a run that resumes it needs (set by the command).
        self.again_args: tuple[str, ...] = ()
        self.code = False  # `send --code`: the receiver needs --code too
        # The file being moved and how far it got, for the line Ctrl-C prints.
        self.current: tuple[str, int, int] | None = None
        self.current_kind: str | None = None  # a batch's BatchKind; None for a single file

    def __enter__(self) -> Self:
        if self.mode == "bars":  # Rich only for the bars (a --json run never imports it)
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}", markup=False),  # a file name, not markup
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err_console(),
            )
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        name = str(event.get("name", ""))
        if kind == "joined" or (kind == "listening" and not event.get("every_room")):
            self.room = str(event["room"])
        elif kind == "offer":
            self.current = (name, int(event.get("resumed_from") or 0), int(event["bytes"]))
            self.current_kind = event.get("kind")
        elif kind == "progress" and self.current and self.current[0] == name:
            self.current = (name, int(event["bytes"]), self.current[2])
        elif kind == "result":
            self.current = None
        if self.mode == "json":
            print_json_line(plain(event))
            return
        if event.get("event") == "skipped":  # shown even without progress bars: it is a warning
            notice(_("Skipped {name}: {reason}").format(name=event["name"], reason=event["reason"]))
            return
        if kind == "code":  # shown even without progress bars: the other side needs it
            self.code = True
            notice(self._code_line(event))  # one line: the other side copies its command
            return
        if kind in ("offer_skipped", "sender_stopped", "sender_resumed"):  # always: warnings
            notice(self._receive_line(event))
            return
        if kind == "trust_notice":  # one line: a new device, a device skipped and why
            notice(event["line"])
            return
        if kind == "key_refused":  # a warning too: that device cannot decrypt the file
            notice(
                _(
                    "Not sending the file key to a device of {user} ({fingerprint}, {status}): "
                    "compare fingerprints, then `videonet keys trust {user} FINGERPRINT`"
                ).format(
                    user=event["user"], fingerprint=event["fingerprint"], status=event["status"]
                )
            )
            return
        if self._progress is None:
            return
        console = self._progress.console

        def say(line: str) -> None:
            console.print(line, highlight=False, markup=False, soft_wrap=True)

        if kind == "offer":
            offset = int(event.get("resumed_from") or 0)
            if offset:
                say(
                    _("{name}: resuming at {done} of {total}").format(
                        name=name, done=human(offset), total=human(int(event["bytes"]))
                    )
                )
            files = event.get("files")
            # Starting at the offset, so the speed counts only the bytes moved in this run.
            task = self._progress.add_task(
                ngettext("{name} ({n} file)", "{name} ({n} files)", int(files)).format(
                    name=name, n=files
                )
                if files
                else name,
                total=event.get("bytes") or None,
                completed=offset,
            )
            self._tasks[name] = task
        elif kind == "progress" and name in self._tasks:
            self._progress.update(self._tasks[name], completed=event["bytes"])
        elif kind == "listening":
            sender = event.get("from")
            rooms = event.get("rooms") or [event["room"]]
            if event.get("every_room") and len(rooms) > 1:
                line = (
                    _("Waiting for files from {user} addressed to you in {rooms}…")
                    if sender
                    else _("Waiting for files addressed to you in {rooms}…")
                )
                say(line.format(user=sender, rooms=", ".join(rooms)))
            else:
                line = (
                    _("Waiting for files from {user} in {room}…")
                    if sender
                    else _("Waiting for files in {room}…")
                )
                say(line.format(user=sender, room=event["room"]))
        elif kind == "waiting" and event.get("reason") == "interrupted":
            say(
                _(
                    "{name} from {sender} is interrupted at {done} of {total}: it arrives when "
                    "{sender} runs the same send again"
                ).format(
                    name=name,
                    sender=event.get("sender"),
                    done=human(int(event.get("uploaded") or 0)),
                    total=human(int(event.get("bytes") or 0)),
                )
            )
        elif kind == "uploaded":
            say(self._uploaded_line(event))
        elif kind == "key_sent":
            say(
                _("Sent the file key to a device of {user} that appeared after the offer.").format(
                    user=event["user"]
                )
            )
        elif kind == "renamed":
            say(
                _("The offered name {offered} was changed to {name}.").format(
                    offered=repr(event["offered"]), name=repr(event["name"])
                )
            )
        elif kind == "code_seek":
            say(
                _("Looking for the sender of code {nameplate}-… in {room}…").format(
                    nameplate=event["nameplate"], room=event.get("room")
                )
            )
        elif kind == "code_ok":
            say(
                _("Code verified with {user}: the file key came through the code.").format(
                    user=event["sender"]
                )
            )

    def _code_line(self, event: dict[str, Any]) -> str:
        code = event["code"]
        room = shlex.quote(self.room) if self.room else "ROOM"
        return _(
            "Code for {name}: {code}  (on the other side: videonet receive {room} --code {code})"
        ).format(name=event["name"], code=code, room=room)

    def _receive_line(self, event: dict[str, Any]) -> str:
        name, sender = event.get("name"), event.get("sender")
        if event["event"] == "offer_skipped":
            return _("Skipped {name} from {sender} (in {room}): {reason}").format(
                name=name, sender=sender, room=event.get("room"), reason=event.get("reason")
            )
        if event["event"] == "sender_resumed":
            return _("{name}: {sender} resumed the send; going on from {done}").format(
                name=name, sender=sender, done=human(event["received"])
            )
        return _(
            "{name}: {sender} stopped sending at {done} of {total}; waiting up to {wait} "
            "for the send to resume ({env} sets how long)"
        ).format(
            name=name,
            sender=sender,
            done=human(int(event["received"])),
            total=human(int(event["bytes"])),
            wait=shown_wait(float(event["wait"])),
            env=ENV_RESUME_WAIT,
        )

    def _uploaded_line(self, event: dict[str, Any]) -> str:
        name, listeners = event["name"], event.get("listeners") or []
        receive = f"`videonet receive {shlex.quote(self.room)}" + (" --code`" if self.code else "`")
        if self.code and event.get("wait", True):
            return _("{name}: uploaded; waiting for the one with the code to run {command}").format(
                name=name, command=receive
            )
        if not event.get("wait", True):
            until = local_clock(str(event.get("available_until", "")))
            return _(
                "{name}: uploaded, not yet received; others can run {command} until {until}"
            ).format(name=name, command=receive, until=until)
        if listeners:
            return _("{name}: uploaded; waiting for {users} to verify it").format(
                name=name, users=", ".join(listeners)
            )
        return _(
            "{name}: uploaded; nobody is receiving yet: the others should run {command}"
        ).format(name=name, command=receive)

    async def ask(self, offer: dict[str, Any]) -> bool:
        """The receive prompt: who offers what, how big; [y/N] (y, yes or the language's own
        yes takes it; anything else is no)."""
        from rich.text import Text

        if self._progress is not None:
            self._progress.stop()  # a live display would redraw over the question
        try:
            err_console().print(
                Text(
                    _(
                        "{sender} (device {device}, identity {identity}) offers {what}. "
                        "Accept? [y/N] "
                    ).format(
                        sender=offer.get("sender_name"),
                        device=offer.get("sender_device"),
                        identity=trust_word(offer.get("sender_identity")),
                        what=_offered(offer),
                    )
                ),
                end="",
            )
            answer = await _read_line()
        finally:
            if self._progress is not None:
                self._progress.start()
        return is_yes(answer)

    def interrupted_hint(self, command: str) -> str:
        """The one line Ctrl-C prints: how far the current file got and how to go on."""
        words = ["videonet", command, *([self.room] if self.room else [])]
        if command == "receive":
            words += self.again_args
        if self.current is None:
            return _("interrupted")
        name, done, total = self.current
        if command == "send":
            return _(
                "interrupted: {name} at {done} of {total}; run the same `videonet send` again "
                "to resume where the daemon's copy ends"
            ).format(name=name, done=human(done), total=human(total))
        kept = f"{name}.part"
        if self.current_kind == BatchKind.DIRECTORY:
            kept = f".{name}.part/"
        elif self.current_kind == BatchKind.FILES:
            return _(
                "interrupted: {name} at {done} of {total}, kept in the .part files; run "
                "`{command}` again to resume"
            ).format(name=name, done=human(done), total=human(total), command=shlex.join(words))
        return _(
            "interrupted: {name} at {done} of {total}, kept in {kept}; run `{command}` again "
            "to resume"
        ).format(
            name=name, done=human(done), total=human(total), kept=kept, command=shlex.join(words)
        )

    def results(self, items: list[dict[str, Any]]) -> None:
        """The final result of each file (JSON mode prints them as lines, in one write)."""
        if self.mode == "json":
            print_json_lines(items)


def _offered(offer: dict[str, Any]) -> str:
    """What an offer holds, for the prompt: a file, several files, or a directory."""
    name, size = offer.get("name"), human(int(offer.get("size") or 0))
    count = int(offer.get("file_count") or 1)
    if offer.get("batch_kind") == BatchKind.DIRECTORY:
        return ngettext(
            "the directory {name}/ ({n} file, {size})",
            "the directory {name}/ ({n} files, {size})",
            count,
        ).format(name=name, n=count, size=size)
    if offer.get("batch_kind") == BatchKind.FILES:
        return ngettext(
            "{n} file: {name} and {more} more ({size})",
            "{n} files: {name} and {more} more ({size})",
            count,
        ).format(n=count, name=name, more=count - 1, size=size)
    return _("{name} ({size})").format(name=name, size=size)


async def _read_line() -> str:
    """One line from the terminal without blocking the loop (the socket keeps its heartbeat,
    and Ctrl-C is not stuck behind a thread blocked in input())."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not line.done():
            line.set_result(os.read(fd, 4096).decode(errors="replace"))

    loop.add_reader(fd, readable)
    try:
        return await line
    finally:
        loop.remove_reader(fd)


def human(nbytes: int) -> str:
    """A size for people: 1000-based, one decimal (as the speeds are in MB/s)."""
    size = float(nbytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{nbytes} B"


# A batch with more files than this is shown as one line.
BATCH_LINES_MAX = 10


def _large_batches(
    outcomes: Sequence[Any], one_line: Callable[[list[Any]], bool]
) -> tuple[list[Any], dict[str, list[Any]]]:
    """The outcomes to show one by one, and the large batches to show as one line each (those
    for which `one_line` holds: a failure is shown file by file)."""
    by_batch: dict[str, list[Any]] = {}
    for outcome in outcomes:
        if outcome.batch is not None:
            by_batch.setdefault(outcome.batch, []).append(outcome)
    large = {n: g for n, g in by_batch.items() if len(g) > BATCH_LINES_MAX and one_line(g)}
    return [o for o in outcomes if o.batch not in large], large


def _batch_head(name: str, group: list[Any]) -> str:
    is_dir = all(o.name.startswith(name + "/") for o in group)
    size = human(sum(o.size for o in group))
    if is_dir:
        return _("{name}/: {n} files, {size}").format(name=name, n=len(group), size=size)
    return _("{name} and {more} more: {n} files, {size}").format(
        name=name, more=len(group) - 1, n=len(group), size=size
    )


def _batch_speed(group: list[Any]) -> str:
    """The batch's rate: the bytes moved in this run over the time spent moving them."""
    moved = sum(o.size - o.resumed_from for o in group)
    moving = sum(o.moving_seconds for o in group)
    return f"{moved / 1e6 / moving:.1f} MB/s" if moving > 0 and moved else ""


def _verified_line(name: str, group: list[Any], sender: str = "") -> str:
    seconds = group[0].seconds  # the whole batch's, from offer to verdict
    per_second = _("{n} files/s").format(n=f"{len(group) / seconds:.0f}") if seconds > 0 else ""
    rates = ", ".join(r for r in (_batch_speed(group), per_second) if r)
    head = _batch_head(name, group)
    line = (
        _("✓ {batch} from {sender}, verified").format(batch=head, sender=sender)
        if sender
        else _("✓ {batch}, verified").format(batch=head)
    )
    return line + (f" ({rates})" if rates else "")


def _unreceived(outcome: SendOutcome) -> bool:
    return not outcome.waited and not outcome.verdicts


def show_sent(outcomes: Sequence[SendOutcome], room: str) -> None:
    """One line per file sent (a large batch: one line): its hash and who verified it (or, with
    --no-wait and nobody yet, until when the others can take it)."""
    outcomes, large = _large_batches(
        outcomes, lambda g: all(o.ok for o in g) or all(_unreceived(o) for o in g)
    )
    for name, group in large.items():
        if not _unreceived(group[0]):
            info(_verified_line(name, group))
            continue
        speed = _batch_speed(group)
        info(
            _(
                "↑ {batch} uploaded, not yet received{speed}; others can run {command} until "
                "{until}"
            ).format(
                batch=_batch_head(name, group),
                speed=f" ({speed})" if speed else "",
                command=f"`videonet receive {shlex.quote(room)}`",
                until=local_clock(group[0].available_until),
            )
        )
    for outcome in outcomes:
        rate = outcome.as_dict()["mb_per_s"]
        speed = f" ({rate} MB/s)" if rate else ""
        head = f"{outcome.name}: {human(outcome.size)} sha256 {outcome.sha256[:16]}…"
        if _unreceived(outcome):
            until = local_clock(outcome.available_until)
            info(
                _(
                    "↑ {file} uploaded, not yet received{speed}; others can run {command} "
                    "until {until}"
                ).format(
                    file=head,
                    speed=speed,
                    command=f"`videonet receive {shlex.quote(room)}`",
                    until=until,
                )
            )
            continue
        who = ", ".join(v.username for v in outcome.verdicts if v.ok)
        mark = "✓" if outcome.ok else "✗"
        line = (
            _("{mark} {file} verified by {users}{speed}")
            if who
            else _("{mark} {file} verified by nobody{speed}")
        )
        info(line.format(mark=mark, file=head, users=who, speed=speed))


def show_received(outcomes: Sequence[ReceiveOutcome]) -> None:
    """One line per file received and verified (a large batch: one line; the failures become
    the error line)."""
    outcomes, large = _large_batches(outcomes, lambda g: all(o.ok for o in g))
    for name, group in large.items():
        info(_verified_line(name, group, _from(group[0])))
    for outcome in outcomes:
        if outcome.declined:
            info(
                _("✗ declined {name} from {sender} (device {device}, identity {identity})").format(
                    name=outcome.name,
                    sender=outcome.sender,
                    device=outcome.device,
                    identity=trust_word(outcome.identity),
                )
            )
        if outcome.ok:
            rate = outcome.as_dict()["mb_per_s"]
            info(
                _(
                    "✓ {path}: {size} from {sender} (device {device}, identity {identity}), "
                    "sha256 {sha256}… verified{speed}"
                ).format(
                    path=outcome.path,
                    size=human(outcome.size),
                    sender=outcome.sender,
                    device=outcome.device,
                    identity=trust_word(outcome.identity),
                    sha256=outcome.sha256[:16],
                    speed=f" ({rate} MB/s)" if rate else "",
                )
            )


def show_pending(listed: Sequence[Listed], json_out: bool) -> None:
    """`receive --list`: one line per pending offer, newest first (JSON: one object each)."""
    if json_out:
        print_json_lines(item.as_dict() for item in listed)
        return
    if not listed:
        info(_("No offers are waiting for you."))
        return
    for item in listed:
        what = item.name
        if item.kind == BatchKind.DIRECTORY:
            what = ngettext("{name}/ ({n} file)", "{name}/ ({n} files)", item.files).format(
                name=item.name, n=item.files
            )
        elif item.files > 1:
            what = _("{name} and {more} more").format(name=item.name, more=item.files - 1)
        notes = []
        if item.problem:
            notes.append(_("not taken: {problem}").format(problem=item.problem))
        elif not item.for_you:
            notes.append(_("not addressed to you"))
        if item.state == "interrupted":
            notes.append(_("interrupted: the sender has to resume it"))
        note = f"  [{'; '.join(notes)}]" if notes else ""
        info(
            f"{local_clock(item.offered_at)}  {item.room}  {item.sender}: {what}, "
            f"{human(item.size)}{note}"
        )


def _from(outcome: ReceiveOutcome) -> str:
    """'alice (device laptop-2, identity pinned)' (or 'verified', 'own'): which device signed
    and how far its identity is trusted, from the checked header and this installation's pins
    (identity.model.signer); the lines above say it in their own words."""
    return _("{sender} (device {device}, identity {identity})").format(
        sender=outcome.sender, device=outcome.device, identity=trust_word(outcome.identity)
    )


def show_comparison(result: dict[str, Any], json_out: bool) -> None:
    """`verify`: both files' hashes and sizes (the verdict line comes after the check)."""
    if json_out:
        print_json(result)
        return
    from rich.cells import cell_len, set_cell_size

    labels = {"original": _("original"), "received": _("received")}
    width = max(9, *(cell_len(label) for label in labels.values()))
    for key, label in labels.items():
        item = result[key]
        info(
            f"{set_cell_size(label, width)} {item['sha256']}  {human(item['size']):>9}  "
            f"{item['path']}"
        )
