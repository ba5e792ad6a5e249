"""The receiver accepts an offer and starts its download at once (issue 26: a round trip fewer
before the first byte); `_while_accepting` keeps what the one-after-the-other order promised."""

from __future__ import annotations

import asyncio

import pytest

from videonet_cli.errors import DaemonRefused
from videonet_cli.transfer.receiver import _while_accepting

pytestmark = pytest.mark.one_pass("pure code: no database")


def refused() -> DaemonRefused:
    return DaemonRefused("transfer_state", "the sender aborted this transfer", 409)


async def _later(value: object, seconds: float, events: list[str], name: str) -> object:
    await asyncio.sleep(seconds)
    events.append(name)
    if isinstance(value, BaseException):
        raise value
    return value


@pytest.mark.parametrize(("accept_after", "download_after"), [(0.0, 0.05), (0.05, 0.0)])
def test_both_done_gives_the_download_with_the_accept_settled(
    accept_after: float, download_after: float
) -> None:
    events: list[str] = []

    async def run() -> tuple[int, asyncio.Future[object]]:
        accepting = asyncio.ensure_future(_later({}, accept_after, events, "accepted"))
        download = _later(1000, download_after, events, "downloaded")
        return await _while_accepting(accepting, download), accepting  # type: ignore[arg-type]

    got, accepting = asyncio.run(run())
    assert got == 1000 and accepting.done() and not accepting.cancelled()
    assert sorted(events) == ["accepted", "downloaded"]


def test_a_refused_accept_stops_the_download_and_is_what_is_raised() -> None:
    events: list[str] = []

    async def run() -> None:
        accepting = asyncio.ensure_future(_later(refused(), 0.01, events, "refused"))
        await _while_accepting(accepting, _later(1000, 5.0, events, "downloaded"))  # type: ignore[arg-type]

    with pytest.raises(DaemonRefused, match="aborted"):
        asyncio.run(run())
    assert events == ["refused"]  # the download never finished: it was cancelled


def test_a_failed_download_waits_for_the_accept_before_it_is_raised() -> None:
    """The caller declines next: the daemon has the accept's answer before the decline."""
    events: list[str] = []

    async def run() -> None:
        accepting = asyncio.ensure_future(_later({}, 0.05, events, "accepted"))
        await _while_accepting(accepting, _later(OSError("disk full"), 0.0, events, "failed"))  # type: ignore[arg-type]

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(run())
    assert events == ["failed", "accepted"]
