"""Pure functions of the chat feature: the token bucket and the text rules."""

from __future__ import annotations

import pytest

from videonet_daemon.chat.service import check_text
from videonet_daemon.errors import InvalidText, TextTooLong, ValidationError
from videonet_daemon.realtime.ratelimit import TokenBuckets


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_then_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=5.0, burst=20, clock=clock)
    assert [buckets.take("u") for _ in range(20)] == [0.0] * 20
    assert buckets.take("u") == pytest.approx(0.2)  # one token comes back every 1/5 s
    assert buckets.take("other") == 0.0  # per key
    clock.now += 0.2
    assert buckets.take("u") == 0.0
    assert buckets.take("u") > 0
    clock.now += 60  # refills to the burst, not beyond
    assert [buckets.take("u") for _ in range(20)] == [0.0] * 20
    assert buckets.take("u") > 0


def test_token_bucket_forgets_full_buckets() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=1.0, burst=1, clock=clock)
    for key in range(10_001):
        buckets.take(key)
    clock.now += 5
    buckets.take("trigger")
    buckets.take("again")
    assert len(buckets._buckets) < 10


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("hi", "hi"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("tab\there", "tab\there"),
        ("  padded  ", "  padded  "),
        ("👩‍👩‍👧", "👩‍👩‍👧"),
    ],
)
def test_text_is_kept(raw: str, stored: str) -> None:
    assert check_text(raw, 100) == stored


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (None, ValidationError),
        (5, ValidationError),
        ("", ValidationError),
        ("\n\r\t ", ValidationError),
        ("x" * 101, TextTooLong),
        ("\x1b]0;title\x07", InvalidText),
        ("\u0085", InvalidText),
        ("\udfff", InvalidText),
    ],
)
def test_text_is_refused(raw: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_text(raw, 100)
