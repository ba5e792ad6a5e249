"""One spool interface, two places for the bytes: the same tests run against the local spool
directory (`relay/spool.py`) and object storage (`relay/objects.py`, a real SeaweedFS; skipped
with the reason where `weed` is missing). The relay uses nothing but these operations
(`AnySpool`), so what passes here holds for both.
"""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from object_store import ACCESS_KEY, SECRET_KEY, ObjectStore, weed_s3
from videonet_daemon.errors import BadRequest, Unavailable
from videonet_daemon.relay.objects import SEGMENTS_KEPT, ObjectSpool
from videonet_daemon.relay.spool import AnySpool, LiveTransfer, Spool
from videonet_daemon.settings import Settings
from videonet_protocol.protocol import TransferState

pytestmark = pytest.mark.one_pass("the spool alone: no database")

SEGMENT = 1 << 20  # the smallest segment: a few MiB make several objects
PIECE = 300 << 10  # uploads arrive in pieces that do not line up with segments


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    started = weed_s3(tmp_path_factory.mktemp("weed"))
    if isinstance(started, str):
        pytest.skip(started)
    yield started
    started.stop()


@pytest.fixture(params=["directory", "object storage"])
def where(request: pytest.FixtureRequest) -> Settings | None:
    """None for the local directory; the settings of a fresh bucket for object storage."""
    if request.param == "directory":
        return None
    store: ObjectStore = request.getfixturevalue("store")
    return Settings.load(
        environ={},
        spool_url=f"s3://{store.new_bucket()}/vn",
        s3_endpoint=store.endpoint,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
        spool_segment_bytes=SEGMENT,
    )


@pytest.fixture
async def spool(where: Settings | None, tmp_path: Path) -> AsyncIterator[AnySpool]:
    made: AnySpool = Spool(tmp_path / "spool") if where is None else ObjectSpool(where)
    yield made
    await made.close()


class Pieces:
    """An upload's body: `readany` hands out the pieces, then b"" (the end)."""

    def __init__(self, data: bytes, piece: int = PIECE, then_silence: bool = False) -> None:
        self._pieces = [data[i : i + piece] for i in range(0, len(data), piece)]
        self._silence = then_silence

    async def readany(self) -> bytes:
        if self._pieces:
            return self._pieces.pop(0)
        if self._silence:
            await asyncio.sleep(3600)
        return b""


class Collected:
    """A receiver: what `send` hands it, in order."""

    def __init__(self) -> None:
        self.data = io.BytesIO()

    async def write(self, data: bytes) -> None:
        self.data.write(data)

    async def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        self.data.write(os.pread(file.fileno(), count, offset))


def new_transfer(spool: AnySpool, size: int) -> LiveTransfer:
    transfer_id = uuid.uuid4().hex
    spool.create(transfer_id)
    return spool.live(transfer_id, size, 0, TransferState.UPLOADING)


async def upload(spool: AnySpool, live: LiveTransfer, data: bytes, offset: int = 0) -> list[int]:
    """Write `data` from `offset` on; the ends `landed` reported (advancing the live state as the
    relay does)."""
    ends: list[int] = []

    async def landed(end: int) -> None:
        ends.append(end)
        if end > live.uploaded:
            live.advance(end - live.uploaded)

    live.uploaded = offset
    await spool.write(live, offset, Pieces(data), 5.0, landed)
    return ends


async def read_all(spool: AnySpool, transfer_id: str, start: int, end: int) -> bytes:
    return b"".join([chunk async for chunk in spool.read(transfer_id, start, end)])


async def test_written_bytes_read_back_in_any_range(spool: AnySpool) -> None:
    data = os.urandom(5 * SEGMENT + 123)
    live = new_transfer(spool, len(data))
    ends = await upload(spool, live, data)
    assert ends == sorted(ends) and ends[-1] == len(data) == live.uploaded
    assert spool.stored(live.transfer_id, live.uploaded) == len(data)
    assert await read_all(spool, live.transfer_id, 0, len(data)) == data
    for start, end in [(1, 2), (SEGMENT - 1, SEGMENT + 1), (3 * SEGMENT + 7, len(data))]:
        assert await read_all(spool, live.transfer_id, start, end) == data[start:end]


async def test_a_reader_sends_what_has_landed(spool: AnySpool) -> None:
    data = os.urandom(3 * SEGMENT + 10)
    live = new_transfer(spool, len(data))
    await upload(spool, live, data)
    sink = Collected()
    async with spool.reader(live, 5) as reader:
        await reader.send(sink, 5, SEGMENT)
        await reader.send(sink, SEGMENT, len(data))
    assert sink.data.getvalue() == data[5:]


