"""A local OpenAI-compatible server for the tests and the benchmark: the only stand-in we use.

It serves ``POST /v1/chat/completions`` (plain JSON, ``json_schema`` response formats, streaming
as server-sent events), records every request, and can be told to answer slowly, with 429, with
500, with malformed JSON, with 401 for a wrong key or 404 for an unknown model. It runs on its own
event loop in a thread, so a test can run the real CLI as a blocking subprocess against it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEFAULT_FACTS: dict[str, Any] = {
    "has_person": True,
    "people_count": 2,
    "activity": "two people talking",
    "setting": "an office",
    "description": "Two people talk at a desk.",
}
PROMPT_TOKENS_PER_IMAGE = 85
TEXT_PROMPT_TOKENS = 50
COMPLETION_TOKENS = 30


@dataclass
class FakeOpenAI:
    """Controls and records. Set attributes from a test; they take effect on the next request."""

    api_key: str = "test-key"
    models: set[str] = field(default_factory=lambda: {"gpt-4o-mini", "gpt-4o", "llava"})
    delay_s: float = 0.0
    word_delay_s: float = 0.0  # between the streamed words of a chat answer
    # One-off behaviours consumed in order, one per request: "429", "500", "malformed",
    # "invalid" (JSON that breaks the schema) or "ok".
    script: deque[str] = field(default_factory=deque)
    # Used when the script is empty: "ok" or any of the above.
    default: str = "ok"
    frame_answers: list[dict[str, Any]] = field(default_factory=lambda: [dict(DEFAULT_FACTS)])
    chat_reply: str = "The video shows two people talking in an office."
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # time.perf_counter() of each request
    in_flight: int = 0
    max_in_flight: int = 0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _frame_counter: int = 0

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def chat_requests(self) -> list[dict[str, Any]]:
        """Requests that were chat turns (streamed), not frame analyses."""
        return [r for r in self.requests if r.get("stream")]

    def frame_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if not r.get("stream")]

    def _next_behaviour(self) -> str:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    def _next_facts(self) -> dict[str, Any]:
        with self._lock:
            facts = self.frame_answers[self._frame_counter % len(self.frame_answers)]
            self._frame_counter += 1
            return facts

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.perf_counter()
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            self.arrivals.append(arrived)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if body.get("model") not in self.models:
            return _error(
                404, f"The model `{body.get('model')}` does not exist.", "model_not_found"
            )
        behaviour = self._next_behaviour()
        if behaviour == "429":
            return _error(429, "Rate limit reached.", "rate_limit_exceeded", retry=True)
        if behaviour == "500":
            return _error(500, "The server had an error.", "server_error", retry=True)
        if body.get("stream"):
            return await self._stream(request, body)
        images = _count_images(body)
        fmt = (body.get("response_format") or {}).get("json_schema", {})
        if behaviour == "malformed":
            content = "There are probably two people here, I think."
        elif behaviour == "invalid":
            content = json.dumps({"has_person": "yes", "people_count": 2})
        elif fmt.get("name") == "video_frames":
            content = json.dumps({"frames": [self._next_facts() for _ in range(images)]})
        else:
            content = json.dumps(self._next_facts())
        prompt = TEXT_PROMPT_TOKENS + PROMPT_TOKENS_PER_IMAGE * images
        return web.json_response(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": COMPLETION_TOKENS,
                    "total_tokens": prompt + COMPLETION_TOKENS,
                },
            }
        )

    async def _stream(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = self.chat_reply.split(" ")
        base = {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
        }
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}}]}
            try:
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            except ConnectionResetError:
                return response  # the client cancelled the answer (Ctrl-C in the REPL)
            if self.word_delay_s:
                await asyncio.sleep(self.word_delay_s)
        done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await response.write(f"data: {json.dumps(done)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4
            usage = {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": len(words),
                    "total_tokens": prompt + len(words),
                },
            }
            await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _count_images(body: dict[str, Any]) -> int:
    count = 0
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            count += sum(1 for part in content if part.get("type") == "image_url")
    return count


def _error(status: int, message: str, code: str, retry: bool = False) -> web.Response:
    # retry-after-ms keeps the SDK's backoff short in tests; the SDK honours the header.
    headers = {"retry-after-ms": "20"} if retry else {}
    payload = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return web.json_response(payload, status=status, headers=headers)


class FakeServerThread:
    """Runs a :class:`FakeOpenAI` on 127.0.0.1, port 0, in a thread with its own loop."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> FakeOpenAI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self.fake

    async def _start(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.fake.handle)
        # As the real API does, a request whose client went away (a CLI interrupted while a
        # reply is delayed) ends then, instead of holding stop() until its delay is over.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.fake.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
