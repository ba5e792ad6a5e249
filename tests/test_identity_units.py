"""The pure parts of identities, without a daemon: key checks against `cryptography`, the signed
encodings, recovery keys, safety numbers, and the link exchange (right code, wrong code, a
changed message, and any bytes a daemon might send)."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from videonet_cli.crypto.pake import parse_code
from videonet_cli.errors import BadCodeError, UsageError
from videonet_cli.identity import link, signing
from videonet_protocol import keycheck
from videonet_protocol.keycheck import ed25519_problem, x25519_problem

pytestmark = pytest.mark.one_pass("pure code: no database")


def test_real_keys_pass_and_the_checks_agree_with_cryptography() -> None:
    for _ in range(20):
        assert x25519_problem(X25519PrivateKey.generate().public_key().public_bytes_raw()) is None
        assert ed25519_problem(Ed25519PrivateKey.generate().public_key().public_bytes_raw()) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_an_x25519_key_that_passes_gives_a_shared_secret(raw: bytes) -> None:
    """Whatever the check lets through, X25519 can use (OpenSSL refuses an all-zero secret)."""
    if x25519_problem(raw) is None:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(raw))


_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
# The y-coordinates of Ed25519's eight points of order 1, 2, 4 and 8 (libsodium's blocklist).
_Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022
_SMALL_ORDER_Y = (1, _P - 1, 0, _Y8, _P - _Y8)


def _affine_order_divides_8(point: tuple[int, int]) -> bool:
    """The reference: three affine doublings (two inversions each), then compare."""
    x, y = point
    for _ in range(3):
        t = _D * x * x * y * y % _P
        x, y = (
            2 * x * y * pow(1 + t, _P - 2, _P) % _P,
            (y * y + x * x) * pow(1 - t, _P - 2, _P) % _P,
        )
    return (x, y) == (0, 1)


def test_every_small_order_ed25519_key_is_refused_and_the_check_agrees_with_the_reference() -> None:
    refused = 0
    for y in _SMALL_ORDER_Y:
        for sign in (0, 1):
            raw = (y | sign << 255).to_bytes(32, "little")
            point = keycheck._decode_ed25519(raw)
            if point is None:  # x = 0 with the sign bit set: not an encoding
                continue
            assert _affine_order_divides_8(point)
            assert ed25519_problem(raw) == "the Ed25519 public key is a small-order point"
            refused += 1
    assert refused == 8  # 1 + 1 + 2 + 4 points


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_the_small_order_check_agrees_with_affine_doublings(raw: bytes) -> None:
    point = keycheck._decode_ed25519(raw)
    if point is not None:
        assert keycheck._times_eight_is_neutral(point) == _affine_order_divides_8(point)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_the_checks_never_raise(raw: bytes) -> None:
    for check in (x25519_problem, ed25519_problem):
        problem = check(raw)
        assert problem is None or isinstance(problem, str)


def test_signed_messages_are_unambiguous() -> None:
    x, ed = bytes(range(32)), bytes(range(32, 64))
    base = signing.certificate_message(7, "dev1", x, ed, "laptop")
    assert base != signing.certificate_message(7, "dev1", x, ed, "laptop2")
    assert base != signing.certificate_message(8, "dev1", x, ed, "laptop")
    # Moving a character between two fields changes the encoding (length prefixes).
    assert signing.certificate_message(7, "dev1l", x, ed, "aptop") != base
    assert base != signing.revocation_message(7, "dev1", x, ed)
    identity = Ed25519PrivateKey.generate()
    public = identity.public_key().public_bytes_raw()
    blob = signing.sign_blob(identity, base)
    assert signing.verify_blob(public, base, blob)
    assert not signing.verify_blob(public, signing.revocation_message(7, "dev1", x, ed), blob)
    assert not signing.verify_blob(public, base, b"\x02" + blob[1:])  # another version
    assert not signing.verify_blob(public, base, None)
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not signing.verify_blob(other, base, blob)


def test_a_recovery_key_round_trips_and_a_typo_is_caught() -> None:
    identity = Ed25519PrivateKey.generate()
    text = signing.encode_recovery_key(identity)
    assert len(text) == 14 * 4 + 13 and len(text) < 80
    back = signing.decode_recovery_key(text.lower().replace("-", " "))
    assert back.private_bytes_raw() == identity.private_bytes_raw()
    typo = ("B" if text[0] != "B" else "C") + text[1:]
    with pytest.raises(UsageError):
        signing.decode_recovery_key(typo)
    with pytest.raises(UsageError):
        signing.decode_recovery_key("")


def test_the_safety_number_is_the_same_from_both_sides() -> None:
    a = (3, Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    b = (9, Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    number = signing.safety_number(a, b)
    assert number == signing.safety_number(b, a)
    assert len(number) == 60 and number.isdigit()
    c = (9, Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    assert signing.safety_number(a, c) != number  # another identity, another number
    lines = signing.group_digits(number)
    assert len(lines) == 3 and all(len(line) <= 80 for line in lines)
    assert signing.normalize_number("-".join(lines)) == number.replace(" ", "")


def _record() -> link.DeviceRecord:
    return link.DeviceRecord(
        "abcdef0123456789", secrets.token_bytes(32), secrets.token_bytes(32), "pc"
    )


def test_the_link_exchange_carries_keys_and_certificate_both_ways() -> None:
    code = parse_code("7-guitar-meadow")
    existing = link.ExistingSide(code, 5, "e" * 32)
    new = link.NewSide(code, 5, "e" * 32)
    record = _record()
    got, words_a = existing.finish(new.reply(existing.start(), record))
    assert got == record
    grant = link.Grant(secrets.token_bytes(32), secrets.token_bytes(65))
    opened, words_b = new.open(existing.grant(grant))
    assert opened == grant and words_a == words_b and len(words_a.split()) == 3


@pytest.mark.parametrize("where", ["wrong code", "other account", "changed reply", "changed done"])
def test_the_link_exchange_fails_on_a_wrong_code_or_a_changed_message(where: str) -> None:
    existing = link.ExistingSide(parse_code("7-guitar-meadow"), 5, "e" * 32)
    new = link.NewSide(
        parse_code("7-guitar-meadoe" if where == "wrong code" else "7-guitar-meadow"),
        6 if where == "other account" else 5,
        "e" * 32,
    )
    reply = bytearray(new.reply(existing.start(), _record()))
    if where == "changed reply":
        reply[-3] ^= 1
    if where != "changed done":
        with pytest.raises(BadCodeError):
            existing.finish(bytes(reply))
        return
    existing.finish(bytes(reply))
    done = bytearray(existing.grant(link.Grant(bytes(32), bytes(65))))
    done[40] ^= 1
    with pytest.raises(BadCodeError):
        new.open(bytes(done))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_from_a_daemon_are_a_bad_code_never_a_crash(junk: bytes) -> None:
    existing = link.ExistingSide(parse_code("7-guitar-meadow"), 5, "e" * 32)
    existing.start()
    with pytest.raises(BadCodeError):
        existing.finish(junk)
    for decode in (link.decode_record, link.decode_grant):
        with contextlib.suppress(BadCodeError):  # the one way it may fail
            decode(junk)


def test_pins_put_back_unchanged_are_not_written_again(tmp_path: Path) -> None:
    """Every send puts its recipients' pins back; only a change is written (issue 26)."""
    from videonet_cli.identity.pins import Pin, PinStore

    store = PinStore(tmp_path / "identity")
    with store.edit() as pins:
        pins.put("http://d", Pin(7, "bob", bytes(32)))
    first = store.path.stat()
    with store.edit() as pins:
        pin = pins.get("http://d", 7)
        assert pin is not None
        pins.put("http://d", pin)  # as it was
    assert store.path.stat().st_ino == first.st_ino  # a write replaces the file (a new inode)
    with store.edit() as pins:
        pin = pins.get("http://d", 7)
        assert pin is not None
        pin.devices["dev1"] = "fp"  # changed in place, then put back
        pins.put("http://d", pin)
    assert store.path.stat().st_ino != first.st_ino
    assert PinStore(tmp_path / "identity").read().get("http://d", 7).devices == {"dev1": "fp"}  # type: ignore[union-attr]
