"""Transfer bytes between daemons: a request that lands on a daemon without the transfer's spool
is streamed to or from the daemon that has it (never through Redis).

The user's own credentials go along, so the owning daemon checks membership as usual; a header
marks proxied requests so that two daemons can never bounce one between them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from videonet_daemon.errors import OwnerUnreachable

PROXIED_HEADER = "X-Videonet-Proxied"
READ_BYTES = 1 << 20
_FORWARDED_REQUEST = ("Authorization", "Cookie", "Range", "Content-Length", "Content-Type")
_FORWARDED_RESPONSE = ("Content-Type", "Content-Length", "Content-Range", "X-Transfer-Size")


def _headers(request: web.Request) -> dict[str, str]:
    headers = {k: v for k in _FORWARDED_REQUEST if (v := request.headers.get(k)) is not None}
    headers[PROXIED_HEADER] = "1"
    return headers


class Proxy:
    """Streams transfer requests to the daemon that owns the bytes; its HTTP session is opened
    and closed with the app (`start`, `close`)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # Streams to other daemons of the service: no total time limit, but a stalled one fails.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
        self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the proxy is used before the app started")
        return self._session

    async def forward_upload(self, request: web.Request, owner: str) -> web.StreamResponse:
        async def body() -> AsyncIterator[bytes]:
            async for chunk in request.content.iter_chunked(READ_BYTES):
                yield chunk

        try:
            async with self.session.put(
                owner + request.path_qs, data=body(), headers=_headers(request)
            ) as upstream:
                payload = await upstream.read()
                return web.Response(
                    status=upstream.status,
                    body=payload,
                    content_type=upstream.content_type,
                )
        except aiohttp.ClientConnectorError as exc:
            raise OwnerUnreachable() from exc

    async def forward_download(self, request: web.Request, owner: str) -> web.StreamResponse:
        try:
            upstream = await self.session.get(owner + request.path_qs, headers=_headers(request))
        except aiohttp.ClientConnectorError as exc:
            raise OwnerUnreachable() from exc
        try:
            if upstream.status >= 400:
                return web.Response(
                    status=upstream.status,
                    body=await upstream.read(),
                    content_type=upstream.content_type,
                )
            response = web.StreamResponse(status=upstream.status)
            for name in _FORWARDED_RESPONSE:
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            response.force_close()
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except aiohttp.ClientPayloadError:
                return response  # the owner's stream ended short: so does ours
            await response.write_eof()
            return response
        finally:
            upstream.release()
