"""A blocking job in a thread of its own, stopped and waited for when its task is cancelled.

The receiver's bytes are read, opened, hashed and written in one such thread (transfer/splitter.py):
blocking reads straight into one record buffer cost less CPU than the event loop's callbacks
and fresh `bytes` per socket read (docs/performance.md, "Session 12").

A resume's check of the bytes already there (the receiver's earlier `.part` files, the sender's
files up to where the daemon's copy ends) runs in one too (`reported_in_thread`): it takes
seconds per gigabyte, and an event loop held that long stops answering the daemon's pings,
which drops the connection (VIDEONET_SOCKET_PING_INTERVAL + _TIMEOUT, 45 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from videonet_cli.transfer.throttle import PROGRESS_EVERY_SECONDS

R = TypeVar("R")


class _Stopped(Exception):
    """The job's task was cancelled: the job ends at its next report."""


async def in_thread(work: Callable[[], None], abort: Callable[[], None]) -> None:
    """Run ``work`` in a thread of its own and wait for it. If the waiting task is cancelled,
    ``abort`` is called and the thread waited for before the cancellation goes on, so nothing it
    uses is closed under it; its error, if it ends with one, is raised here."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finish(error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            work()
        except BaseException as exc:  # given to the waiting task, whatever it is
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(finish, error)

    thread = threading.Thread(target=run, name="videonet-receive", daemon=True)
    thread.start()
    try:
        await asyncio.shield(done)
    except asyncio.CancelledError:
        abort()
        while not done.done():  # a second Ctrl-C must not close what the thread still uses
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([done])
        done.exception()  # seen: the cancellation is what the caller hears of
        raise
    finally:
        # Its last step was to hand over its result: gone in a moment, and then the command
        # may end without the interpreter's teardown (exit_without_teardown: one thread left).
        thread.join()


def from_a_thread(progress: Callable[[int], None], *, at_once: bool) -> Callable[[int], None]:
    """A function a worker thread calls with its progress: ``progress`` runs on this event loop
    (call it on the loop) at most every PROGRESS_EVERY_SECONDS, the first report too unless
    ``at_once``."""
    loop = asyncio.get_running_loop()
    told = 0.0 if at_once else time.monotonic()

    def report(done: int) -> None:
        nonlocal told
        now = time.monotonic()
        if now - told >= PROGRESS_EVERY_SECONDS:
            told = now
            loop.call_soon_threadsafe(progress, done)

    return report


async def reported_in_thread(
    job: Callable[[Callable[[int], None]], R], progress: Callable[[int], None]
) -> R:
    """``job(report)`` in a thread of its own; what it reports reaches ``progress`` on the event
    loop a few times a second. Cancelled (Ctrl-C), the job stops at its next report and is
    waited for."""
    stop = threading.Event()
    to_the_loop = from_a_thread(progress, at_once=True)
    results: list[R] = []

    def report(done: int) -> None:
        if stop.is_set():
            raise _Stopped
        to_the_loop(done)

    def work() -> None:
        results.append(job(report))

    await in_thread(work, stop.set)
    return results[0]
