"""The one-off code's exchange on its own (crypto/pake.py): codes, SPAKE2, confirmations, the
sealed key. Every changed byte of every message, a wrong code, another transfer or exchange id
and a reflected message each end in `BadCodeError`, never in a wrong key."""

from __future__ import annotations

import pytest

from videonet_cli.crypto import pake
from videonet_cli.crypto.codewords import WORDS
from videonet_cli.crypto.wrap import new_file_key
from videonet_cli.errors import BadCodeError, ExitCode, UsageError

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

TRANSFER = "4f1c2a9b0d3e5f60"
EXCHANGE = "0123456789abcdef0123456789abcdef"


def run(
    sender_code: str,
    receiver_code: str,
    *,
    receiver_transfer: str = TRANSFER,
    receiver_exchange: str = EXCHANGE,
    change: tuple[str, int] | None = None,
) -> tuple[bytes, bytes]:
    """One exchange; ``change`` flips one byte of one message on the way: (step, index)."""
    key = new_file_key()
    a = pake.SenderExchange(pake.parse_code(sender_code), TRANSFER, EXCHANGE)
    b = pake.ReceiverExchange(pake.parse_code(receiver_code), receiver_transfer, receiver_exchange)

    def wire(step: str, message: bytes) -> bytes:
        if change is None or change[0] != step:
            return message
        changed = bytearray(message)
        changed[change[1]] ^= 0x01
        return bytes(changed)

    reply = b.reply(wire("pake", a.start()))
    key_message = a.finish(wire("reply", reply), key)
    return key, b.open(wire("key", key_message))


def test_right_code_carries_the_key() -> None:
    key, got = run("7-guitar-meadow", "7-guitar-meadow")
    assert got == key


def test_code_is_read_like_a_person_types_it() -> None:
    key, got = run("7-guitar-meadow", "  7-GUITAR-Meadow \n")
    assert got == key
    assert pake.parse_code("007-ant-bee").nameplate == "7"


def test_wrong_code_fails_on_the_sender_before_any_key_leaves() -> None:
    a = pake.SenderExchange(pake.parse_code("7-guitar-meadow"), TRANSFER, EXCHANGE)
    b = pake.ReceiverExchange(pake.parse_code("7-guitar-meadows"), TRANSFER, EXCHANGE)
    reply = b.reply(a.start())
    with pytest.raises(BadCodeError) as failed:
        a.finish(reply, new_file_key())
    assert failed.value.exit_code == ExitCode.BAD_CODE == 8
    assert "\n" not in failed.value.message


@pytest.mark.parametrize(
    "receiver", [{"receiver_transfer": "another"}, {"receiver_exchange": "f" * 32}]
)
def test_another_transfer_or_exchange_does_not_verify(receiver: dict[str, str]) -> None:
    with pytest.raises(BadCodeError):
        run("7-guitar-meadow", "7-guitar-meadow", **receiver)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("step", "size"),
    [("pake", pake.PAKE_MESSAGE_BYTES), ("reply", pake.REPLY_BYTES), ("key", pake.KEY_BYTES)],
)
def test_every_changed_byte_is_caught(step: str, size: int) -> None:
    for index in range(size):
        with pytest.raises(BadCodeError):
            run("7-guitar-meadow", "7-guitar-meadow", change=(step, index))


def test_short_long_and_reflected_messages_are_refused() -> None:
    a = pake.SenderExchange(pake.parse_code("7-guitar-meadow"), TRANSFER, EXCHANGE)
    msg_a = a.start()
    b = pake.ReceiverExchange(pake.parse_code("7-guitar-meadow"), TRANSFER, EXCHANGE)
    with pytest.raises(BadCodeError):
        b.reply(msg_a[:-1])
    with pytest.raises(BadCodeError):  # the sender's own message sent back as the reply
        a.finish(msg_a + bytes(pake.CONFIRM_BYTES), new_file_key())
    b2 = pake.ReceiverExchange(pake.parse_code("7-guitar-meadow"), TRANSFER, EXCHANGE)
    b2.reply(pake.SenderExchange(pake.parse_code("7-guitar-meadow"), TRANSFER, EXCHANGE).start())
    with pytest.raises(BadCodeError):
        b2.open(bytes(pake.KEY_BYTES + 1))


def test_new_codes() -> None:
    codes = {pake.new_code().text for _ in range(50)}
    assert len(codes) > 40
    for text in codes:
        number, *words = text.split("-")
        assert 1 <= int(number) <= pake.GENERATED_NAMEPLATE_MAX
        assert len(words) == pake.CODE_WORDS and all(w in WORDS for w in words)
    assert len(WORDS) == len(set(WORDS)) == 256
    assert all(w.isascii() and w.isalpha() and w.islower() for w in WORDS)


@pytest.mark.parametrize("text", ["", "guitar-meadow", "7", "7-", "0-a-b", "7 guitar", "x" * 200])
def test_bad_codes_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        pake.parse_code(text)


@pytest.mark.parametrize("text", ["1-a", "1-a-b", "7-guitar", "7-guitar-ab", "12-ox-meadow"])
def test_weak_codes_are_refused(text: str) -> None:
    """Finding 9: a custom code weaker than a number and two words of three letters is refused
    (the code before this change took `1-a`)."""
    with pytest.raises(UsageError, match="too weak"):
        pake.parse_code(text)
