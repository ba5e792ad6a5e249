"""Speed of the transfer crypto core against plain SHA-256 of the same data, in one run.

    python bench/crypto.py [--size 256M] [--rounds 3]

Makes ``--size`` bytes in memory (SHAKE-128, incompressible), then, for each of ``--rounds``
rounds, times on one core: SHA-256 of the whole (what every transfer already computes), the
STREAM encryption of it in 1 MiB records (`StreamEncryptor`, AES-256-GCM), its decryption and
verification (`StreamDecryptor`), the bare `RecordCipher` calls without the stream's buffering,
and one HPKE key wrap + unwrap. Prints the best MB/s of each and its ratio to SHA-256: a ratio
above 1 means the step costs less CPU per byte than the hash the transfer already pays for.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _common import parse_size, print_table, ratio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from videonet_cli.crypto.stream import (
    RECORD_SIZE,
    TAG_BYTES,
    RecordCipher,
    StreamDecryptor,
    StreamEncryptor,
    StreamLayout,
)
from videonet_cli.crypto.wrap import new_file_key, unwrap_file_key, wrap_file_key

DEFAULT_SIZE = "256M"
DEFAULT_ROUNDS = 3
WRAPS = 200
READ_SIZE = 4 << 20  # the pieces the stream classes are fed (not a multiple of a record)

TRANSFER_ID = "bench-transfer"


def make_data(size: int) -> bytes:
    return hashlib.shake_128(b"videonet bench crypto").digest(size)


def best_seconds(rounds: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default=DEFAULT_SIZE, help="bytes of data (e.g. 256M, 1G)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="best of N rounds")
    args = parser.parse_args()
    size = parse_size(args.size)
    data = make_data(size)
    key = new_file_key()
    cipher = RecordCipher(key, TRANSFER_ID)
    layout = StreamLayout(size)
    view = memoryview(data)

    def sha256() -> str:
        return hashlib.sha256(data).hexdigest()

    def stream_encrypt(keep: bool = False) -> list[bytes]:
        # Pieces of READ_SIZE, as a sender reads a file: records do not line up with them. Kept
        # only to make the input of the decryption: holding 1 GiB of fresh pages would time
        # the kernel's page faults, not the cipher (a sender writes each record and drops it).
        enc = StreamEncryptor(cipher, size)
        sealed: list[bytes] = []
        for i in range(0, size, READ_SIZE):
            records = enc.feed(view[i : i + READ_SIZE])
            if keep:
                sealed += records
        return sealed + enc.finish()

    sealed = b"".join(stream_encrypt(keep=True))
    assert len(sealed) == layout.ciphertext_size
    sealed_view = memoryview(sealed)

    def stream_decrypt() -> None:
        dec = StreamDecryptor(cipher, size)
        for i in range(0, len(sealed), READ_SIZE):
            dec.feed(sealed_view[i : i + READ_SIZE])
        dec.finish()

    def records_encrypt() -> None:
        for i in range(layout.records):
            chunk = view[i * RECORD_SIZE : i * RECORD_SIZE + layout.plaintext_length(i)]
            cipher.encrypt_record(i, chunk, final=i == layout.last)

    def records_decrypt() -> None:
        for i in range(layout.records):
            start = layout.ciphertext_offset(i)
            record = sealed_view[start : start + layout.plaintext_length(i) + TAG_BYTES]
            cipher.decrypt_record(i, record, final=i == layout.last)

    device = X25519PrivateKey.generate()
    public = device.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )

    def wraps() -> None:
        for _ in range(WRAPS):
            wrapped = wrap_file_key(key, public, TRANSFER_ID, "device-1")
            unwrap_file_key(wrapped, device, TRANSFER_ID, "device-1")

    reference = best_seconds(args.rounds, sha256)
    rows: list[list[object]] = [["sha256 (reference)", f"{size / reference / 1e6:,.0f}", "1.00x"]]
    for name, work in [
        ("stream encrypt (1 MiB records)", stream_encrypt),
        ("stream decrypt + verify", stream_decrypt),
        ("record encrypt (bare)", records_encrypt),
        ("record decrypt (bare)", records_decrypt),
    ]:
        seconds = best_seconds(args.rounds, work)
        rows.append([name, f"{size / seconds / 1e6:,.0f}", ratio(reference, seconds)])
    print(f"{size / (1 << 20):,.0f} MiB in memory, best of {args.rounds}, one core")
    print_table(["step", "MB/s", "speed vs sha256"], rows)
    per_wrap = best_seconds(args.rounds, wraps) / WRAPS
    print(f"HPKE wrap + unwrap of a file key: {per_wrap * 1e6:,.0f} µs per recipient device")


if __name__ == "__main__":
    main()
