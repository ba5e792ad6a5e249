"""The seed's file transfer re-created as a reference: three roles, one per process.

* ``server``: a python-socketio AsyncServer on aiohttp that, like the seed's ``socketio_server.py``,
  relays ``file_transfer_start``, ``file_chunk`` and ``file_transfer_end`` to the sender's room,
  skipping the sender.
* ``send FILE``: hashes the whole file first (the seed digests the ArrayBuffer before sending), then
  sends 16 KiB chunks as base64 text, sleeping 10 ms after each, as the seed's browser client did.
* ``receive OUT``: decodes, writes and hashes each chunk, and compares with the sender's hash.

Each role prints JSON lines on stdout (see ``_common.emit``). Run by ``transfer.py``; by hand:
``python bench/_seed_protocol.py server`` and so on.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import signal
import time
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web

from _common import BLOCK, LOOPBACK, emit, emit_result, run_roles

ROOM = "bench-room"
# The seed's numbers (sections 4.1.3 and 5.1.2/5.1.3): the point of this module is to keep them.
SEED_CHUNK = 16 * 1024
SEED_SLEEP = 0.010


async def serve() -> None:
    sio = socketio.AsyncServer(async_mode="aiohttp", max_http_buffer_size=BLOCK)
    app = web.Application()
    sio.attach(app)
    user_rooms: dict[str, str] = {}

    @sio.event
    async def join_room(sid: str, data: dict[str, Any]) -> bool:
        room = str(data["roomId"])
        await sio.enter_room(sid, room)
        user_rooms[sid] = room
        return True

    @sio.event
    async def disconnect(sid: str, *_: Any) -> None:
        user_rooms.pop(sid, None)

    async def relay(event: str, sid: str, data: Any) -> None:
        room = user_rooms.get(sid)
        if room:
            await sio.emit(event, data, room=room, skip_sid=sid)

    @sio.event
    async def file_transfer_start(sid: str, data: Any) -> None:
        await relay("file_transfer_start", sid, data)

    @sio.event
    async def file_chunk(sid: str, data: Any) -> None:
        await relay("file_chunk", sid, data)

    @sio.event
    async def file_transfer_end(sid: str, data: Any) -> None:
        await relay("file_transfer_end", sid, data)

    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    port = runner.addresses[0][1]
    emit(event="listening", port=port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    emit_result(role="server")
    await runner.cleanup()


async def _connect(port: int) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    # The seed's browser upgrades to WebSocket at once; starting there keeps long-polling out.
    await client.connect(f"http://{LOOPBACK}:{port}", transports=["websocket"])
    joined = await client.call("join_room", {"roomId": ROOM}, timeout=10)
    if joined is not True:
        raise RuntimeError(f"join_room answered {joined!r}")
    return client


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as src:
        while block := src.read(BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


async def send(port: int, path: Path) -> None:
    client = await _connect(port)
    started = time.perf_counter()
    sha256, size = _hash_file(path)
    file_id = f"{int(time.time() * 1000)}-{path.name}"
    await client.emit(
        "file_transfer_start",
        {"fileId": file_id, "filename": path.name, "fileSize": size, "hash": sha256},
    )
    with path.open("rb") as src:
        index = 0
        while chunk := src.read(SEED_CHUNK):
            encoded = base64.b64encode(chunk).decode("ascii")
            await client.emit(
                "file_chunk", {"fileId": file_id, "chunk": encoded, "chunkIndex": index}
            )
            index += 1
            await asyncio.sleep(SEED_SLEEP)
    # An acknowledged call, so that every queued chunk has left before the disconnect.
    await client.call("file_transfer_end", {"fileId": file_id, "hash": sha256}, timeout=60)
    seconds = time.perf_counter() - started
    await client.disconnect()
    emit_result(role="sender", bytes=size, sha256=sha256, seconds=seconds)


async def receive(port: int, out: Path) -> None:
    client = await _connect(port)
    done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    state: dict[str, Any] = {"digest": hashlib.sha256(), "bytes": 0, "next": 0}
    sink = out.open("wb")

    @client.on("file_transfer_start")
    async def on_start(data: dict[str, Any]) -> None:
        state["expected"] = data["hash"]
        state["started"] = time.perf_counter()

    @client.on("file_chunk")
    async def on_chunk(data: dict[str, Any]) -> None:
        # The seed stored chunks by index; a relay that reordered them would be a bug to report.
        if data["chunkIndex"] != state["next"]:
            raise RuntimeError(f"chunk {data['chunkIndex']} arrived, {state['next']} expected")
        state["next"] += 1
        chunk = base64.b64decode(data["chunk"])
        state["digest"].update(chunk)
        sink.write(chunk)
        state["bytes"] += len(chunk)

    @client.on("file_transfer_end")
    async def on_end(data: dict[str, Any]) -> None:
        if not done.done():
            done.set_result(data)

    emit(event="ready")
    end = await done
    sink.close()
    sha256 = state["digest"].hexdigest()
    seconds = time.perf_counter() - state.get("started", time.perf_counter())
    await client.disconnect()
    emit_result(
        role="receiver",
        bytes=state["bytes"],
        sha256=sha256,
        seconds=seconds,
        match=sha256 == end["hash"] == state.get("expected"),
    )


def main() -> None:
    run_roles(__doc__ or "", "server", serve, send, receive)


if __name__ == "__main__":
    main()
