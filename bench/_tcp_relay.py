"""The ceiling: a bare asyncio TCP relay and its two ends, one process per role.

* ``relay``: accepts connections on loopback; each announces its role in one byte (``S`` or ``R``);
  once a sender and a receiver are there, it pipes the sender's bytes to the receiver with 1 MiB
  reads. Buffering is bounded by the StreamReader limit and the write-buffer high-water mark, so
  TCP itself pushes back on the sender.
* ``send FILE``: reads 1 MiB blocks, hashes them and writes them; only file bytes cross the relay,
  and the SHA-256 is reported on stdout for the harness to compare.
* ``receive OUT``: reads, hashes and writes to OUT until end of stream.

Everything a VideoNet transfer must do at least once per byte is here (read, hash, three socket
hops, hash, write), and nothing else, which is what makes it a ceiling.

``relay --spool FILE`` and ``receive --durable OUT`` add what VideoNet's design asks of the disk
and nothing more: the relay keeps a copy of every byte in FILE, as the daemon's spool does, and
both writers drop what they wrote from the page cache in 8 MiB steps behind them
(``posix_fadvise(DONTNEED)``, which starts the writeback), as the daemon and the receiver do;
the durable receiver fsyncs its file before it reports, as VideoNet's receiver does before its
verdict. Nothing is encrypted and no HTTP is spoken: its time is the disk's floor under that
design on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import time
from pathlib import Path

from _common import BLOCK, LOOPBACK, emit, emit_result

ROLE_SENDER = b"S"
ROLE_RECEIVER = b"R"
# The reader pauses the socket past 2 x limit, the writer's drain() waits past the high mark:
# together they bound what the relay holds per transfer to a few MiB.
READER_LIMIT = BLOCK
WRITE_HIGH = 4 * BLOCK
# VideoNet's step (videonet_daemon.relay.spool and videonet_cli.transfer.files).
RELEASE_STEP_BYTES = 8 << 20


class ReleaseBehind:
    """Drops what was written from the page cache one step behind, as VideoNet's writers do:
    DONTNEED starts the writeback of dirty pages and drops the clean ones, so each range is
    advised twice, one step apart."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written = 0
        self._released = 0
        self._release_from = 0

    def write(self, block: bytes) -> None:
        view = memoryview(block)
        while view:
            view = view[os.write(self.fd, view) :]
        self.written += len(block)
        if self.written - self._released >= RELEASE_STEP_BYTES:
            os.posix_fadvise(
                self.fd,
                self._release_from,
                self.written - self._release_from,
                os.POSIX_FADV_DONTNEED,
            )
            self._release_from, self._released = self._released, self.written


async def relay(spool: Path | None = None) -> None:
    waiting: dict[bytes, asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {
        ROLE_SENDER: asyncio.get_running_loop().create_future(),
        ROLE_RECEIVER: asyncio.get_running_loop().create_future(),
    }
    relayed = 0

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        role = await reader.readexactly(1)
        if role not in waiting or waiting[role].done():
            writer.close()
            return
        writer.transport.set_write_buffer_limits(high=WRITE_HIGH)
        waiting[role].set_result((reader, writer))

    async def pipe() -> None:
        nonlocal relayed
        src, src_writer = await waiting[ROLE_SENDER]
        _, dst = await waiting[ROLE_RECEIVER]
        kept = None
        if spool is not None:
            kept = ReleaseBehind(os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        while block := await src.read(BLOCK):
            if kept is not None:
                kept.write(block)
            dst.write(block)
            relayed += len(block)
            await dst.drain()
        if kept is not None:
            os.close(kept.fd)
        dst.close()
        await dst.wait_closed()
        src_writer.close()

    server = await asyncio.start_server(accept, LOOPBACK, 0, limit=READER_LIMIT)
    emit(event="listening", port=server.sockets[0].getsockname()[1])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    piping = asyncio.create_task(pipe())
    await stop.wait()
    piping.cancel()
    emit_result(role="relay", bytes=relayed)
    server.close()


async def send(port: int, path: Path) -> None:
    reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=READER_LIMIT)
    writer.transport.set_write_buffer_limits(high=WRITE_HIGH)
    writer.write(ROLE_SENDER)
    started = time.perf_counter()
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as src:
        while block := src.read(BLOCK):
            digest.update(block)
            writer.write(block)
            size += len(block)
            await writer.drain()
    writer.write_eof()
    # The relay closes its side once the receiver has every byte; wait for it before exiting.
    await reader.read()
    seconds = time.perf_counter() - started
    writer.close()
    emit_result(role="sender", bytes=size, sha256=digest.hexdigest(), seconds=seconds)


async def receive(port: int, out: Path, durable: bool = False) -> None:
    reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=READER_LIMIT)
    writer.write(ROLE_RECEIVER)
    await writer.drain()
    emit(event="ready")
    digest = hashlib.sha256()
    size = 0
    started: float | None = None
    with out.open("wb") as sink:
        # Durable: written straight to the descriptor (nothing left in the file's buffer),
        # dropped behind in steps, then fsynced before the result.
        write = ReleaseBehind(sink.fileno()).write if durable else sink.write
        while block := await reader.read(BLOCK):
            if started is None:
                started = time.perf_counter()
            digest.update(block)
            write(block)
            size += len(block)
        if durable:
            os.fsync(sink.fileno())
    seconds = time.perf_counter() - (started or time.perf_counter())
    writer.close()
    emit_result(role="receiver", bytes=size, sha256=digest.hexdigest(), seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    roles = parser.add_subparsers(dest="role", required=True)
    relay_role = roles.add_parser("relay")
    relay_role.add_argument("--spool", type=Path, help="keep a copy of every byte in this file")
    sender = roles.add_parser("send")
    sender.add_argument("--port", type=int, required=True)
    sender.add_argument("file", type=Path)
    receiver = roles.add_parser("receive")
    receiver.add_argument("--port", type=int, required=True)
    receiver.add_argument("--durable", action="store_true", help="release behind, then fsync")
    receiver.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.role == "relay":
        asyncio.run(relay(args.spool))
    elif args.role == "send":
        asyncio.run(send(args.port, args.file))
    else:
        asyncio.run(receive(args.port, args.out, args.durable))


if __name__ == "__main__":
    main()
