"""How a receiver writes a file's verified bytes (transfer/files.py FileAppender).

Whole 1 MiB records from page-aligned buffers go to the disk with O_DIRECT, everything else
through the page cache; whichever way, the file must hold exactly what was written, at the
right offsets, in every combination a receive meets: a fresh file, a resume inside a record,
the short last record, and a buffer that is not aligned (which O_DIRECT refuses). Run on the
temporary directory's file system and on a tmpfs.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from videonet_cli.transfer.files import DIRECT_ALIGN, FileAppender

pytestmark = pytest.mark.one_pass("client side, no daemon: no database")

MiB = 1 << 20


@pytest.fixture(params=["tmp", "shm"])
def directory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    if request.param == "tmp":
        yield tmp_path
        return
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm tmpfs on this machine")
    made = shm / f"videonet-test-{os.getpid()}-{tmp_path.name}"
    made.mkdir()
    try:
        yield made
    finally:
        for child in made.iterdir():
            child.unlink()
        made.rmdir()


def aligned(data: bytes) -> memoryview:
    """``data`` in a page-aligned buffer, as the receiver's decrypted records are."""
    buffer = mmap.mmap(-1, max(len(data), 1))
    buffer[: len(data)] = data
    return memoryview(buffer)[: len(data)]


def write_all(path: Path, offset: int, pieces: list[memoryview]) -> FileAppender:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    appender = FileAppender(fd, offset)
    try:
        position = offset
        for piece in pieces:
            appender.write(piece, position)
            position += len(piece)
    finally:
        os.close(fd)
    return appender


def test_whole_records_skip_the_page_cache_and_the_file_is_exact(directory: Path) -> None:
    data = os.urandom(3 * MiB + 12_345)  # three whole records and a short last one
    path = directory / "file.part"
    pieces = [aligned(data[i : i + MiB]) for i in range(0, len(data), MiB)]
    appender = write_all(path, 0, pieces)
    assert path.read_bytes() == data
    if appender.direct_bytes == 0:
        pytest.skip(f"{directory} refuses O_DIRECT: every write went through the page cache")
    assert appender.direct_bytes == 3 * MiB  # the short last record went through the cache


def test_a_resume_inside_a_record_and_unaligned_buffers_still_write_exactly(
    directory: Path,
) -> None:
    data = os.urandom(4 * MiB)
    path = directory / "file.part"
    head = 1 * MiB + 1000  # a .part that ends inside a record
    path.write_bytes(data[:head])
    # The rest of that record (unaligned offset), then whole records from buffers that are not
    # page-aligned (bytes objects: O_DIRECT refuses them with EINVAL), then an aligned one.
    pieces = [
        memoryview(data[head : 2 * MiB]),
        memoryview(data[2 * MiB : 3 * MiB]),
        aligned(data[3 * MiB :]),
    ]
    appender = write_all(path, head, pieces)
    assert path.read_bytes() == data
    # The piece at an offset inside a block never goes around the cache; whether an unaligned
    # buffer does is the file system's choice (tmpfs takes it, ext4 refuses it).
    assert appender.direct_bytes <= 2 * MiB


def test_an_offset_past_a_gap_is_written_where_it_belongs(directory: Path) -> None:
    # Offsets are absolute (pwrite): a record lands at its place, whatever was written before.
    path = directory / "file.part"
    first, second = os.urandom(MiB), os.urandom(DIRECT_ALIGN)
    write_all(path, 0, [aligned(first)])
    write_all(path, MiB, [aligned(second)])
    assert path.read_bytes() == first + second
