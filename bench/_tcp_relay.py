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
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
from pathlib import Path

from _common import BLOCK, LOOPBACK, emit, emit_result, run_roles

ROLE_SENDER = b"S"
ROLE_RECEIVER = b"R"
# The reader pauses the socket past 2 x limit, the writer's drain() waits past the high mark:
# together they bound what the relay holds per transfer to a few MiB.
READER_LIMIT = BLOCK
WRITE_HIGH = 4 * BLOCK


async def relay() -> None:
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
        while block := await src.read(BLOCK):
            dst.write(block)
            relayed += len(block)
            await dst.drain()
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


async def receive(port: int, out: Path) -> None:
    reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=READER_LIMIT)
    writer.write(ROLE_RECEIVER)
    await writer.drain()
    emit(event="ready")
    digest = hashlib.sha256()
    size = 0
    started: float | None = None
    with out.open("wb") as sink:
        while block := await reader.read(BLOCK):
            if started is None:
                started = time.perf_counter()
            digest.update(block)
            sink.write(block)
            size += len(block)
    seconds = time.perf_counter() - (started or time.perf_counter())
    writer.close()
    emit_result(role="receiver", bytes=size, sha256=digest.hexdigest(), seconds=seconds)


def main() -> None:
    run_roles(__doc__ or "", "relay", relay, send, receive)


if __name__ == "__main__":
    main()