async def test_an_upload_resumes_from_what_is_stored(spool: AnySpool) -> None:
    """Cut inside a segment: the resume writes from `stored` on, and the whole file reads back."""
    data = os.urandom(4 * SEGMENT)
    live = new_transfer(spool, len(data))
    cut = 2 * SEGMENT + 1000
    await upload(spool, live, data[:cut])
    kept = spool.stored(live.transfer_id, live.uploaded)
    assert kept == cut
    spool.truncate(live.transfer_id, kept)
    ends = await upload(spool, live, data[kept:], offset=kept)
    assert ends[-1] == len(data)
    assert await read_all(spool, live.transfer_id, 0, len(data)) == data


async def test_more_than_the_offered_size_is_refused(spool: AnySpool) -> None:
    live = new_transfer(spool, 1000)
    with pytest.raises(BadRequest, match="more bytes than the offered size"):
        await upload(spool, live, os.urandom(1001))


async def test_a_silent_sender_times_out(spool: AnySpool) -> None:
    live = new_transfer(spool, 10 * PIECE)

    async def landed(end: int) -> None:
        live.advance(end - live.uploaded)

    with pytest.raises(TimeoutError):
        await spool.write(live, 0, Pieces(os.urandom(PIECE), then_silence=True), 0.3, landed)
    # what came before the silence is kept
    assert spool.stored(live.transfer_id, live.uploaded) == PIECE == live.uploaded


async def test_forget_removes_every_part_and_aborts_readers(spool: AnySpool) -> None:
    data = os.urandom(3 * SEGMENT)
    live = new_transfer(spool, len(data))
    await upload(spool, live, data)
    assert await spool.parts(live.transfer_id)
    await spool.forget(live.transfer_id)
    assert await spool.parts(live.transfer_id) == []
    assert live.state == TransferState.ABORTED
    assert spool.known(live.transfer_id) is None


async def test_the_live_state_is_one_per_transfer(spool: AnySpool) -> None:
    live = new_transfer(spool, 10)
    assert spool.known(live.transfer_id) is live
    assert spool.live(live.transfer_id, 10, 0, TransferState.UPLOADING) is live


async def test_health_and_space(spool: AnySpool) -> None:
    await spool.ping()
    free = spool.free_bytes()
    # a directory has free space to ask about; shared object storage has none (quotas instead)
    assert (free is None) == spool.shared
    assert free is None or free > 0
    spool.keep_reserve()
    assert spool.release_reserve() is (not spool.shared)
    assert spool.release_reserve() is False  # given back once


def test_nothing_asks_which_spool_it_has() -> None:
    """The interface is whole: no `isinstance` on a spool, and rooms/ leaves the spool to the
    relay (a room's deletion reaches it on the daemon bus)."""
    src = Path(__file__).resolve().parent.parent / "src" / "videonet_daemon"
    asking = [
        f"{path.relative_to(src)}:{number}"
        for path in sorted(src.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "isinstance(" in line and "Spool" in line
    ]
    assert asking == []
    rooms = [
        str(path.relative_to(src))
        for path in sorted((src / "rooms").glob("*.py"))
        if "videonet_daemon.relay" in path.read_text(encoding="utf-8")
    ]
    assert rooms == []


async def test_the_uploading_daemon_serves_its_newest_segments_from_memory(
    store: ObjectStore,
) -> None:
    """Object storage only (issue 26): receivers on the daemon that runs the upload read the
    newest stored segments from its memory; another daemon, and older segments, come from the
    store. Shown by deleting the objects behind the uploading daemon's back."""
    settings = Settings.load(
        environ={},
        spool_url=f"s3://{store.new_bucket()}/vn",
        s3_endpoint=store.endpoint,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
        spool_segment_bytes=SEGMENT,
    )
    here, other = ObjectSpool(settings), ObjectSpool(settings)
    try:
        data = os.urandom(4 * SEGMENT + 10)
        live = new_transfer(here, len(data))
        await upload(here, live, data)
        await other.delete(live.transfer_id)  # the store no longer has any of it
        # the partial last segment and the full one before it (SEGMENTS_KEPT = 2)
        newest = (len(data) // SEGMENT - SEGMENTS_KEPT + 1) * SEGMENT
        assert await read_all(here, live.transfer_id, newest, len(data)) == data[newest:]
        with pytest.raises(Unavailable):
            await read_all(other, live.transfer_id, newest, len(data))
        with pytest.raises(Unavailable):  # an older segment: not kept
            await read_all(here, live.transfer_id, 0, SEGMENT)
    finally:
        await here.close()
        await other.close()
