"""How the receiver makes its files (transfer/tree.py, transfer/splitter.py), on the real file
system: a new file in one exclusive create of its final mode (issue 26), anything already under
the name the general way, a link or fifo in the way refused without being followed."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from videonet_cli.transfer.files import UnsafeTarget
from videonet_cli.transfer.splitter import Splitter, file_mode
from videonet_cli.transfer.tree import TreeWriter

pytestmark = pytest.mark.one_pass("the receiver's files alone: no daemon")

MODES = [0o755, 0o600, 0o4755, 0o000, 0o644]


def write(root: Path, parts: list[str], contents: list[bytes], modes: list[int]) -> list[str]:
    """The files' bytes through a Splitter, in uneven pieces; their SHA-256s as hashed."""
    writer = TreeWriter(root)
    hashes: list[hashlib._Hash] = []
    try:
        split = Splitter(writer, parts, [len(c) for c in contents], modes, hashes, 0)
        stream = b"".join(contents)
        for at in range(0, len(stream), 777):
            split.feed(stream[at : at + 777])
        split.close()
    finally:
        writer.close()
    return [h.hexdigest() for h in hashes]


def test_new_files_get_their_bytes_and_exactly_their_mode(tmp_path: Path) -> None:
    contents = [os.urandom(n) for n in (1000, 0, 5000, 1, 3000)]
    parts = [f"f{i}.part" for i in range(len(contents))]
    digests = write(tmp_path, parts, contents, MODES)
    for part, data, mode, digest in zip(parts, contents, MODES, digests, strict=True):
        path = tmp_path / part
        assert path.read_bytes() == data
        assert digest == hashlib.sha256(data).hexdigest()
        assert stat.S_IMODE(path.stat().st_mode) == file_mode(mode)
    assert not stat.S_IMODE((tmp_path / "f2.part").stat().st_mode) & stat.S_ISUID


def test_a_file_already_under_the_name_is_replaced_and_takes_the_mode(tmp_path: Path) -> None:
    old = tmp_path / "f0.part"
    old.write_bytes(b"stale bytes of an older attempt, longer than the new file" * 100)
    old.chmod(0o777)
    data = os.urandom(100)
    write(tmp_path, ["f0.part"], [data], [0o640])
    assert old.read_bytes() == data
    assert stat.S_IMODE(old.stat().st_mode) == file_mode(0o640)


def test_a_link_under_the_name_is_refused_and_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep me")
    root = tmp_path / "root"
    root.mkdir()
    (root / "f0.part").symlink_to(target)
    with pytest.raises(UnsafeTarget, match="not a regular file"):
        write(root, ["f0.part"], [b"x" * 10], [0o644])
    assert target.read_bytes() == b"keep me"


def test_a_fifo_under_the_name_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f0.part")
    with pytest.raises(UnsafeTarget, match="not a regular file"):
        write(tmp_path, ["f0.part"], [b"x" * 10], [0o644])


def test_a_file_where_a_directory_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sub").write_bytes(b"")
    with pytest.raises(UnsafeTarget, match="cannot write"):
        write(tmp_path, ["sub/f0.part"], [b"x" * 10], [0o644])
