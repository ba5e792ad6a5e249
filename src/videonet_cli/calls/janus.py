"""A small client of the Janus HTTP API: one session, its plugin handles, its events.

Why not PyPI's `janus-client` (0.9, MIT, aiortc-based; measured on this machine): 5,600 lines
with its own peer connections, websockets as a dependency, a keepalive fixed at 30 s, one token
for the session's whole life and integer room ids, where we need string ids, a token that is
refreshed every few minutes (the daemon's are short-lived) and our own `PeerLink` (recording,
stats) on each subscription. What we use of the API is four requests and one event loop:

- ``create`` a session, ``attach`` a handle to the VideoRoom plugin, send a ``message`` (with a
  JSEP offer or answer), ``destroy`` at the end;
- a long poll (``GET /janus/SESSION?maxev=N``) brings the plugins' answers and events: the
  answer to a handle's pending request goes to it (`Handle.request`), the rest to
  `Session.events`;
- a ``keepalive`` every `KEEPALIVE_SECONDS` (Janus ends a silent session after 60 s);
- every request carries the current token (`Session.token`: the caller replaces it when the
  daemon hands out a fresh one).

A Janus that stops answering (killed, restarted: the session is gone) sets `lost` with the
reason; the call ends with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

PLUGIN = "janus.plugin.videoroom"
KEEPALIVE_SECONDS = 20.0  # Janus's session_timeout is 60 s by default
REQUEST_TIMEOUT_SECONDS = 10.0
POLL_TIMEOUT_SECONDS = 40.0  # Janus answers an idle long poll after 30 s
POLL_FAILURES_MAX = 3  # consecutive failed polls before the media server counts as lost


class JanusRefused(Exception):
    """Janus (or the plugin) refused a request: ``code`` and ``reason`` as Janus gives them."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{reason} ({code})")
        self.code = code
        self.reason = reason


Answer = tuple[dict[str, Any], dict[str, Any] | None]  # the plugin's data, and its JSEP


class Handle:
    """One plugin handle. The answer to its asynchronous request comes back through `request`;
    every other event (a new publisher, one leaving, webrtcup, hangup) goes to the session's
    `events` queue with the handle."""

    def __init__(self, session: Session, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self._expect: str | None = None
        self._answer: asyncio.Future[Answer] | None = None

    async def message(
        self, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send a plugin request; a synchronous answer's data, or {} for an asynchronous one."""
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        answer = await self.session.post(f"/{self.session.id}/{self.id}", message)
        data: dict[str, Any] = answer.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise JanusRefused(int(data["error_code"]), str(data.get("error", "")))
        return data

    async def request(
        self,
        body: dict[str, Any],
        expect: str,
        jsep: dict[str, Any] | None = None,
        timeout: float = 20.0,
    ) -> Answer:
        """An asynchronous plugin request (join, publish, start): the event that answers it
        (whose data has the key ``expect``: joined, attached, configured, started), with its
        JSEP. An error event for this handle meanwhile raises `JanusRefused`."""
        loop = asyncio.get_running_loop()
        self._expect, self._answer = expect, loop.create_future()
        try:
            await self.message(body, jsep)
            return await asyncio.wait_for(self._answer, timeout)
        finally:
            self._expect, self._answer = None, None

    def deliver(self, event: dict[str, Any]) -> bool:
        """From the long poll: True if the event answered the pending request."""
        if self._answer is None or self._answer.done() or event.get("janus") != "event":
            return False
        data = event.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            error = JanusRefused(int(data["error_code"]), str(data.get("error", "")))
            self._answer.set_exception(error)
            return True
        if self._expect in data or data.get("videoroom") == self._expect:
            self._answer.set_result((data, event.get("jsep")))
            return True
        return False

    async def detach(self) -> None:
        with contextlib.suppress(Exception):
            await self.session.post(f"/{self.session.id}/{self.id}", {"janus": "detach"})
        self.session.handles.pop(self.id, None)


class Session:
    """One Janus session over HTTP, with its keepalive and its long poll."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.id = 0
        self.handles: dict[int, Handle] = {}
        # Events that were not the answer to a request (plugin notifications, webrtcup, hangup).
        self.events: asyncio.Queue[tuple[Handle, dict[str, Any]]] = asyncio.Queue()
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self._http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self._http is not None
        message = {**body, "transaction": secrets.token_hex(8), "token": self.token}
        try:
            async with self._http.post(
                self.url + path,
                json=message,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
            ) as response:
                answer: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # English on purpose: it becomes the call result's "detail" (--json); the screen
            # translates it (render.call_view.lost_words).
            reason = f"the media server at {self.url} does not answer: {exc}"
            raise JanusRefused(0, reason) from exc
        if answer.get("janus") == "error":
            error = answer.get("error", {})
            raise JanusRefused(int(error.get("code", 0)), str(error.get("reason", "")))
        return answer

    async def open(self) -> None:
        self._http = aiohttp.ClientSession()
        try:
            created = await self.post("", {"janus": "create"})
        except BaseException:
            await self._http.close()
            raise
        self.id = int(created["data"]["id"])
        self._tasks = [
            asyncio.create_task(self._keep_alive()),
            asyncio.create_task(self._poll()),
        ]

    async def attach(self) -> Handle:
        attached = await self.post(f"/{self.id}", {"janus": "attach", "plugin": PLUGIN})
        handle = Handle(self, int(attached["data"]["id"]))
        self.handles[handle.id] = handle
        return handle

    def _lose(self, reason: str) -> None:
        if not self.lost.is_set():
            self.lost_reason = reason
            self.lost.set()

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            try:
                await self.post(f"/{self.id}", {"janus": "keepalive"})
            except JanusRefused as exc:
                self._lose(exc.reason)
                return

    async def _poll(self) -> None:
        assert self._http is not None
        failures = 0
        while True:
            url = f"{self.url}/{self.id}"
            try:
                async with self._http.get(
                    url,
                    params={"maxev": "10", "token": self.token},
                    timeout=aiohttp.ClientTimeout(total=POLL_TIMEOUT_SECONDS),
                ) as response:
                    if response.status == 404:  # Janus restarted: our session is gone
                        self._lose(f"the media server at {self.url} lost our session (restarted?)")
                        return
                    if response.status != 200:
                        raise ValueError(f"HTTP {response.status}")
                    answer = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                failures += 1
                if failures >= POLL_FAILURES_MAX:
                    self._lose(f"the media server at {self.url} does not answer: {exc}")
                    return
                await asyncio.sleep(1.0)
                continue
            failures = 0
            events = answer if isinstance(answer, list) else [answer]
            for event in events:
                if not isinstance(event, dict):
                    continue
                kind = event.get("janus")
                if kind == "error":
                    error = event.get("error", {})
                    self._lose(f"the media server ended the session: {error.get('reason')}")
                    return
                if kind == "keepalive":
                    continue
                handle = self.handles.get(int(event.get("sender") or 0))
                if handle is not None and not handle.deliver(event):
                    self.events.put_nowait((handle, event))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            if self.id and not self.lost.is_set():
                with contextlib.suppress(JanusRefused):
                    await self.post(f"/{self.id}", {"janus": "destroy"})
            await self._http.close()
