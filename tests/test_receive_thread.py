"""The receiver's worker thread: its HTTP body reader (api/blocking.py) against a real socket
server that answers as each test says, the record loop's verdicts (transfer/e2e_stream.py), and
a cancelled task stopping and waiting for its thread (transfer/worker.py).

End to end, the same thread carries every receive of the transfer tests (Ctrl-C mid-receive:
test_transfer_ux; bodies cut, changed and lengthened by a lying daemon: test_transfer_e2e and
test_transfer_hostile; chunked bodies through a proxy: test_transfer_code; TLS: test_deploy).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from videonet_cli.api.blocking import BodyReader
from videonet_cli.api.http import unreachable_error
from videonet_cli.crypto.stream import RecordCipher, StreamEncryptor, StreamLayout
from videonet_cli.errors import DaemonRefused, TamperedError, TruncatedError
from videonet_cli.transfer.e2e_stream import Resume, open_records
from videonet_cli.transfer.throttle import PROGRESS_EVERY_SECONDS
from videonet_cli.transfer.worker import in_thread, reported_in_thread

RECORD = 1 << 20


class OneReply:
    """A server for one connection: it reads the request's head, sends ``reply``, then closes
    the connection, or holds it open until the test ends (``hold``)."""

    def __init__(self, reply: bytes, hold: bool = False) -> None:
        self.reply = reply
        self.hold = hold
        self.request = b""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn:
            while b"\r\n\r\n" not in self.request:
                data = conn.recv(4096)
                if not data:
                    return
                self.request += data
            conn.sendall(self.reply)
            if self.hold:
                self._done.wait(30)

    def close(self) -> None:
        self._done.set()
        self._thread.join(10)
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[list[OneReply]]:
    servers: list[OneReply] = []
    yield servers
    for server in servers:
        server.close()


def reply(status: str, body: bytes, length: int | None = None, extra: str = "") -> bytes:
    size = len(body) if length is None else length
    head = f"HTTP/1.1 {status}\r\nContent-Length: {size}\r\nConnection: close\r\n{extra}\r\n"
    return head.encode() + body


def opened(
    server: OneReply, path: str = "/data", token: str | None = "tok", start: int = 0
) -> BodyReader:
    body = BodyReader(server.url, path, token, start)
    body.open()
    return body


def test_the_request_says_the_token_the_range_and_the_language(
    serve: list[OneReply],
) -> None:
    server = OneReply(reply("206 Partial Content", b"abc"))
    serve.append(server)
    body = opened(server, "/api/transfers/t1/data", start=5)
    view = memoryview(bytearray(10))
    assert body.readinto(view) == 3 and bytes(view[:3]) == b"abc"
    assert not body.cut_short
    body.close()
    head = server.request.decode()
    assert head.startswith("GET /api/transfers/t1/data HTTP/1.1\r\n")
    assert "Authorization: Bearer tok\r\n" in head
    assert "Range: bytes=5-\r\n" in head
    assert "Accept-Language: " in head


def test_a_whole_body_sent_for_a_range_is_read_from_the_range(serve: list[OneReply]) -> None:
    # A server in between that ignores Range answers 200 with every byte.
    server = OneReply(reply("200 OK", b"0123456789"))
    serve.append(server)
    body = opened(server, start=4)
    view = memoryview(bytearray(10))
    assert body.readinto(view) == 6 and bytes(view[:6]) == b"456789"
    body.close()


def test_a_redirect_is_a_refusal_not_a_body(serve: list[OneReply]) -> None:
    server = OneReply(reply("302 Found", b"moved", extra="Location: https://elsewhere/\r\n"))
    serve.append(server)
    with pytest.raises(DaemonRefused) as caught:
        opened(server)
    assert str(caught.value) == "unexpected HTTP 302 from the daemon"


def test_a_body_that_ends_before_its_length_is_cut_short(serve: list[OneReply]) -> None:
    server = OneReply(reply("200 OK", b"x" * 40, length=100))
    serve.append(server)
    body = opened(server)
    view = memoryview(bytearray(100))
    assert body.readinto(view) == 40
    assert body.cut_short
    body.close()


def test_a_chunked_body_is_read_whole(serve: list[OneReply]) -> None:
    chunks = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    server = OneReply(head + chunks)
    serve.append(server)
    body = opened(server)
    view = memoryview(bytearray(64))
    assert body.readinto(view) == 11 and bytes(view[:11]) == b"hello world"
    assert not body.cut_short
    body.close()


def test_a_refusal_raises_the_daemons_own_error(serve: list[OneReply]) -> None:
    error = {"error": {"code": "not_a_member", "message": "you are not in this room"}}
    server = OneReply(reply("403 Forbidden", json.dumps(error).encode()))
    serve.append(server)
    with pytest.raises(DaemonRefused) as caught:
        opened(server)
    assert caught.value.code == "not_a_member"
    assert "you are not in this room" in str(caught.value)


def test_abort_from_another_thread_ends_a_read_that_waits(serve: list[OneReply]) -> None:
    server = OneReply(reply("200 OK", b"y" * 10, length=1000), hold=True)
    serve.append(server)
    body = opened(server)
    got: list[int] = []
    reader = threading.Thread(target=lambda: got.append(body.readinto(memoryview(bytearray(1000)))))
    reader.start()
    time.sleep(0.3)
    assert reader.is_alive()  # the daemon sends nothing more: the read waits
    body.abort()
    reader.join(5)
    assert not reader.is_alive() and got == [10]
    assert body.cut_short
    body.close()


def test_a_daemon_that_stops_sending_is_a_timeout(serve: list[OneReply]) -> None:
    server = OneReply(reply("200 OK", b"s" * 10, length=1000), hold=True)
    serve.append(server)
    body = BodyReader(server.url, "/data", None, stall=0.3)
    body.open()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        body.readinto(memoryview(bytearray(1000)))
    assert 0.25 < time.monotonic() - started < 10
    body.close()


def test_abort_before_open_makes_no_request(serve: list[OneReply]) -> None:
    server = OneReply(reply("200 OK", b"z"))
    serve.append(server)
    body = BodyReader(server.url, "/data", None)
    body.abort()
    with pytest.raises(ConnectionAbortedError):
        body.open()
    time.sleep(0.1)
    assert server.request == b""


def test_a_refused_connection_and_an_untrusted_certificate_are_worded() -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    body = BodyReader(url, "/data", None)
    with pytest.raises(ConnectionRefusedError) as refused:
        body.open()
    assert str(unreachable_error(url, refused.value)).startswith(
        f"cannot reach the daemon at {url} (Connection refused): start one with"
    )
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    untrusted.verify_message = "self-signed certificate"
    said = str(unreachable_error("https://example.test", untrusted))
    assert said == (
        "the daemon at https://example.test has a certificate this machine does not trust "
        "(self-signed certificate)"
    )


class Bytes:
    """A body over bytes in memory: the record loop's input, cut where a test says."""

    def __init__(self, data: bytes, cut: bool = False) -> None:
        self._data = memoryview(data)
        self.cut_short = cut

    def readinto(self, view: memoryview) -> int:
        n = min(len(view), len(self._data))
        view[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def sealed(plain: bytes) -> tuple[RecordCipher, bytes]:
    cipher = RecordCipher(os.urandom(32), "a" * 64)
    encryptor = StreamEncryptor(cipher, len(plain))
    records = encryptor.feed(plain) + encryptor.finish()
    return cipher, b"".join(records)


def run_records(
    cipher: RecordCipher, data: bytes, size: int, offset: int = 0, cut: bool = False
) -> bytes:
    layout = StreamLayout(size)
    resume = Resume.for_download(layout, offset)
    start = resume.cipher_offset
    out = bytearray()
    open_records(
        Bytes(data[start:], cut),
        cipher,
        layout,
        resume,
        offset - resume.plain_offset,
        out.extend,
        lambda: False,
    )
    return bytes(out)


PLAIN = os.urandom(2 * RECORD + 12345)


def test_the_records_open_into_the_plaintext_and_a_resume_skips_what_is_here() -> None:
    cipher, data = sealed(PLAIN)
    assert run_records(cipher, data, len(PLAIN)) == PLAIN
    assert run_records(cipher, data, len(PLAIN), offset=RECORD + 77) == PLAIN[RECORD + 77 :]


def test_a_byte_after_the_final_record_is_tampering() -> None:
    cipher, data = sealed(PLAIN)
    with pytest.raises(TamperedError):
        run_records(cipher, data + b"\x00", len(PLAIN))


def test_a_changed_byte_is_tampering_and_nothing_of_its_record_comes_out() -> None:
    cipher, data = sealed(PLAIN)
    changed = bytearray(data)
    changed[RECORD + 16 + 5] ^= 1  # inside the second record
    out = bytearray()
    layout = StreamLayout(len(PLAIN))
    with pytest.raises(TamperedError) as caught:
        open_records(
            Bytes(bytes(changed)), cipher, layout, Resume.for_download(layout, 0), 0,
            out.extend, lambda: False,
        )  # fmt: skip
    assert caught.value.index == 1
    assert bytes(out) == PLAIN[:RECORD]


def test_a_clean_end_before_the_final_record_is_truncation_a_cut_one_is_kept() -> None:
    cipher, data = sealed(PLAIN)
    short = data[: 2 * (RECORD + 16) + 100]
    with pytest.raises(TruncatedError):
        run_records(cipher, short, len(PLAIN))
    # A lost connection: the whole records stay for a resume, the partial one is dropped.
    assert run_records(cipher, short, len(PLAIN), cut=True) == PLAIN[: 2 * RECORD]


async def test_a_cancelled_task_stops_its_thread_and_waits_for_it() -> None:
    release = threading.Event()
    order: list[str] = []

    def work() -> None:
        release.wait(30)
        time.sleep(0.1)  # still busy after the abort: the cancellation must wait
        order.append("thread ended")

    def abort() -> None:
        order.append("aborted")
        release.set()

    task = asyncio.ensure_future(in_thread(work, abort))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    order.append("cancelled")
    assert order == ["aborted", "thread ended", "cancelled"]


async def test_a_second_cancellation_still_waits_for_the_thread() -> None:
    release = threading.Event()
    order: list[str] = []

    def work() -> None:
        release.wait(30)
        time.sleep(0.2)
        order.append("thread ended")
        raise ConnectionAbortedError("stopped")  # its error is not what the caller hears

    def abort() -> None:
        order.append("aborted")
        release.set()

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.ensure_future(in_thread(work, abort))
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.sleep(0.05)
    task.cancel()  # Ctrl-C again while the thread finishes
    ticking = asyncio.ensure_future(ticker())
    with pytest.raises(asyncio.CancelledError):
        await task
    order.append("cancelled")
    ticking.cancel()
    assert order == ["aborted", "thread ended", "cancelled"]
    assert ticks >= 5  # the event loop ran on while the thread finished (not blocked in a join)


async def test_the_threads_error_is_raised_in_the_task() -> None:
    def work() -> None:
        raise TamperedError(3)

    with pytest.raises(TamperedError):
        await in_thread(work, lambda: None)


async def test_a_reported_job_returns_its_result_and_reports_on_the_event_loop() -> None:
    # A resume's check: its progress reaches the loop's thread (the Throttle and the terminal
    # are the loop's), at most a few times a second, and its result comes back.
    heard: list[tuple[int, int]] = []

    def job(report: Any) -> str:
        for done in range(40):
            report(done)
            time.sleep(0.02)
        return "hashed"

    began = time.monotonic()
    result = await reported_in_thread(job, lambda done: heard.append((done, threading.get_ident())))
    took = time.monotonic() - began
    assert result == "hashed"
    assert heard and heard[0][0] == 0  # the first report is never held back
    assert {ident for _, ident in heard} == {threading.get_ident()}
    assert len(heard) <= took / PROGRESS_EVERY_SECONDS + 1 < 40  # not one per report


async def test_a_cancelled_reported_job_stops_at_its_next_report() -> None:
    order: list[str] = []

    def job(report: Any) -> None:
        try:
            while True:  # a check of a very large file: only Ctrl-C ends it early
                report(0)
                time.sleep(0.01)
        finally:
            order.append("thread ended")

    task = asyncio.ensure_future(reported_in_thread(job, lambda done: None))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    order.append("cancelled")
    assert order == ["thread ended", "cancelled"]
