"""Showing transfers: Rich bars on a terminal, JSON lines for scripts, or nothing; the results."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from videonet_cli.render.console import err_console, info, print_json, print_json_line

if TYPE_CHECKING:
    from videonet_cli.transfer.outcomes import ReceiveOutcome, SendOutcome

Mode = Literal["bars", "json", "quiet"]


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

    def __enter__(self) -> Self:
        if self.mode == "bars":
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err_console,
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
        if self.mode == "json":
            print_json_line(event)
            return
        if event.get("event") == "skipped":  # shown even without progress bars: it is a warning
            err_console.print(
                f"Skipped {event['name']}: {event['reason']}", markup=False, highlight=False
            )
            return
        if self._progress is None:
            return
        kind = event.get("event")
        name = str(event.get("name", ""))
        if kind == "offer":
            files = event.get("files")
            task = self._progress.add_task(
                f"{name} ({files} files)" if files else name,
                total=event.get("bytes") or None,
                completed=event.get("resumed_from", 0),
            )
            self._tasks[name] = task
        elif kind == "progress" and name in self._tasks:
            self._progress.update(self._tasks[name], completed=event["bytes"])
        elif kind == "listening":
            self._progress.console.print(f"Waiting for files in {event['room']}…")
        elif kind == "uploaded":
            self._progress.console.print(f"{name}: uploaded, waiting for the receivers' hashes")
        elif kind == "renamed":
            self._progress.console.print(
                f"The offered name {event['offered']!r} was changed to {event['name']!r}."
            )

    def result(self, data: dict[str, Any]) -> None:
        """The final result of one file (JSON mode prints it as a line)."""
        if self.mode == "json":
            print_json_line(data)


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


def _summaries(outcomes: Sequence[Any]) -> tuple[list[Any], list[str]]:
    """The outcomes to show one by one, and one line for each large batch (all verified)."""
    by_batch: dict[str, list[Any]] = {}
    for outcome in outcomes:
        if outcome.batch is not None:
            by_batch.setdefault(outcome.batch, []).append(outcome)
    large = {
        name
        for name, group in by_batch.items()
        if len(group) > BATCH_LINES_MAX and all(o.ok for o in group)
    }
    single = [o for o in outcomes if o.batch not in large]
    lines = []
    for name in large:
        group = by_batch[name]
        total = sum(o.size for o in group)
        rate = total / 1e6 / group[0].seconds if group[0].seconds > 0 else None
        is_dir = all(o.name.startswith(name + "/") for o in group)
        label = f"{name}/" if is_dir else f"{name} and {len(group) - 1} more"
        lines.append(
            f"✓ {label}: {len(group)} files, {human(total)}, verified"
            + (f" ({rate:.1f} MB/s, {len(group) / group[0].seconds:.0f} files/s)" if rate else "")
        )
    return single, lines


def show_sent(outcomes: Sequence[SendOutcome]) -> None:
    """One line per file sent (a large batch: one line): its hash and who verified it."""
    outcomes, lines = _summaries(outcomes)
    for line in lines:
        info(line)
    for outcome in outcomes:
        who = ", ".join(v.username for v in outcome.verdicts if v.ok) or "nobody"
        mark = "✓" if outcome.ok else "✗"
        rate = outcome.as_dict()["mb_per_s"]
        info(
            f"{mark} {outcome.name}: {human(outcome.size)} sha256 {outcome.sha256[:16]}… "
            f"verified by {who}" + (f" ({rate} MB/s)" if rate else "")
        )


def show_received(outcomes: Sequence[ReceiveOutcome]) -> None:
    """One line per file received and verified (the failures become the error line)."""
    outcomes, lines = _summaries(outcomes)
    for line in lines:
        info(line)
    for outcome in outcomes:
        if outcome.ok:
            rate = outcome.as_dict()["mb_per_s"]
            info(
                f"✓ {outcome.path}: {human(outcome.size)} from {outcome.sender}, "
                f"sha256 {outcome.sha256[:16]}… verified" + (f" ({rate} MB/s)" if rate else "")
            )


def show_comparison(result: dict[str, Any], json_out: bool) -> None:
    """`verify`: both files' hashes and sizes (the verdict line comes after the check)."""
    if json_out:
        print_json(result)
        return
    for key in ("original", "received"):
        item = result[key]
        info(f"{key:9} {item['sha256']}  {human(item['size']):>9}  {item['path']}")
