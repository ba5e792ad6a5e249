"""The crypto core on its own: HPKE key wrapping and the STREAM record encryption.

Property tests (hypothesis) with small records, so that many records fit in a few hundred bytes:
every round trip comes back whole, and every single-byte flip, swap of two records, dropped
record, cut or added byte is detected, with only verified plaintext handed out before it.
"""

from __future__ import annotations

import itertools

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from videonet_cli.crypto.stream import (
    RECORD_SIZE,
    TAG_BYTES,
    RecordCipher,
    StreamDecryptor,
    StreamEncryptor,
    StreamLayout,
    record_nonce,
)
from videonet_cli.crypto.wrap import (
    FILE_KEY_BYTES,
    WRAPPED_KEY_BYTES,
    new_file_key,
    unwrap_file_key,
    wrap_file_key,
)
from videonet_cli.errors import CliError, IntegrityError, TamperedError, TruncatedError, UnwrapError

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

KEY = bytes(range(32))
TRANSFER = "4f1c2a9b0d3e5f60"
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

record_sizes = st.integers(min_value=1, max_value=48)
payloads = st.binary(min_size=0, max_size=400)


def raw_public(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def seal(data: bytes, record_size: int, transfer_id: str = TRANSFER, key: bytes = KEY) -> bytes:
    enc = StreamEncryptor(RecordCipher(key, transfer_id, record_size), len(data))
    return b"".join([*enc.feed(data), *enc.finish()])


def open_all(
    sealed: bytes, size: int, record_size: int, transfer_id: str = TRANSFER, key: bytes = KEY
) -> tuple[bytes, BaseException | None]:
    """Feed the ciphertext a record's worth at a time; return the plaintext handed out and the
    error, if any."""
    dec = StreamDecryptor(RecordCipher(key, transfer_id, record_size), size)
    out = b""
    try:
        for piece in records_of(sealed, record_size):
            out += b"".join(dec.feed(piece))
        dec.finish()
    except IntegrityError as exc:
        return out, exc
    return out, None


def records_of(sealed: bytes, record_size: int) -> list[bytes]:
    full = record_size + TAG_BYTES
    return [sealed[i : i + full] for i in range(0, len(sealed), full)]


# --- wrapping ---------------------------------------------------------------------------------


def test_a_wrapped_key_opens_only_for_its_device_and_transfer() -> None:
    device, other = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    file_key = new_file_key()
    assert len(file_key) == FILE_KEY_BYTES and new_file_key() != file_key
    wrapped = wrap_file_key(file_key, raw_public(device), "t1", "dev-a")
    assert len(wrapped) == WRAPPED_KEY_BYTES == 80
    assert file_key not in wrapped
    assert unwrap_file_key(wrapped, device, "t1", "dev-a") == file_key
    # Fresh ephemeral key each time: two wraps of one key differ.
    assert wrap_file_key(file_key, raw_public(device), "t1", "dev-a") != wrapped

    for private, transfer, dev in [
        (other, "t1", "dev-a"),  # another device's private key
        (device, "t2", "dev-a"),  # moved to another transfer
        (device, "t1", "dev-b"),  # handed to another device id
        (device, "t", "1dev-a"),  # the same bytes split differently
    ]:
        with pytest.raises(UnwrapError):
            unwrap_file_key(wrapped, private, transfer, dev)


@given(position=st.integers(min_value=0, max_value=WRAPPED_KEY_BYTES - 1), flip=st.integers(1, 255))
@PROPS
def test_any_changed_byte_of_a_wrapped_key_is_detected(position: int, flip: int) -> None:
    device = X25519PrivateKey.from_private_bytes(bytes([7]) * 32)
    wrapped = bytearray(wrap_file_key(KEY, raw_public(device), TRANSFER, "dev-a"))
    wrapped[position] ^= flip
    with pytest.raises(UnwrapError):
        unwrap_file_key(bytes(wrapped), device, TRANSFER, "dev-a")


def test_wrapping_refuses_unusable_keys() -> None:
    with pytest.raises(CliError, match="unusable public key"):
        wrap_file_key(KEY, bytes(32), TRANSFER, "dev-a")  # a low-order point
    with pytest.raises(CliError):
        wrap_file_key(KEY, bytes(31), TRANSFER, "dev-a")
    with pytest.raises(UnwrapError):
        unwrap_file_key(b"short", X25519PrivateKey.generate(), TRANSFER, "dev-a")


# --- the record layout ------------------------------------------------------------------------


def test_nonce_is_the_index_then_the_final_flag() -> None:
    assert record_nonce(0, False) == bytes(12)
    assert record_nonce(1, True) == bytes(10) + b"\x01\x01"
    assert record_nonce(256, False) == bytes(9) + b"\x01\x00\x00"
    with pytest.raises(ValueError):
        record_nonce(-1, False)


def test_the_layout_of_real_sizes() -> None:
    empty = StreamLayout(0)
    assert (empty.records, empty.ciphertext_size) == (1, TAG_BYTES)
    exact = StreamLayout(2 * RECORD_SIZE)
    assert exact.records == 2 and exact.plaintext_length(1) == RECORD_SIZE
    gib = StreamLayout(1 << 30)
    assert gib.records == 1024 and gib.ciphertext_size == (1 << 30) + 1024 * TAG_BYTES
    assert gib.ciphertext_offset(3) == 3 * (RECORD_SIZE + TAG_BYTES)
    assert gib.resume_record(3 * RECORD_SIZE + 5) == 3


@given(size=st.integers(min_value=0, max_value=5000), record_size=record_sizes)
@PROPS
def test_the_layout_round_trips_through_the_ciphertext_size(size: int, record_size: int) -> None:
    layout = StreamLayout(size, record_size)
    assert StreamLayout.from_ciphertext_size(layout.ciphertext_size, record_size) == layout
    assert sum(layout.plaintext_length(i) for i in range(layout.records)) == size


@given(
    size=st.integers(min_value=0, max_value=500), record_size=record_sizes, extra=st.integers(1, 15)
)
@PROPS
def test_a_size_cut_inside_a_tag_is_not_a_layout(size: int, record_size: int, extra: int) -> None:
    # A record of fewer than 16 bytes past the last whole one cannot exist.
    whole = StreamLayout(size, record_size)
    if whole.plaintext_length(whole.last) != record_size:
        return
    with pytest.raises(TruncatedError):
        StreamLayout.from_ciphertext_size(whole.ciphertext_size + extra, record_size)


# --- round trips ------------------------------------------------------------------------------


@given(data=payloads, record_size=record_sizes, cuts=st.lists(st.integers(0, 500), max_size=8))
@PROPS
def test_round_trip_in_pieces_of_any_size(data: bytes, record_size: int, cuts: list[int]) -> None:
    sealed = seal(data, record_size)
    layout = StreamLayout(len(data), record_size)
    assert len(sealed) == layout.ciphertext_size
    dec = StreamDecryptor(RecordCipher(KEY, TRANSFER, record_size), len(data))
    bounds = sorted({0, len(sealed), *(c for c in cuts if c < len(sealed))})
    out = b"".join(b"".join(dec.feed(sealed[a:b])) for a, b in itertools.pairwise(bounds))
    dec.finish()
    assert out == data


@given(data=payloads, record_size=record_sizes, index=st.integers(min_value=0))
@PROPS
def test_any_record_opens_on_its_own(data: bytes, record_size: int, index: int) -> None:
    """What Range and resume rely on: record i, fetched alone, and the rest from there."""
    sealed = seal(data, record_size)
    layout = StreamLayout(len(data), record_size)
    index %= layout.records
    cipher = RecordCipher(KEY, TRANSFER, record_size)
    start = layout.ciphertext_offset(index)
    one = sealed[start : start + layout.plaintext_length(index) + TAG_BYTES]
    plain = cipher.decrypt_record(index, one, final=index == layout.last)
    assert plain == data[index * record_size : index * record_size + len(plain)]

    resumed = StreamDecryptor(cipher, len(data), start_record=index)
    tail = b"".join(resumed.feed(sealed[start:]))
    resumed.finish()
    assert tail == data[index * record_size :]


def test_one_mebibyte_records_round_trip() -> None:
    data = bytes(range(256)) * (RECORD_SIZE // 256) * 2 + b"tail"
    sealed = seal(data, RECORD_SIZE)
    assert len(sealed) == len(data) + 3 * TAG_BYTES
    assert open_all(sealed, len(data), RECORD_SIZE) == (data, None)


# --- tampering --------------------------------------------------------------------------------


def assert_detected(
    data: bytes, record_size: int, changed: bytes, declared_size: int | None = None
) -> None:
    """Decrypting ``changed`` fails, and what came out before was verified original plaintext."""
    size = len(data) if declared_size is None else declared_size
    out, error = open_all(changed, size, record_size)
    assert error is not None, "tampering went unnoticed"
    assert data.startswith(out)


@given(data=payloads, record_size=record_sizes, position=st.integers(0), flip=st.integers(1, 255))
@PROPS
def test_any_flipped_byte_is_detected(
    data: bytes, record_size: int, position: int, flip: int
) -> None:
    sealed = bytearray(seal(data, record_size))
    sealed[position % len(sealed)] ^= flip
    assert_detected(data, record_size, bytes(sealed))


@given(data=payloads, record_size=record_sizes, i=st.integers(0), j=st.integers(0))
@PROPS
def test_any_swap_of_two_records_is_detected(data: bytes, record_size: int, i: int, j: int) -> None:
    records = records_of(seal(data, record_size), record_size)
    i, j = i % len(records), j % len(records)
    if i == j:
        return
    records[i], records[j] = records[j], records[i]
    assert_detected(data, record_size, b"".join(records))


@given(data=payloads, record_size=record_sizes, i=st.integers(0), lie=st.booleans())
@PROPS
def test_any_dropped_record_is_detected(data: bytes, record_size: int, i: int, lie: bool) -> None:
    """Also when the declared size is made to match what is left (a lying daemon)."""
    records = records_of(seal(data, record_size), record_size)
    i %= len(records)
    dropped = b"".join(records[:i] + records[i + 1 :])
    declared = None
    if lie:
        try:
            declared = StreamLayout.from_ciphertext_size(len(dropped), record_size).plaintext_size
        except TruncatedError:
            declared = None
    assert_detected(data, record_size, dropped, declared)


@given(data=payloads, record_size=record_sizes, keep=st.integers(0), lie=st.booleans())
@PROPS
def test_any_truncation_is_detected(data: bytes, record_size: int, keep: int, lie: bool) -> None:
    sealed = seal(data, record_size)
    keep %= len(sealed)  # strictly shorter
    cut = sealed[:keep]
    declared = None
    if lie:
        try:
            declared = StreamLayout.from_ciphertext_size(len(cut), record_size).plaintext_size
        except TruncatedError:
            declared = None
    assert_detected(data, record_size, cut, declared)


def test_a_cut_at_a_record_boundary_is_reported_as_truncated() -> None:
    data = b"x" * 100
    sealed = seal(data, 10)
    out, error = open_all(sealed[: 4 * (10 + TAG_BYTES)], len(data), 10)
    assert isinstance(error, TruncatedError) and out == data[:40]
    # The same cut with the size made to fit: record 3 was not sealed as the final one.
    out, error = open_all(sealed[: 4 * (10 + TAG_BYTES)], 40, 10)
    assert isinstance(error, TamperedError) and error.index == 3 and out == data[:30]


@given(data=payloads, record_size=record_sizes, extra=st.binary(min_size=1, max_size=80))
@PROPS
def test_bytes_after_the_final_record_are_detected(
    data: bytes, record_size: int, extra: bytes
) -> None:
    assert_detected(data, record_size, seal(data, record_size) + extra)


@given(data=payloads, record_size=record_sizes)
@PROPS
def test_records_of_another_transfer_or_key_do_not_open(data: bytes, record_size: int) -> None:
    sealed = seal(data, record_size)
    assert open_all(sealed, len(data), record_size, transfer_id="other")[1] is not None
    assert open_all(sealed, len(data), record_size, key=bytes(32))[1] is not None


def test_the_encryptor_refuses_a_file_that_changed_size() -> None:
    cipher = RecordCipher(KEY, TRANSFER, 10)
    with pytest.raises(CliError, match="grew"):
        StreamEncryptor(cipher, 15).feed(b"x" * 16)
    short = StreamEncryptor(cipher, 15)
    short.feed(b"x" * 12)
    with pytest.raises(CliError, match="shrank"):
        short.finish()
    with pytest.raises(ValueError):
        cipher.encrypt_record(0, b"short", final=False)
