"""The signed transfer header, seal and verdict MAC (crypto/header.py): properties over parsing.

Whatever bytes arrive as a header, `parse_header` returns a header only for the canonical form of
one (anything else is a `HeaderError`, never another exception), and a parsed header is believed
only when the sender device's signature and the MAC under the file key both hold."""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from videonet_cli.crypto import header as hdr
from videonet_cli.errors import CliError
from videonet_cli.transfer.inbox import _check_paths
from videonet_protocol import protocol

pytestmark = pytest.mark.one_pass("pure crypto and parsing")

SIGNER = Ed25519PrivateKey.generate()
PUBLIC = SIGNER.public_key()
KEY = os.urandom(32)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sign(label: bytes, message: bytes) -> bytes:
    return SIGNER.sign(label + message)


def verify(label: bytes, message: bytes, signature: bytes) -> bool:
    try:
        PUBLIC.verify(signature, label + message)
    except InvalidSignature:
        return False
    return True


names = st.text(
    alphabet=st.characters(categories=("L", "N", "P"), exclude_characters="/\\"),
    min_size=1,
    max_size=20,
).filter(lambda n: n not in (".", ".."))
entries = st.lists(
    st.tuples(names, st.integers(0, 1 << 40), st.integers(0, 0o7777)),
    min_size=1,
    max_size=8,
    unique_by=lambda e: e[0],
)


def make(files: list[tuple[str, int, int]], **over: object) -> hdr.Header:
    fields: dict[str, object] = {
        "transfer_id": "a" * 32,
        "room_id": "room-1",
        "sender_user_id": 7,
        "sender_username": "alice",
        "sender_device_id": "dev" * 8,
        "recipients": (hdr.Recipient(8, "bob" * 8, "ABCD-EFGH"),),
        "kind": protocol.BatchKind.FILES,
        "name": files[0][0],
        "record_size": protocol.E2E_RECORD_BYTES,
        "stream_id": "b" * 32,
        "source": bytes(32),
        "files": tuple(hdr.FileEntry(*f) for f in files),
    }
    fields.update(over)
    return hdr.Header(**fields)  # type: ignore[arg-type]


def blob_of(files: list[tuple[str, int, int]], **over: object) -> bytes:
    return hdr.seal_header(make(files, **over), KEY, sign).blob


@FAST
@given(entries)
def test_a_header_round_trips_and_verifies(files: list[tuple[str, int, int]]) -> None:
    blob = blob_of(files)
    parsed = hdr.parse_header(blob, _check_paths)
    assert parsed.header == make(files)
    assert parsed.blob == blob
    hdr.verify_header(parsed, KEY, verify)


@FAST
@given(entries, st.data())
def test_truncated_headers_are_refused(
    files: list[tuple[str, int, int]], data: st.DataObject
) -> None:
    blob = blob_of(files)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(hdr.HeaderError):
        hdr.verify_header(hdr.parse_header(blob[:cut]), KEY, verify)


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_are_a_header_error_or_a_header(raw: bytes) -> None:
    try:
        parsed = hdr.parse_header(raw, _check_paths)
    except (hdr.HeaderError, CliError):
        return
    assert parsed.blob == raw  # only the canonical form of a header parses


