"""Showing transfer events: Rich bars on a terminal, JSON lines for scripts, or nothing."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Literal, Self

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from videonet_cli.output import err_console, print_json_line

Mode = Literal["bars", "json", "quiet"]


def choose_mode(json_out: bool, no_progress: bool) -> Mode:
    if json_out:
        return "json"
    if no_progress or not sys.stderr.isatty():
        return "quiet"
    return "bars"


class TransferView:
    """A `Reporter` for the transfer cores; use as a context manager around the transfer."""

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
        if self._progress is None:
            return
        kind = event.get("event")
        name = str(event.get("name", ""))
        if kind == "offer":
            task = self._progress.add_task(
                name, total=event.get("bytes") or None, completed=event.get("resumed_from", 0)
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
