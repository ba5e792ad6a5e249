"""A blocking job in a thread of its own, stopped and waited for when its task is cancelled.

The receiver's bytes are read, opened, hashed and written in one such thread (transfer/splitter.py):
blocking reads straight into one record buffer cost less CPU than the event loop's callbacks
and fresh `bytes` per socket read (docs/performance.md, "Session 12").
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable


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