def test_an_oversized_header_is_refused_before_it_is_read() -> None:
    with pytest.raises(hdr.HeaderError, match="larger than"):
        hdr.parse_header(bytes(hdr.MAX_BYTES + 1))
    many = [(f"f{i:05}-{'x' * 60}", 1, 0o644) for i in range(hdr.MAX_BYTES // 70)]
    with pytest.raises(hdr.HeaderError, match="too large"):
        blob_of(many)


@pytest.mark.parametrize("version", [0, 1, 3, 255])
def test_an_unknown_version_is_refused_naming_it(version: int) -> None:
    blob = bytearray(blob_of([("a.bin", 3, 0o644)]))
    blob[4] = version
    with pytest.raises(hdr.HeaderError, match=f"version {version}"):
        hdr.parse_header(bytes(blob))


def test_duplicate_paths_are_refused() -> None:
    with pytest.raises(hdr.HeaderError, match="twice"):
        hdr.parse_header(blob_of([("a.bin", 1, 0o644), ("a.bin", 2, 0o644)]))


@FAST
@given(entries, st.integers(1, 1 << 20))
def test_sizes_that_do_not_add_up_are_refused(
    files: list[tuple[str, int, int]], extra: int
) -> None:
    body = bytearray(hdr.encode_body(make(files)))
    # The total sits just before the file count, which comes after the source fingerprint.
    source_at = body.index(bytes(32), 40)
    total_at = source_at + 32
    (total,) = struct.unpack(">Q", body[total_at : total_at + 8])
    body[total_at : total_at + 8] = struct.pack(">Q", (total + extra) % (1 << 64))
    blob = bytes(body) + bytes(hdr.MAC_BYTES + hdr.SIGNATURE_BYTES)
    with pytest.raises(hdr.HeaderError, match="add up"):
        hdr.parse_header(blob)


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a//b", "a/./b", "a\\b"])
def test_a_path_that_leaves_the_directory_is_refused(path: str) -> None:
    blob = blob_of([(path, 1, 0o644)], kind=protocol.BatchKind.DIRECTORY, name="d")
    with pytest.raises(CliError, match="refusing"):
        hdr.parse_header(blob, _check_paths)


@FAST
@given(entries, st.data())
def test_a_changed_byte_fails_the_signature_or_the_mac(
    files: list[tuple[str, int, int]], data: st.DataObject
) -> None:
    blob = bytearray(blob_of(files))
    at = data.draw(st.integers(0, len(blob) - 1))
    blob[at] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(hdr.HeaderError):
        hdr.verify_header(hdr.parse_header(bytes(blob)), KEY, verify)


def test_a_bad_signature_and_a_bad_mac_are_named() -> None:
    blob = blob_of([("a.bin", 3, 0o644)])
    other = Ed25519PrivateKey.generate()
    forged = hdr.seal_header(make([("a.bin", 3, 0o644)]), KEY, lambda lb, m: other.sign(lb + m))
    with pytest.raises(hdr.HeaderError, match="signature"):
        hdr.verify_header(hdr.parse_header(forged.blob), KEY, verify)
    with pytest.raises(hdr.HeaderError, match="MAC"):
        hdr.verify_header(hdr.parse_header(blob), os.urandom(32), verify)


def test_the_seal_belongs_to_one_header_and_one_key() -> None:
    files = [("a.bin", 3, 0o644), ("b.bin", 4, 0o600)]
    signed = hdr.parse_header(blob_of(files))
    digests = [os.urandom(32), os.urandom(32)]
    seal = hdr.make_seal(signed.hash, digests, KEY, sign)
    assert hdr.open_seal(seal, signed, KEY, verify) == digests
    other = hdr.parse_header(blob_of(files, transfer_id="c" * 32))
    with pytest.raises(hdr.HeaderError, match="another transfer"):
        hdr.open_seal(seal, other, KEY, verify)
    with pytest.raises(hdr.HeaderError, match="MAC"):
        hdr.open_seal(seal, signed, os.urandom(32), verify)
    changed = bytearray(seal)
    changed[50] ^= 1
    with pytest.raises(hdr.HeaderError):
        hdr.open_seal(bytes(changed), signed, KEY, verify)
    with pytest.raises(hdr.HeaderError, match="one SHA-256 per file"):
        hdr.open_seal(hdr.make_seal(signed.hash, digests[:1], KEY, sign), signed, KEY, verify)


def test_a_verdict_mac_holds_for_one_receiver_and_one_digest() -> None:
    h = os.urandom(32)
    mac = hdr.verdict_mac(KEY, h, 8, "ab" * 32)
    assert hdr.verdict_ok(KEY, h, 8, "ab" * 32, mac)
    assert not hdr.verdict_ok(KEY, h, 9, "ab" * 32, mac)
    assert not hdr.verdict_ok(KEY, h, 8, "cd" * 32, mac)
    assert not hdr.verdict_ok(KEY, os.urandom(32), 8, "ab" * 32, mac)
    assert not hdr.verdict_ok(os.urandom(32), h, 8, "ab" * 32, mac)
    assert not hdr.verdict_ok(KEY, h, 8, "ab" * 32, "")
